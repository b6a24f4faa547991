// Unit tests for the workspace's pure modules: routes, imaging, shortcuts, formatting and
// the review, upload, suitability and dashboard templates.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { dashboardTemplate } from "../../frontend/dashboard-templates.js";
import { dayWindow, formatRate, reviewStatusName } from "../../frontend/format.js";
import { clampPan, clampZoom, stepZoom, windowLevelTransfer } from "../../frontend/imaging.js";
import { reviewFormTemplate, reviewHistoryTemplate } from "../../frontend/review-templates.js";
import { parseRoute, recordHash } from "../../frontend/routes.js";
import { shortcutFor, shortcutHelp } from "../../frontend/shortcuts.js";
import {
  provenanceTemplate,
  recordRowTemplate,
  resultTemplate,
  suitabilityWarningTemplate,
  uploadQueueTemplate,
} from "../../frontend/templates.js";

const CLASSES = ["glioma", "meningioma", "no_tumor", "pituitary"];
const MARKUP = `<img src=x onerror=alert(1)>`;

function record(overrides = {}) {
  return {
    id: 7,
    label: "glioma",
    probabilities: { glioma: 0.9, meningioma: 0.05, no_tumor: 0.02, pituitary: 0.03 },
    model_version: "0.1.0",
    created_at: "2026-11-26T01:00:00Z",
    filename: "slice.jpg",
    media_type: "image/jpeg",
    image_sha256: "ab".repeat(32),
    width: 512,
    height: 512,
    review_status: "unreviewed",
    ...overrides,
  };
}

function key(keyName, extra = {}) {
  return { key: keyName, ctrlKey: false, metaKey: false, altKey: false, targetTag: "BODY", ...extra };
}

describe("routes", () => {
  test("a record address names the record, and survives being built then parsed", () => {
    assert.deepEqual(parseRoute("#/records/42"), { screen: "record", id: "42" });
    assert.deepEqual(parseRoute(recordHash(42)), { screen: "record", id: "42" });
  });

  test("the dashboard has its own address and anything else is the workspace", () => {
    assert.deepEqual(parseRoute("#/dashboard"), { screen: "dashboard" });
    assert.deepEqual(parseRoute(""), { screen: "workspace" });
    assert.deepEqual(parseRoute("#/records/abc"), { screen: "workspace" });
  });
});

describe("imaging", () => {
  test("the full window at mid level leaves the image as it is", () => {
    const { slope, intercept } = windowLevelTransfer(255, 127.5);
    assert.equal(slope, 1);
    assert.equal(intercept, 0);
  });

  test("a narrow window stretches its grey range over black to white", () => {
    // Window 50 at level 100: grey 75 maps to black, grey 125 to white.
    const { slope, intercept } = windowLevelTransfer(50, 100);
    assert.ok(Math.abs(slope * (75 / 255) + intercept) < 1e-5);
    assert.ok(Math.abs(slope * (125 / 255) + intercept - 1) < 1e-5);
  });

  test("a window of zero or garbage never divides by zero", () => {
    assert.ok(Number.isFinite(windowLevelTransfer(0, 10).slope));
    assert.ok(Number.isFinite(windowLevelTransfer("x", "y").intercept));
  });

  test("zoom stays between 1x and 8x and steps by a quarter", () => {
    assert.equal(clampZoom(0.2), 1);
    assert.equal(clampZoom(50), 8);
    assert.equal(clampZoom(Number.NaN), 1);
    assert.equal(stepZoom(1, 1), 1.25);
    assert.equal(stepZoom(1, -1), 1);
  });

  test("panning cannot move the zoomed image off its frame", () => {
    assert.deepEqual(clampPan({ x: 500, y: -500 }, 2, { width: 300, height: 300 }), {
      x: 150,
      y: -150,
    });
    assert.deepEqual(clampPan({ x: 40, y: 40 }, 1, { width: 300, height: 300 }), { x: 0, y: 0 });
  });
});

describe("shortcuts", () => {
  test("C confirms, R rejects, N opens the next unreviewed record", () => {
    assert.deepEqual(shortcutFor(key("c"), CLASSES), { action: "confirm" });
    assert.deepEqual(shortcutFor(key("R"), CLASSES), { action: "reject" });
    assert.deepEqual(shortcutFor(key("n"), CLASSES), { action: "next" });
  });

  test("1 to 4 correct to the model's classes in order; other numbers do nothing", () => {
    assert.deepEqual(shortcutFor(key("1"), CLASSES), { action: "correct", label: "glioma" });
    assert.deepEqual(shortcutFor(key("4"), CLASSES), { action: "correct", label: "pituitary" });
    assert.equal(shortcutFor(key("5"), CLASSES), null);
    assert.equal(shortcutFor(key("0"), CLASSES), null);
  });

  test("keys typed into the note, or with a modifier, are not shortcuts", () => {
    assert.equal(shortcutFor(key("c", { targetTag: "TEXTAREA" }), CLASSES), null);
    assert.equal(shortcutFor(key("c", { targetTag: "input" }), CLASSES), null);
    assert.equal(shortcutFor(key("c", { ctrlKey: true }), CLASSES), null);
  });

  test("the help names every shortcut", () => {
    assert.equal(shortcutHelp(CLASSES), "Keys: C confirm, 1–4 correct to a class, R reject, U undo, N next unreviewed.");
  });

  test("without a class to confirm, C does nothing and the help leaves it out", () => {
    assert.equal(shortcutFor(key("c"), CLASSES, { canConfirm: false }), null);
    assert.deepEqual(shortcutFor(key("r"), CLASSES, { canConfirm: false }), { action: "reject" });
    assert.deepEqual(shortcutFor(key("2"), CLASSES, { canConfirm: false }), { action: "correct", label: "meningioma" });
    assert.equal(shortcutHelp(CLASSES, { canConfirm: false }), "Keys: 1–4 correct to a class, R reject, U undo, N next unreviewed.");
  });

  test("five classes: 5 corrects to Other tumour", () => {
    assert.deepEqual(shortcutFor(key("5"), [...CLASSES, "other_tumour"]), { action: "correct", label: "other_tumour" });
  });
});

describe("formatting for the worklist and dashboard", () => {
  test("a chosen day becomes that whole UTC day as a half-open window", () => {
    assert.deepEqual(dayWindow("2026-11-26"), {
      created_from: "2026-11-26T00:00:00.000Z",
      created_to: "2026-11-27T00:00:00.000Z",
    });
    assert.equal(dayWindow(""), null);
    assert.equal(dayWindow("26/11/2026"), null);
  });

  test("rates are whole percentages and a missing rate is a dash", () => {
    assert.equal(formatRate(0.5), "50%");
    assert.equal(formatRate(null), "—");
  });

  test("review statuses have reader names", () => {
    assert.equal(reviewStatusName("corrected"), "Corrected");
    assert.equal(reviewStatusName("unreviewed"), "Unreviewed");
  });
});

describe("suitability and provenance", () => {
  test("an ok record, or one from before the flag existed, shows no warning", () => {
    assert.equal(suitabilityWarningTemplate(record({ suitability: "ok" })), "");
    assert.equal(suitabilityWarningTemplate(record()), "");
  });

  test("a low-confidence record keeps its class and warns, with the service's reason", () => {
    const html = resultTemplate(
      record({ suitability: "low_confidence", suitability_reason: "Top two classes within 5%." }),
    );
    assert.match(html, /data-testid="suitability-warning" data-suitability="low_confidence"/);
    assert.ok(html.includes("Top two classes within 5%."));
    assert.match(html, /data-testid="result-label"[^>]*>Glioma</);
  });

  test("a low-confidence record leads with Low confidence and shows no large coloured class or percentage", () => {
    const html = resultTemplate(
      record({ suitability: "low_confidence", finding: "tumour_suspected", tumour_probability: 0.964 }),
    );
    assert.match(html, /data-testid="result-low-confidence"[^>]*>Low confidence</);
    assert.doesNotMatch(html, /result-headline[^"]*(finding-|label-)/);
    assert.doesNotMatch(html, /class="result-label[^"]*label-glioma/);
    // The numbers wait in a closed disclosure, out of the answer's lines.
    const body = html.slice(html.indexOf('class="result-body"'));
    const visible = body.replace(/<details[\s\S]*<\/details>/, "");
    assert.doesNotMatch(visible, /%/);
  });

  test("a low-confidence row leads with the warning sign and a neutral pill", () => {
    const row = recordRowTemplate(
      record({ suitability: "low_confidence", finding: "tumour_suspected", tumour_probability: 0.9 }),
    );
    assert.match(row, /<td class="answer-cell"><span class="row-flag"[^>]*>⚠<\/span><span class="label-pill finding-pill finding-other"/);
  });

  test("an older out-of-distribution record that still carries the model's output shows none of it", () => {
    const html = resultTemplate(record({ suitability: "out_of_distribution" }));
    assert.match(html, /data-testid="result-not-assessable"[^>]*>Not assessable</);
    assert.ok(html.includes("Neither a tumour finding nor a class is given for this image."));
    assert.doesNotMatch(html, /Glioma|90\.0%|result-label|class="probabilities"|raw-output/);
    const row = recordRowTemplate(record({ suitability: "out_of_distribution" }));
    assert.ok(row.includes("Not assessable"));
    assert.ok(!row.includes("Glioma"));
    assert.ok(!row.includes("90.0%"));
  });

  test("a PACS record names its source, escaped, and offers FHIR and SR downloads", () => {
    const html = provenanceTemplate(record({ source_system: MARKUP }));
    assert.ok(html.includes("&lt;img src=x"));
    assert.ok(html.includes('data-export="fhir"'));
    assert.ok(html.includes('data-export="sr"'));
    assert.equal(provenanceTemplate(record()), "");
  });
});

describe("upload queue", () => {
  test("each file shows its state, its result or its own error, escaped", () => {
    const html = uploadQueueTemplate([
      { name: "a.jpg", state: "done", record: record({ id: 3, label: "pituitary" }) },
      { name: MARKUP, state: "failed", message: "Unsupported file type." },
      { name: "c.dcm", state: "uploading" },
      { name: "d.png", state: "queued" },
    ]);
    assert.ok(html.includes('href="#/records/3"'));
    assert.ok(html.includes("Pituitary · record #3"));
    assert.ok(html.includes("Unsupported file type."));
    assert.ok(html.includes("&lt;img src=x"));
    assert.ok(!html.includes("<img src=x"));
    assert.match(html, /data-state="uploading"><span class="queue-name">c\.dcm<\/span><span class="queue-outcome">Classifying…/);
    assert.ok(html.includes("Waiting"));
  });
});

describe("review panel", () => {
  test("the form offers confirm, reject, next, and a correction to every other class", () => {
    const html = reviewFormTemplate(record(), CLASSES);
    for (const action of ["confirm", "reject", "next"]) assert.ok(html.includes(`data-review="${action}"`));
    // The model's own class is never offered as a correction (data-same keeps it disabled);
    // every button waits, disabled, until the view has the record's image on screen.
    assert.match(html, /data-label="glioma" disabled data-same>/);
    assert.match(html, /data-label="pituitary" disabled><kbd>4<\/kbd> Pituitary/);
    assert.match(html, /data-testid="review-off"/);
    assert.doesNotMatch(html, /data-review="undo"/);
    assert.ok(html.includes('<label for="review-note"'));
  });

  test("an image not read for tumours can only be corrected or rejected, and the form says why", () => {
    const ood = record({ suitability: "out_of_distribution", label: null, probabilities: null });
    const html = reviewFormTemplate(ood, [...CLASSES, "other_tumour"]);
    assert.doesNotMatch(html, /data-review="confirm"/);
    assert.match(html, /data-testid="review-no-confirm"/);
    assert.match(html, /data-review="reject"/);
    // Every class is offered, none the model's own: the record has no class of its own.
    assert.equal(html.match(/data-review="correct"/g).length, 5);
    assert.doesNotMatch(html, /data-same/);
    assert.match(html, /<kbd>5<\/kbd> Other tumour/);
    assert.ok(html.includes("Keys: 1–5 correct to a class, R reject"));
    // An older out-of-distribution record that still has a label cannot be confirmed either.
    assert.doesNotMatch(reviewFormTemplate(record({ suitability: "out_of_distribution" }), CLASSES), /data-review="confirm"/);
  });

  test("after a review the form offers Undo, escaped", () => {
    const html = reviewFormTemplate(record(), CLASSES, { undo: { text: "reject <b>" } });
    assert.match(html, /data-review="undo" data-testid="review-undo"/);
    assert.ok(html.includes("reject &lt;b&gt;"));
  });

  test("a withdrawal reads as an undo in the history", () => {
    const html = reviewHistoryTemplate([{ action: "withdraw", reviewer_name: "dr", created_at: "2026-11-26T01:00:00Z" }]);
    assert.ok(html.includes("Withdrawn (undo): not reviewed"));
  });

  test("the history lists each review with its reviewer and escaped note", () => {
    const html = reviewHistoryTemplate(
      [
        { action: "confirm", label: null, note: null, reviewer_name: "Dr A", created_at: "2026-11-26T01:00:00Z" },
        { action: "correct", label: "meningioma", note: MARKUP, reviewer_name: "Dr B", created_at: "2026-11-26T02:00:00Z" },
      ],
      { timeZone: "UTC" },
    );
    assert.ok(html.includes("Confirmed</strong> by Dr A"));
    assert.ok(html.includes("Corrected to Meningioma</strong> by Dr B"));
    assert.ok(html.includes("&lt;img src=x"));
    assert.ok(reviewHistoryTemplate([]).includes("Not reviewed yet."));
  });
});

describe("dashboard", () => {
  const stats = {
    total: 5,
    by_label: { glioma: 3, meningioma: 0, no_tumor: 0, pituitary: 2 },
    agreement: [
      { label: "glioma", confirmed: 1, corrected: 1, rejected: 1, agreement_rate: 0.5 },
      { label: "no_tumor", confirmed: 0, corrected: 0, rejected: 0, agreement_rate: null },
    ],
    per_day: [{ date: "2026-11-24", count: 3 }],
  };

  test("each class count is shown with a bar scaled to the largest", () => {
    const html = dashboardTemplate(stats);
    assert.match(html, /data-testid="class-count" data-key="glioma" data-count="3"/);
    assert.match(html, /data-key="glioma"[\s\S]*?data-fraction="1"/);
    assert.match(html, /data-key="pituitary"[\s\S]*?data-fraction="0\.6666/);
    assert.ok(html.includes('data-testid="stats-total">5<'));
  });

  test("agreement reads as a percentage, or a dash before any review", () => {
    const html = dashboardTemplate(stats);
    assert.match(html, /data-label="glioma">[\s\S]*?data-testid="agreement-rate">50%</);
    assert.match(html, /data-label="no_tumor">[\s\S]*?data-testid="agreement-rate">—</);
  });

  test("an API without finding or modality counts shows no such sections", () => {
    const html = dashboardTemplate(stats);
    assert.doesNotMatch(html, /finding-count|modality-count|body-part-count|Records per finding/);
  });

  test("counts by finding come in reading order, with modality and body part beside them", () => {
    const html = dashboardTemplate({
      ...stats,
      by_finding: { no_tumour: 4, tumour_suspected: 2, indeterminate: 1 },
      by_modality: { MR: 7, DX: 2 },
      by_body_part: { BRAIN: 7, CHEST: 2 },
    });
    const keys = [...html.matchAll(/data-testid="finding-count" data-key="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(keys, ["tumour_suspected", "indeterminate", "no_tumour"]);
    assert.match(html, /data-key="tumour_suspected" data-count="2">\s*<span class="bar-name">Tumour suspected</);
    assert.match(html, /data-testid="modality-count" data-key="DX" data-count="2">\s*<span class="bar-name">DX \(X-ray\)</);
    assert.match(html, /data-testid="body-part-count" data-key="CHEST" data-count="2">\s*<span class="bar-name">Chest</);
    assert.ok(html.indexOf("Records per finding") < html.indexOf("Records per predicted class"));
  });

  test("a count key from the server is escaped, and an empty count says so", () => {
    const html = dashboardTemplate({ ...stats, by_modality: { [MARKUP]: 1 }, by_finding: {} });
    assert.ok(!html.includes("<img src=x"));
    assert.match(html, /Records per finding<\/h2>\s*<p class="muted">No records yet\.<\/p>/);
  });

  test("records per day are listed; with none the dashboard says so", () => {
    assert.match(dashboardTemplate(stats), /data-testid="day-count" data-key="2026-11-24" data-count="3"/);
    assert.ok(dashboardTemplate({ ...stats, per_day: [] }).includes("No records yet."));
  });
});

describe("upload progress", () => {
  test("a file still being sent shows a labelled progress bar and its percentage", () => {
    const html = uploadQueueTemplate([{ name: "big.dcm", state: "uploading", progress: 0.42 }]);
    assert.match(html, /<progress max="1" value="0\.42" aria-label="Uploading big\.dcm"><\/progress> 42%/);
  });

  test("once every byte is sent the line says the model is classifying", () => {
    const html = uploadQueueTemplate([{ name: "big.dcm", state: "uploading", progress: 1 }]);
    assert.ok(html.includes("Classifying…"));
    assert.ok(!html.includes("<progress"));
  });
});
