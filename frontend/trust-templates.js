// Pure HTML for the panels that let a reader check a result: the Grad-CAM heatmap with
// its plausibility verdict, and similar past cases. Every value goes through escapeHtml.
import { classDisplayName, formatPercent, formatSimilarity } from "./format.js";
import { DEFAULT_HEATMAP_OPACITY, escapeHtml, isAssessable, labelClass } from "./templates.js";

export { DEFAULT_HEATMAP_OPACITY };
export const SIMILAR_CASES = 5;

/** Both panels for an open record, waiting for their answers. */
export function recordPanelsTemplate(record) {
  return `${heatmapPanelTemplate(record)}
${similarPanelTemplate(record)}`;
}

// The overlay's switch lies beside the image (templates.js); this panel says what the map
// is and whether it is plausible. An image not read for tumours has no class to map.
function heatmapPanelTemplate(record) {
  const assessable = isAssessable(record);
  const body = assessable
    ? `<p class="muted">Checking the map…</p>`
    : `<p class="muted" data-testid="heatmap-not-made">No heatmap: this image was not read for tumours, so there is no class to map.</p>`;
  return `<section class="panel trust-panel" aria-labelledby="heatmap-heading" data-testid="heatmap-panel" data-record-id="${escapeHtml(record.id)}">
  <h2 id="heatmap-heading" class="panel-title">Heatmap</h2>
  <p class="muted trust-hint">Where the model looked for its class (Grad-CAM). Show it over the image with the Heatmap switch beside it, or press H.</p>
  <div class="explanation" data-testid="explanation" aria-live="polite">${body}</div>
</section>`;
}

function similarPanelTemplate(record) {
  const body = isAssessable(record)
    ? `<p class="muted">Searching the stored cases…</p>`
    : `<p class="muted" data-testid="similar-not-searched">Not searched: this image is not a brain-MRI slice the model was built for, so its neighbours would say nothing about it.</p>`;
  return `<section class="panel trust-panel" aria-labelledby="similar-heading" data-testid="similar-panel">
  <h2 id="similar-heading" class="panel-title">Similar past cases</h2>
  <div class="similar" data-testid="similar-cases" aria-live="polite">${body}</div>
</section>`;
}

/** The plausibility verdict of GET /records/{id}/explanation. */
export function explanationTemplate(explanation, record) {
  const implausible = Boolean(explanation.implausible);
  const verdict = implausible ? "Implausible map" : "Plausible map";
  const explains =
    isAssessable(record) && explanation.label
      ? `Map of the predicted class: ${classDisplayName(explanation.label)}.`
      : "Map of the model's output, which is not a finding for this image.";
  return `<p data-testid="explanation-mass">On the head: <strong>${escapeHtml(
    formatPercent(explanation.mass_inside_brain, 0),
  )}</strong> of the map's mass</p>
<p class="verdict ${implausible ? "is-implausible" : "is-plausible"}" data-testid="explanation-verdict" data-implausible="${implausible}"><strong>${verdict}.</strong> ${escapeHtml(
    explanation.reason,
  )}</p>
<p class="muted">${escapeHtml(explains)}</p>`;
}

/** A panel's own message (nothing found, or why it could not be loaded). */
export function panelMessageTemplate(message) {
  return `<p class="muted" data-testid="panel-message">${escapeHtml(message)}</p>`;
}

/** GET /records/{id}/similar's cases, most similar (reviewed preferred) first. */
export function similarCasesTemplate(answer) {
  const cases = answer?.data ?? [];
  if (cases.length === 0) {
    return panelMessageTemplate("No stored case with a final label resembles this one yet.");
  }
  return `<ol class="similar-list">
  ${cases.map(similarCaseTemplate).join("\n  ")}
</ol>
<div class="similar-preview" data-testid="similar-preview" hidden></div>`;
}

// Whose label it is: a radiologist's (confirmed or corrected), or the model's own guess.
function labelSourceTemplate(reviewed) {
  return reviewed
    ? `<span class="mark mark-reviewed" data-testid="mark-reviewed">Reviewed</span>`
    : `<span class="mark mark-guess" data-testid="mark-model-guess">Model guess</span>`;
}

function similarCaseTemplate({ record, similarity, near_duplicate: nearDuplicate, reviewed }) {
  const label = String(record.final_label ?? "");
  const safe = {
    id: escapeHtml(record.id),
    filename: escapeHtml(record.filename || "(unnamed upload)"),
    label: escapeHtml(label),
    labelName: escapeHtml(label ? classDisplayName(label) : "No final label"),
    similarity: escapeHtml(formatSimilarity(similarity)),
  };
  const duplicate = nearDuplicate
    ? `<span class="mark mark-duplicate" data-testid="mark-near-duplicate">Near-duplicate</span>`
    : "";
  // The whole case is one button: it opens a preview beside the list, not the record.
  return `<li class="similar-case" data-testid="similar-case" data-record-id="${safe.id}" data-final-label="${safe.label}" data-reviewed="${Boolean(
    reviewed,
  )}" data-near-duplicate="${Boolean(nearDuplicate)}">
    <button type="button" class="similar-open" data-similar-preview="${safe.id}" aria-expanded="false" title="Preview #${safe.id} · ${safe.filename}">
      <span class="similar-thumb" data-testid="similar-thumb" aria-hidden="true"></span>
      <span class="similar-text">
        <span class="similar-name">#${safe.id} · ${safe.filename}</span>
        <span class="similar-facts"><span class="label-pill ${labelClass(label)}">${safe.labelName}</span>
        ${labelSourceTemplate(reviewed)}
        <span class="similarity" data-testid="similarity">similarity ${safe.similarity}</span>${duplicate}</span>
      </span>
    </button>
  </li>`;
}

/**
 * The side preview of one similar case: its image larger, its label and whose it is, and a
 * link that opens the record itself (leaving the one on screen). imageSrc: a blob: URL or "".
 */
export function similarPreviewTemplate({ record, similarity, reviewed }, { imageSrc = "" } = {}) {
  const label = String(record.final_label ?? "");
  const safe = {
    id: escapeHtml(record.id),
    filename: escapeHtml(record.filename || "(unnamed upload)"),
    labelName: escapeHtml(label ? classDisplayName(label) : "No final label"),
    similarity: escapeHtml(formatSimilarity(similarity)),
    src: escapeHtml(imageSrc),
  };
  const image = imageSrc
    ? `<img class="similar-preview-img" src="${safe.src}" alt="Similar case #${safe.id}" data-testid="similar-preview-image">`
    : `<div class="image-placeholder similar-preview-img">Loading image…</div>`;
  return `<div class="similar-preview-card" data-testid="similar-preview-card" data-record-id="${safe.id}">
    <div class="similar-preview-head">
      <h3 class="panel-subtitle" id="similar-preview-title">Similar case #${safe.id}</h3>
      <button type="button" class="button small ghost" data-similar-close data-testid="similar-preview-close">Close</button>
    </div>
    ${image}
    <p><span class="label-pill ${labelClass(label)}">${safe.labelName}</span> ${labelSourceTemplate(reviewed)}
      <span class="similarity">similarity ${safe.similarity}</span></p>
    <p class="muted similar-preview-file">${safe.filename}</p>
    <a class="button small" href="#/records/${safe.id}" data-testid="similar-preview-open">Open record #${safe.id}</a>
  </div>`;
}
