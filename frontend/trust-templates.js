// Pure HTML for the panels that let a reader check a result: the Grad-CAM heatmap with
// its plausibility verdict, and similar past cases. Every value goes through escapeHtml.
import { classDisplayName, formatPercent, formatSimilarity } from "./format.js";
import { escapeHtml, isAssessable, labelClass } from "./templates.js";

// The API's default blend (ml/explain.py DEFAULT_OPACITY rounded to the slider's step).
export const DEFAULT_HEATMAP_OPACITY = 0.45;
export const SIMILAR_CASES = 5;

/** Both panels for an open record, waiting for their answers. */
export function recordPanelsTemplate(record, { opacity = DEFAULT_HEATMAP_OPACITY } = {}) {
  return `${heatmapPanelTemplate(record, opacity)}
${similarPanelTemplate(record)}`;
}

function heatmapPanelTemplate(record, opacity) {
  const percent = Math.round(opacity * 100);
  // An image not read for tumours has no class to map: no overlay is offered or asked for.
  const assessable = isAssessable(record);
  const disabled = assessable ? "" : " disabled";
  const body = assessable
    ? `<p class="muted">Checking the map…</p>`
    : `<p class="muted" data-testid="heatmap-not-made">No heatmap: this image was not read for tumours, so there is no class to map.</p>`;
  return `<section class="panel trust-panel" aria-labelledby="heatmap-heading" data-testid="heatmap-panel" data-record-id="${escapeHtml(record.id)}">
  <h2 id="heatmap-heading" class="panel-title">Heatmap</h2>
  <p class="muted trust-hint">Where the model looked for its class (Grad-CAM), over the image.</p>
  <div class="heatmap-controls">
    <button type="button" class="button small" data-heatmap="toggle" data-testid="heatmap-toggle" aria-pressed="false"${disabled}>Heatmap overlay</button>
    <label class="viewer-slider">Opacity
      <input type="range" min="0" max="100" step="5" value="${percent}" data-heatmap="opacity" data-testid="heatmap-opacity"${disabled}>
    </label>
    <output data-testid="heatmap-opacity-value">${percent}%</output>
  </div>
  <p class="heatmap-status muted" data-testid="heatmap-status" aria-live="polite"></p>
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
  return `<p data-testid="explanation-mass">Inside the brain: <strong>${escapeHtml(
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
</ol>`;
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
  const marks = [
    reviewed ? `<span class="mark mark-reviewed" data-testid="mark-reviewed">Reviewed</span>` : "",
    nearDuplicate
      ? `<span class="mark mark-duplicate" data-testid="mark-near-duplicate">Near-duplicate</span>`
      : "",
  ].join("");
  return `<li class="similar-case" data-testid="similar-case" data-record-id="${safe.id}" data-final-label="${safe.label}" data-reviewed="${Boolean(
    reviewed,
  )}" data-near-duplicate="${Boolean(nearDuplicate)}">
    <a class="similar-open" href="#/records/${safe.id}" title="${safe.filename}">#${safe.id} · ${safe.filename}</a>
    <span class="similar-facts"><span class="label-pill ${labelClass(label)}">${safe.labelName}</span>
    <span class="similarity" data-testid="similarity">similarity ${safe.similarity}</span>${marks}</span>
  </li>`;
}
