// Unit tests for the study view (slice order, series, the study-level result and the strip's
// HTML) and the record view's own keys (F for full screen, the slice arrows).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { shortcutFor, viewerShortcutFor } from "../../frontend/shortcuts.js";
import { leadingSlice, neighbourSlice, orderSlices, seriesOf } from "../../frontend/study.js";
import { studyMessageTemplate, studyStripTemplate } from "../../frontend/study-templates.js";
import { resultTemplate } from "../../frontend/templates.js";

const SERIES_A = "a".repeat(64);
const SERIES_B = "b".repeat(64);

function slice(id, fields = {}) {
  return {
    id,
    series_uid_hash: SERIES_A,
    study_uid_hash: "f".repeat(64),
    finding: "no_tumour",
    tumour_probability: 0.1,
    suitability: "ok",
    label: "no_tumor",
    probabilities: { no_tumor: 0.9, glioma: 0.1 },
    ...fields,
  };
}

const ids = (records) => records.map((record) => record.id);

describe("the slices of a study", () => {
  test("without instance numbers they keep the order they arrived in", () => {
    assert.deepEqual(ids(orderSlices([slice(7), slice(3), slice(9)])), [7, 3, 9]);
  });

  test("instance numbers order a series where records carry them; the rest follow", () => {
    const records = [
      slice(1, { instance_number: 3 }),
      slice(2),
      slice(3, { instance_number: 1 }),
      slice(4, { instance_number: 2 }),
    ];
    assert.deepEqual(ids(orderSlices(records)), [3, 4, 1, 2]);
  });

  test("series are grouped in the order their first slice arrived", () => {
    const records = [slice(1), slice(2, { series_uid_hash: SERIES_B }), slice(3), slice(4, { series_uid_hash: SERIES_B })];
    const series = seriesOf(records);
    assert.deepEqual(
      series.map((item) => [item.series, ids(item.slices)]),
      [
        [SERIES_A, [1, 3]],
        [SERIES_B, [2, 4]],
      ],
    );
    assert.deepEqual(ids(orderSlices(records)), [1, 3, 2, 4]);
  });

  test("the most suspicious slice leads: suspected by probability, then indeterminate, then none", () => {
    const records = [
      slice(1, { finding: "indeterminate", tumour_probability: 0.5 }),
      slice(2, { finding: "tumour_suspected", tumour_probability: 0.8 }),
      slice(3, { finding: "tumour_suspected", tumour_probability: 0.95 }),
      // Not read for tumours: its stored output is no answer, whatever it says.
      slice(4, { finding: "tumour_suspected", tumour_probability: 0.99, suitability: "out_of_distribution" }),
    ];
    assert.equal(leadingSlice(records).id, 3);
    assert.equal(leadingSlice(records.filter((record) => record.id !== 2 && record.id !== 3)).id, 1);
    assert.equal(leadingSlice([]), null);
  });

  test("the neighbour of a slice is the one before or after it, none past either end", () => {
    const ordered = [slice(5), slice(6), slice(7)];
    assert.equal(neighbourSlice(ordered, "6", 1).id, 7);
    assert.equal(neighbourSlice(ordered, 6, -1).id, 5);
    assert.equal(neighbourSlice(ordered, 7, 1), null);
    assert.equal(neighbourSlice(ordered, 5, -1), null);
    assert.equal(neighbourSlice(ordered, 99, 1), null);
  });
});

describe("the study strip's HTML", () => {
  test("each slice links to its record, numbered in order, the one on screen marked", () => {
    const html = studyStripTemplate({ records: [slice(11), slice(12), slice(13)], currentId: 12 });
    assert.match(html, /Study · 3 slices/);
    const links = [...html.matchAll(/<a class="study-slice[^"]*" href="#\/records\/(\d+)"[^>]*>/g)];
    assert.deepEqual(
      links.map((match) => match[1]),
      ["11", "12", "13"],
    );
    assert.equal((html.match(/aria-current="true"/g) ?? []).length, 1);
    assert.match(links[1][0], /aria-current="true"/);
    assert.match(html, /Slice 2 of 3, record #12: No tumour found, 10\.0% \(on screen\)/);
  });

  test("the study-level result names its most suspicious slice and links to it", () => {
    const records = [slice(1), slice(2, { finding: "tumour_suspected", tumour_probability: 0.9, label: "glioma" })];
    const html = studyStripTemplate({ records, currentId: 1 });
    assert.match(html, /data-testid="study-lead" data-record-id="2"/);
    assert.match(html, /<a href="#\/records\/2" data-testid="study-lead-open">/);
    assert.match(html, />#2 · 90%</);
    assert.match(html, /Most suspicious slice: record #2, Tumour suspected · Glioma, 90\.0%<\/span><\/a>/);
    // On screen already: said, not linked.
    const onScreen = studyStripTemplate({ records, currentId: 2 });
    assert.doesNotMatch(onScreen, /study-lead-open/);
    assert.match(onScreen, /Glioma, 90\.0% \(on screen\)/);
  });

  test("a study without any tumour finding names no slice as the most suspicious", () => {
    const refused = { finding: null, suitability: "out_of_distribution" };
    const html = studyStripTemplate({ records: [slice(1, refused), slice(2, refused)], currentId: 1 });
    assert.match(html, /<p class="study-lead muted" data-testid="study-lead">No slice has a tumour finding\.<\/p>/);
  });

  test("several series get a heading each; a cut list says how many it holds", () => {
    const records = [slice(1), slice(2, { series_uid_hash: SERIES_B })];
    const html = studyStripTemplate({ records, count: 600, currentId: 1 });
    assert.equal((html.match(/data-testid="study-series"/g) ?? []).length, 2);
    assert.match(html, /The first 2 of 600 slices\./);
    assert.doesNotMatch(studyStripTemplate({ records: [slice(1), slice(2)], currentId: 1 }), /study-series|study-cut/);
  });

  test("server values are escaped", () => {
    const html = studyStripTemplate({
      records: [slice('1"><img src=x onerror=alert(1)>'), slice(2, { finding: "<b>odd</b>" })],
      currentId: 2,
    });
    assert.doesNotMatch(html, /<img src=x/);
    assert.doesNotMatch(html, /<b>odd/);
    assert.match(studyMessageTemplate("<script>"), /&lt;script&gt;/);
  });
});

describe("the record view's keys", () => {
  const key = (name, extra = {}) => ({ key: name, targetTag: "BODY", ...extra });

  test("F switches full screen and the side arrows step through the study", () => {
    assert.deepEqual(viewerShortcutFor(key("f")), { action: "fullscreen" });
    assert.deepEqual(viewerShortcutFor(key("F")), { action: "fullscreen" });
    assert.deepEqual(viewerShortcutFor(key("ArrowLeft")), { action: "slice", step: -1 });
    assert.deepEqual(viewerShortcutFor(key("ArrowRight")), { action: "slice", step: 1 });
    // Up and down belong to the worklist; review keys are not viewer keys.
    assert.equal(viewerShortcutFor(key("ArrowDown")), null);
    assert.equal(viewerShortcutFor(key("c")), null);
  });

  test("nothing in a text field or with a modifier (Ctrl+F finds in the page)", () => {
    assert.equal(viewerShortcutFor(key("f", { targetTag: "TEXTAREA" })), null);
    assert.equal(viewerShortcutFor(key("f", { targetTag: "input" })), null);
    assert.equal(viewerShortcutFor(key("ArrowRight", { targetTag: "SELECT" })), null);
    assert.equal(viewerShortcutFor(key("f", { ctrlKey: true })), null);
    assert.equal(viewerShortcutFor(key("f", { metaKey: true })), null);
  });

  test("F is no review key", () => {
    assert.equal(shortcutFor(key("f"), ["glioma"]), null);
  });

  test("the viewer offers a full-screen switch with its key", () => {
    const html = resultTemplate(slice(4, { created_at: "2026-01-01T00:00:00Z" }), { imageSrc: "blob:x" });
    assert.match(
      html,
      /<button type="button" class="button small" data-viewer="fullscreen" data-testid="viewer-fullscreen" aria-pressed="false" aria-keyshortcuts="F"/,
    );
  });
});
