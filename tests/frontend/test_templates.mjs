// Unit tests for the SPA's pure modules: run with `node --test tests/frontend/test_templates.mjs`.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  classDisplayName,
  formatDateTime,
  formatDateTimeCompact,
  formatPercent,
  formatRange,
} from "../../frontend/format.js";
import {
  errorTemplate,
  escapeHtml,
  limitationTemplate,
  probabilityBarsTemplate,
  recordRowTemplate,
  recordRowsTemplate,
  resultTemplate,
} from "../../frontend/templates.js";

const MARKUP = `<img src=x onerror=alert(1)>`;

function record(overrides = {}) {
  return {
    id: 7,
    label: "glioma",
    probabilities: { glioma: 0.9123, meningioma: 0.05, no_tumor: 0.0077, pituitary: 0.03 },
    model_version: "0.1.0",
    created_at: "2026-11-26T01:00:00Z",
    filename: "slice.jpg",
    media_type: "image/jpeg",
    image_sha256: "9f2c5e1a4b7d3c8e0f6a2b9d4c1e7f3a5b8d0c2e4f6a8b1d3c5e7f9a0b2c4d6e",
    width: 512,
    height: 512,
    ...overrides,
  };
}

describe("escapeHtml", () => {
  test("escapes every character that can open markup or close an attribute", () => {
    assert.equal(escapeHtml(`<a href="x" title='y'>&\``), "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&#96;");
  });

  test("turns null and undefined into empty text and numbers into strings", () => {
    assert.equal(escapeHtml(null), "");
    assert.equal(escapeHtml(undefined), "");
    assert.equal(escapeHtml(42), "42");
  });
});

describe("templates escape text from users and the server", () => {
  test("a filename with markup appears only escaped in the result", () => {
    const html = resultTemplate(record({ filename: MARKUP }), { imageSrc: "http://api/records/7/image" });
    assert.ok(!html.includes("<img src=x"), html);
    assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;"));
  });

  test("a filename with markup appears only escaped in a records row", () => {
    const html = recordRowTemplate(record({ filename: `"><script>alert(1)</script>` }));
    assert.ok(!html.includes("<script>"));
    assert.ok(html.includes("&quot;&gt;&lt;script&gt;"));
  });

  test("an unknown label is escaped and gets no label-specific class", () => {
    const html = resultTemplate(record({ label: `x" onmouseover="alert(1)`, probabilities: {} }));
    assert.ok(!html.includes(`" onmouseover="`));
    assert.ok(html.includes("label-other"));
  });

  test("the error message is escaped", () => {
    assert.ok(errorTemplate(MARKUP).includes("&lt;img src=x onerror=alert(1)&gt;"));
  });

  test("a missing filename reads as an unnamed upload", () => {
    assert.ok(recordRowTemplate(record({ filename: null })).includes("(unnamed upload)"));
  });
});

describe("result and rows show what the reader needs", () => {
  test("the result shows the display name, probability, model version and test ids", () => {
    const html = resultTemplate(record(), { imageSrc: "http://api/records/7/image" });
    assert.match(html, /data-testid="result-label" data-label="glioma"[^>]*>Glioma<\/h3>/);
    assert.ok(html.includes("91.2%"));
    assert.ok(html.includes("v0.1.0"));
    assert.ok(html.includes('src="http://api/records/7/image"'));
  });

  test("a DICOM record shows the API's PNG rendering like any other image", () => {
    const html = resultTemplate(record({ media_type: "application/dicom" }), { imageSrc: "x" });
    assert.ok(html.includes('<img class="result-img" src="x"'));
  });

  test("probability bars carry a clamped fraction and mark the predicted class", () => {
    const html = probabilityBarsTemplate({ glioma: 1.2, pituitary: -0.1 }, "glioma");
    assert.ok(html.includes('data-fraction="1"'));
    assert.ok(html.includes('data-fraction="0"'));
    assert.match(html, /class="prob is-top label-glioma"/);
  });

  test("each records row has the test id, the record id and the predicted label", () => {
    const html = recordRowTemplate(record(), { selectedId: 7, timeZone: "UTC" });
    assert.match(html, /^<tr data-testid="record-row" data-record-id="7" data-review-status="unreviewed" class="is-selected"/);
    assert.ok(html.includes('href="#/records/7"'), "the filename links to the record's address");
    assert.ok(html.includes(">Glioma<"));
    assert.ok(html.includes("2026-11-26 01:00"));
  });

  test("an empty list says nothing matches and what to do", () => {
    assert.ok(recordRowsTemplate([]).includes("No records match. Change the filters"));
  });
});

describe("formatting", () => {
  test("percentages have one decimal and missing values read as a dash", () => {
    assert.equal(formatPercent(0.9234), "92.3%");
    assert.equal(formatPercent(0), "0.0%");
    assert.equal(formatPercent(1), "100.0%");
    assert.equal(formatPercent(undefined), "—");
    assert.equal(formatPercent("nope"), "—");
  });

  test("class labels get human names, unknown ones still read sensibly", () => {
    assert.equal(classDisplayName("no_tumor"), "No tumour");
    assert.equal(classDisplayName("pituitary"), "Pituitary");
    assert.equal(classDisplayName("new_class"), "New class");
    assert.equal(classDisplayName(""), "Unknown");
  });

  test("dates are formatted in the given time zone", () => {
    assert.equal(formatDateTime("2026-11-26T01:00:00Z", { timeZone: "UTC" }), "26 Nov 2026, 01:00");
    assert.equal(formatDateTimeCompact("2026-11-26T01:00:00Z", { timeZone: "Europe/Berlin" }), "2026-11-26 02:00");
  });

  test("a timestamp without an offset is read as UTC, not local time", () => {
    assert.equal(formatDateTimeCompact("2026-11-26T01:00:00", { timeZone: "UTC" }), "2026-11-26 01:00");
  });

  test("an unparseable date is shown as given rather than as 'Invalid Date'", () => {
    assert.equal(formatDateTime("yesterday", { timeZone: "UTC" }), "yesterday");
  });

  test("the pager range counts from one", () => {
    assert.equal(formatRange(0, 10, 57), "1–10 of 57");
    assert.equal(formatRange(50, 7, 57), "51–57 of 57");
    assert.equal(formatRange(0, 0, 0), "No records");
  });
});

describe("the model card's known limitations beside a result", () => {
  const card = {
    version: "0.7.0",
    known_limitations: [
      "Trained on axial slices: coronal and sagittal slices are read less well.",
      "Tumours under 5 mm are often missed.",
    ],
  };
  const noTumour = record({
    label: "no_tumor",
    probabilities: { glioma: 0.01, meningioma: 0.02, no_tumor: 0.95, pituitary: 0.01, other_tumour: 0.01 },
    finding: "no_tumour",
    tumour_probability: 0.04,
  });

  test("a no-tumour finding carries every limitation the card lists", () => {
    const html = limitationTemplate(noTumour, card);
    assert.ok(html.includes('data-testid="model-limitation"'), html);
    assert.ok(html.includes("Known limitations."), html);
    assert.equal(html.match(/data-testid="model-limitation-item"/g).length, 2);
    assert.ok(html.includes("Tumours under 5 mm are often missed."));
  });

  test("one limitation is named in the singular", () => {
    const html = limitationTemplate(noTumour, { known_limitations: ["Only axial slices."] });
    assert.ok(html.includes("Known limitation.</strong>"), html);
  });

  test("an older record's No tumour class counts as a no-tumour answer", () => {
    const older = record({ label: "no_tumor", probabilities: { no_tumor: 0.9, glioma: 0.1 } });
    assert.ok(limitationTemplate(older, card).includes("model-limitation"));
  });

  test("a tumour or indeterminate answer, an image not read for tumours, or a card without the list gets none", () => {
    assert.equal(limitationTemplate(record(), card), "");
    assert.equal(limitationTemplate({ ...noTumour, finding: "indeterminate" }, card), "");
    assert.equal(limitationTemplate({ ...noTumour, finding: "tumour_suspected" }, card), "");
    assert.equal(limitationTemplate({ ...noTumour, suitability: "out_of_distribution" }, card), "");
    assert.equal(limitationTemplate(noTumour, { version: "0.6.1", shortcut_probe: { tumours: 43 } }), "");
    assert.equal(limitationTemplate(noTumour, { known_limitations: [] }), "");
    assert.equal(limitationTemplate(noTumour, { known_limitations: "not a list" }), "");
    assert.equal(limitationTemplate(noTumour, undefined), "");
  });

  test("only text items are shown, and only escaped", () => {
    const html = limitationTemplate(noTumour, { known_limitations: [MARKUP, { text: "object" }, 3, " "] });
    assert.ok(!html.includes("<img src=x"), html);
    assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;"));
    assert.equal(html.match(/data-testid="model-limitation-item"/g).length, 1);
  });

  test("the result shows the note once the model's card is known", () => {
    assert.ok(resultTemplate(noTumour, { modelCard: card }).includes("Known limitations"));
    assert.ok(!resultTemplate(noTumour).includes("Known limitation"));
  });
});
