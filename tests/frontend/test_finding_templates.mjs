// Unit tests for the tumour-first answer, the fifth class and the image recogniser's reading
// in the result panel, the worklist and the upload list (issues #24 and #25).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  bodyPartDisplayName,
  classDisplayName,
  findingDisplayName,
  formatScore,
  kindDisplayName,
  modalityDisplayName,
} from "../../frontend/format.js";
import {
  answerText,
  hasClass,
  hasFinding,
  recogniserTemplate,
  recordRowTemplate,
  resultTemplate,
  uploadQueueTemplate,
} from "../../frontend/templates.js";

const MARKUP = `<img src=x onerror=alert(1)>`;

/** A record of the five-class model with the tumour-first answer. */
function record(overrides = {}) {
  return {
    id: 11,
    label: "glioma",
    probabilities: { glioma: 0.812, meningioma: 0.05, no_tumor: 0.03, pituitary: 0.02, other_tumour: 0.088 },
    finding: "tumour_suspected",
    tumour_probability: 0.968,
    modality: "MR",
    body_part: "BRAIN",
    kind: "brain_mri",
    kind_probability: 0.993,
    suitability: "ok",
    suitability_reason: null,
    model_version: "0.7.0",
    created_at: "2026-11-28T01:00:00Z",
    filename: "slice.png",
    media_type: "image/png",
    image_sha256: "cd".repeat(32),
    width: 256,
    height: 256,
    review_status: "unreviewed",
    ...overrides,
  };
}

/** What the API answers for an image that is not a brain MRI. */
function refused(overrides = {}) {
  return record({
    label: null,
    probabilities: null,
    finding: null,
    tumour_probability: null,
    final_label: null,
    modality: "DX",
    body_part: "CHEST",
    kind: "chest_xray",
    kind_probability: 0.981,
    suitability: "out_of_distribution",
    suitability_reason: "Not a brain MRI: it looks like a chest X-ray (0.98; brain MRI 0.01).",
    ...overrides,
  });
}

/** A record of a four-class model from before the finding and the recogniser. */
function older(overrides = {}) {
  return record({
    label: "pituitary",
    probabilities: { glioma: 0.1, meningioma: 0.05, no_tumor: 0.05, pituitary: 0.8 },
    finding: undefined,
    tumour_probability: undefined,
    modality: undefined,
    body_part: undefined,
    kind: undefined,
    kind_probability: undefined,
    suitability: undefined,
    model_version: "0.6.1",
    ...overrides,
  });
}

describe("names", () => {
  test("the fifth class is Other tumour", () => {
    assert.equal(classDisplayName("other_tumour"), "Other tumour");
  });

  test("findings, kinds, modalities and body parts read as words", () => {
    assert.equal(findingDisplayName("tumour_suspected"), "Tumour suspected");
    assert.equal(findingDisplayName("indeterminate"), "Indeterminate");
    assert.equal(findingDisplayName("no_tumour"), "No tumour found");
    assert.equal(findingDisplayName(null), "Not recorded");
    assert.equal(kindDisplayName("chest_xray"), "Chest X-ray");
    assert.equal(kindDisplayName("brain_mri"), "Brain MRI");
    assert.equal(kindDisplayName("mammogram"), "Mammogram");
    assert.equal(modalityDisplayName("DX"), "DX (X-ray)");
    assert.equal(modalityDisplayName("PT"), "PT");
    assert.equal(bodyPartDisplayName("CHEST"), "Chest");
  });

  test("the recogniser's probability has two decimals, clamped", () => {
    assert.equal(formatScore(0.981), "0.98");
    assert.equal(formatScore(1.2), "1.00");
    assert.equal(formatScore(null), "—");
  });
});

describe("the result leads with the finding", () => {
  test("finding and tumour probability come before the class and its probabilities", () => {
    const html = resultTemplate(record());
    assert.match(html, /data-testid="result-finding" data-finding="tumour_suspected"[^>]*>Tumour suspected<\/h3>/);
    assert.match(html, /data-testid="tumour-probability"><strong>96\.8%<\/strong> probability of a tumour/);
    assert.match(html, /data-testid="result-label" data-label="glioma">Glioma</);
    assert.ok(html.includes("81.2%"));
    const order = ["result-finding", "tumour-probability", "result-label", 'class="probabilities"'].map((m) =>
      html.indexOf(m),
    );
    assert.deepEqual([...order].sort((a, b) => a - b), order, `out of order: ${order}`);
  });

  test("the finding is the heading the reader lands on; the class is not a heading", () => {
    const html = resultTemplate(record());
    assert.match(html, /<h3 class="result-headline result-finding finding-tumour_suspected"/);
    assert.doesNotMatch(html, /<h3[^>]*data-testid="result-label"/);
  });

  test("indeterminate and no tumour are shown as such, with their own colour class", () => {
    const unsure = resultTemplate(record({ finding: "indeterminate", tumour_probability: 0.41 }));
    assert.match(unsure, /finding-indeterminate" data-testid="result-finding" data-finding="indeterminate"[^>]*>Indeterminate</);
    assert.ok(unsure.includes("41.0%"));
    const clear = resultTemplate(
      record({ finding: "no_tumour", tumour_probability: 0.02, label: "no_tumor" }),
    );
    assert.match(clear, />No tumour found<\/h3>/);
  });

  test("an Other tumour class is named and gets its own colour", () => {
    const html = resultTemplate(
      record({
        label: "other_tumour",
        probabilities: { glioma: 0.1, meningioma: 0.05, no_tumor: 0.02, pituitary: 0.03, other_tumour: 0.8 },
      }),
    );
    assert.match(html, /class="result-label result-class label-other_tumour" data-testid="result-label" data-label="other_tumour">Other tumour</);
    assert.match(html, /class="prob is-top label-other_tumour" data-label="other_tumour">\s*<span class="prob-name">Other tumour</);
  });

  test("an unknown finding from the server is escaped and gets no finding colour", () => {
    const html = resultTemplate(record({ finding: MARKUP }));
    assert.ok(!html.includes("<img src=x"));
    assert.ok(html.includes("finding-other"));
  });

  test("an older record without a finding leads with its class, as before, and says why", () => {
    const html = resultTemplate(older());
    assert.doesNotMatch(html, /result-finding|tumour-probability/);
    assert.match(html, /<h3 class="result-headline result-label label-pituitary" data-testid="result-label" data-label="pituitary"[^>]*>Pituitary<\/h3>/);
    assert.ok(html.includes("80.0%"));
    assert.equal(html.match(/class="prob[ "]/g).length, 4, "its four probabilities");
    assert.match(html, /data-testid="older-model-note">Classified by model v0\.6\.1 before the tumour-first answer: a class only, out of its 4 classes\./);
    assert.equal(hasFinding(older()), false);
    assert.equal(hasClass(older()), true);
  });
});

describe("an image that is not a brain MRI", () => {
  test("shows no class, no percentage and no finding, only the reason", () => {
    const html = resultTemplate(refused());
    assert.match(html, /data-testid="result-not-assessable"[^>]*>Not assessable</);
    assert.match(html, /data-testid="suitability-warning" data-suitability="out_of_distribution"/);
    assert.ok(html.includes("Not a brain MRI: it looks like a chest X-ray (0.98; brain MRI 0.01)."));
    assert.doesNotMatch(html, /result-label|result-finding|tumour-probability|class="probabilities"|%<\/strong>/);
    for (const name of ["Glioma", "Meningioma", "Pituitary", "Other tumour", "No tumour found", "Tumour suspected"]) {
      assert.ok(!html.includes(name), `${name} shown for a refused image`);
    }
  });

  test("the reason is escaped", () => {
    const html = resultTemplate(refused({ suitability_reason: MARKUP }));
    assert.ok(!html.includes("<img src=x"));
    assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;"));
  });

  test("the worklist row shows no class and no probability, and what the image was", () => {
    const row = recordRowTemplate(refused(), { timeZone: "UTC" });
    assert.match(row, /data-testid="row-answer"[^>]*>Not assessable</);
    assert.match(row, /data-testid="row-kind">Chest X-ray</);
    assert.match(row, /<td class="num">—<\/td>/);
    assert.doesNotMatch(row, /%|Glioma|label-glioma/);
  });

  test("the upload list and the status line name no class", () => {
    assert.equal(answerText(refused()), "Not assessable (Chest X-ray)");
    assert.equal(answerText(refused({ kind: null })), "Not assessable");
    const html = uploadQueueTemplate([{ name: "cxr.png", state: "done", record: refused({ id: 5 }) }]);
    assert.ok(html.includes("Not assessable (Chest X-ray) · record #5"), html);
    assert.equal(hasClass(refused()), false);
    assert.equal(hasFinding(refused()), false);
  });
});

describe("the recogniser's reading", () => {
  test("is shown on a brain MRI with its probability, and modality and body part in the details", () => {
    assert.equal(
      recogniserTemplate(record()),
      '<p class="recogniser" data-testid="recogniser" data-kind="brain_mri">Recognised as <strong data-testid="recogniser-reading">Brain MRI · 0.99</strong></p>',
    );
    const html = resultTemplate(record());
    assert.match(html, /data-testid="result-modality" data-modality="MR">MR</);
    assert.match(html, /data-testid="result-body-part" data-body-part="BRAIN">Brain</);
  });

  test("says a refused image was not read for tumours", () => {
    const html = recogniserTemplate(refused());
    assert.match(html, /Recognised as <strong data-testid="recogniser-reading">Chest X-ray · 0\.98<\/strong> — not read for tumours<\/p>/);
    const result = resultTemplate(refused());
    assert.match(result, /data-testid="result-modality" data-modality="DX">DX \(X-ray\)</);
    assert.match(result, /data-testid="result-body-part" data-body-part="CHEST">Chest</);
  });

  test("a record from before the recogniser says it has no reading", () => {
    const html = recogniserTemplate(older());
    assert.match(html, /data-kind="">No recogniser reading \(classified before the recogniser existed\)\.</);
    assert.doesNotMatch(resultTemplate(older()), /result-modality|result-body-part/);
  });

  test("an unknown kind is escaped", () => {
    const html = recogniserTemplate(record({ kind: MARKUP }));
    assert.ok(!html.includes("<img src=x"));
  });
});

describe("the worklist and upload list lead with the finding too", () => {
  test("a row shows the finding with the class under it and the tumour probability", () => {
    const row = recordRowTemplate(record(), { timeZone: "UTC" });
    assert.match(row, /class="label-pill finding-pill finding-tumour_suspected" data-testid="row-answer" data-finding="tumour_suspected">Tumour suspected</);
    assert.match(row, /data-testid="row-class">Glioma</);
    assert.match(row, /title="Probability of a tumour">96\.8%</);
    assert.ok(!row.includes("81.2%"));
  });

  test("a no-tumour finding is not repeated by its class", () => {
    const row = recordRowTemplate(record({ finding: "no_tumour", label: "no_tumor", tumour_probability: 0.03 }));
    assert.match(row, />No tumour found</);
    assert.doesNotMatch(row, /row-class/);
    assert.equal(answerText(record({ finding: "no_tumour", label: "no_tumor" })), "No tumour found");
  });

  test("an older record's row shows its class and the class's probability", () => {
    const row = recordRowTemplate(older());
    assert.match(row, /class="label-pill label-pituitary" data-testid="row-answer">Pituitary</);
    assert.match(row, /title="Probability of the class">80\.0%</);
    assert.equal(answerText(older()), "Pituitary");
  });

  test("the upload list gives the finding and the class", () => {
    assert.equal(answerText(record()), "Tumour suspected · Glioma");
    const html = uploadQueueTemplate([{ name: "a.png", state: "done", record: record({ id: 3 }) }]);
    assert.ok(html.includes("Tumour suspected · Glioma · record #3"));
  });
});
