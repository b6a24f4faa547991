// Unit tests for the heatmap and similar-cases panels' templates and the similarity format.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { formatSimilarity } from "../../frontend/format.js";
import { resultTemplate } from "../../frontend/templates.js";
import {
  DEFAULT_HEATMAP_OPACITY,
  explanationTemplate,
  recordPanelsTemplate,
  similarCasesTemplate,
  similarPreviewTemplate,
} from "../../frontend/trust-templates.js";

const MARKUP = `<img src=x onerror=alert(1)>`;

function record(overrides = {}) {
  return { id: 7, label: "glioma", filename: "slice.jpg", final_label: "glioma", ...overrides };
}

function similarCase(overrides = {}) {
  return { record: record({ id: 12 }), similarity: 0.912, near_duplicate: false, reviewed: false, ...overrides };
}

describe("the record panels", () => {
  test("start with the overlay off at the API's default opacity, its switch beside the image", () => {
    const html = resultTemplate(record());
    const viewer = html.slice(html.indexOf('class="viewer"'), html.indexOf("</figure>"));
    assert.match(viewer, /data-heatmap="toggle"[^>]*aria-pressed="false"[^>]*aria-keyshortcuts="H"/);
    assert.match(viewer, new RegExp(`value="${Math.round(DEFAULT_HEATMAP_OPACITY * 100)}"`));
    assert.match(viewer, /data-testid="heatmap-scale" hidden/);
    assert.doesNotMatch(recordPanelsTemplate(record()), /data-heatmap="toggle"/);
    assert.match(recordPanelsTemplate(record()), /Searching the stored cases/);
  });

  test("do not search similar cases for an out-of-distribution record, and say why", () => {
    const html = recordPanelsTemplate(record({ suitability: "out_of_distribution" }));
    assert.match(html, /data-testid="similar-not-searched"/);
    assert.doesNotMatch(html, /Searching the stored cases/);
  });

  test("offer no heatmap for an out-of-distribution record, and say why", () => {
    const refused = record({ suitability: "out_of_distribution", label: null });
    const html = resultTemplate(refused);
    assert.match(html, /data-testid="heatmap-toggle" aria-pressed="false" aria-keyshortcuts="H" disabled>/);
    assert.match(html, /data-testid="heatmap-opacity" disabled>/);
    assert.match(recordPanelsTemplate(refused), /data-testid="heatmap-not-made">No heatmap: this image was not read for tumours/);
    assert.doesNotMatch(recordPanelsTemplate(refused), /Checking the map/);
    assert.doesNotMatch(resultTemplate(record()), /data-heatmap="[a-z]+"[^>]*disabled/);
  });
});

describe("the explanation verdict", () => {
  const explanation = { label: "glioma", mass_inside_brain: 0.834, implausible: false, reason: "Mostly on the brain." };

  test("gives the share of the map inside the brain and calls it plausible", () => {
    const html = explanationTemplate(explanation, record());
    assert.match(html, /On the head: <strong>83%<\/strong> of the map's mass/);
    assert.match(html, /data-implausible="false"/);
    assert.match(html, /Plausible map\./);
    assert.match(html, /predicted class: Glioma/);
  });

  test("flags an implausible map with the service's reason, escaped", () => {
    const html = explanationTemplate({ ...explanation, implausible: true, reason: MARKUP }, record());
    assert.match(html, /class="verdict is-implausible"/);
    assert.match(html, /Implausible map\./);
    assert.ok(!html.includes(MARKUP));
    assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;"));
  });

  test("does not name a class as a finding for an out-of-distribution record", () => {
    const html = explanationTemplate(explanation, record({ suitability: "out_of_distribution" }));
    assert.doesNotMatch(html, /Glioma/);
    assert.match(html, /not a finding/);
  });
});

describe("similar cases", () => {
  test("show each case with a thumbnail, its final label and similarity, opening a preview", () => {
    const html = similarCasesTemplate({
      data: [similarCase({ record: record({ id: 12, final_label: "pituitary", label: "glioma" }) })],
    });
    assert.match(html, /<button type="button" class="similar-open" data-similar-preview="12" aria-expanded="false"/);
    assert.match(html, /data-testid="similar-thumb"/);
    assert.doesNotMatch(html, /href="#\/records\/12"/); // opening a case does not leave the record
    assert.match(html, /data-final-label="pituitary"/);
    assert.match(html, />Pituitary</);
    assert.match(html, /similarity 0\.91/);
    assert.match(html, /data-testid="mark-model-guess">Model guess</);
    assert.doesNotMatch(html, /mark-reviewed|mark-near-duplicate/);
  });

  test("the preview shows the case larger, whose label it is, and a link to open it", () => {
    const item = similarCase({ reviewed: true, record: record({ id: 12, filename: MARKUP, final_label: "meningioma" }) });
    const html = similarPreviewTemplate(item, { imageSrc: "blob:http://x/1" });
    assert.match(html, /data-testid="similar-preview-image"/);
    assert.match(html, /src="blob:http:\/\/x\/1"/);
    assert.match(html, />Meningioma</);
    assert.match(html, /data-testid="mark-reviewed">Reviewed</);
    assert.match(html, /href="#\/records\/12" data-testid="similar-preview-open"/);
    assert.ok(!html.includes(MARKUP));
    assert.match(similarPreviewTemplate(similarCase()), /Loading image/);
    assert.match(similarPreviewTemplate(similarCase()), /Model guess/);
  });

  test("a case without a final label says so instead of naming a class", () => {
    const html = similarCasesTemplate({ data: [similarCase({ record: record({ id: 13, final_label: null }) })] });
    assert.match(html, /data-final-label=""/);
    assert.match(html, />No final label</);
    assert.doesNotMatch(html, /Unknown/);
  });

  test("mark reviewed cases and near-duplicates", () => {
    const html = similarCasesTemplate({ data: [similarCase({ reviewed: true, near_duplicate: true })] });
    assert.match(html, /data-reviewed="true" data-near-duplicate="true"/);
    assert.match(html, />Reviewed</);
    assert.match(html, />Near-duplicate</);
  });

  test("escape filenames and labels from the server", () => {
    const html = similarCasesTemplate({
      data: [similarCase({ record: record({ filename: MARKUP, final_label: `"><script>` }) })],
    });
    assert.ok(!html.includes(MARKUP));
    assert.ok(!html.includes("<script>"));
    assert.match(html, /label-other/);
  });

  test("say so when nothing similar is stored", () => {
    assert.match(similarCasesTemplate({ data: [] }), /No stored case with a final label/);
  });
});

describe("formatSimilarity", () => {
  test("rounds to two decimals and keeps negative cosines", () => {
    assert.equal(formatSimilarity(0.98765), "0.99");
    assert.equal(formatSimilarity(-0.25), "-0.25");
  });

  test("reads missing values as a dash, not a number", () => {
    assert.equal(formatSimilarity(null), "—");
    assert.equal(formatSimilarity(undefined), "—");
    assert.equal(formatSimilarity("abc"), "—");
  });
});
