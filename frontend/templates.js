// Pure functions that return HTML strings. Nothing here touches the DOM or the network,
// so it can be unit-tested in Node. Every interpolated value goes through escapeHtml:
// filenames and labels come from users and the server, and must render as text.
import {
  clampFraction,
  classDisplayName,
  formatDateTime,
  formatDateTimeCompact,
  formatPercent,
  reviewStatusName,
} from "./format.js";
import { DEFAULT_LEVEL, DEFAULT_WINDOW } from "./imaging.js";

const HTML_ESCAPES = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

/** Escape a value for HTML text and quoted attribute contexts. null/undefined -> "". */
export function escapeHtml(value) {
  return String(value ?? "").replace(/[&<>"'`]/g, (char) => HTML_ESCAPES[char]);
}

const KNOWN_LABELS = new Set(["glioma", "meningioma", "no_tumor", "pituitary"]);

// A CSS class per known label gives each class a consistent colour; anything else
// gets a neutral one, so a label from the server can never inject a class name.
export function labelClass(label) {
  return KNOWN_LABELS.has(label) ? `label-${label}` : "label-other";
}

function timeTemplate(iso, { timeZone, compact = false } = {}) {
  const format = compact ? formatDateTimeCompact : formatDateTime;
  return `<time datetime="${escapeHtml(iso)}" title="${escapeHtml(iso)}">${escapeHtml(
    format(iso, { timeZone }),
  )}</time>`;
}

/** The "nothing selected yet" state of the result panel. */
export function emptyResultTemplate() {
  return `<div class="result-empty">
  <p class="result-empty-title">No study selected</p>
  <p>Upload an MRI slice, or open a record from the list.</p>
</div>`;
}

/** Shown while an upload is being classified; previewUrl is a local blob: URL or "". */
export function pendingTemplate({ filename, previewUrl = "" }) {
  const preview = previewUrl
    ? `<img class="result-img" src="${escapeHtml(previewUrl)}" alt="">`
    : `<div class="image-placeholder">No preview</div>`;
  return `<div class="result-card is-pending">
  <figure class="result-figure">${preview}</figure>
  <div class="result-body">
    <p class="eyebrow">Classifying</p>
    <p class="pending-line"><span class="spinner" aria-hidden="true"></span>
      <span class="pending-name">${escapeHtml(filename)}</span></p>
  </div>
</div>`;
}

/** One bar per class, in the order the API lists them; the predicted class is marked. */
export function probabilityBarsTemplate(probabilities, predictedLabel) {
  const entries = Object.entries(probabilities ?? {});
  if (entries.length === 0) return `<p class="muted">No probabilities returned.</p>`;
  const items = entries
    .map(([label, fraction]) => {
      const top = label === predictedLabel ? " is-top" : "";
      return `<li class="prob${top} ${labelClass(label)}" data-label="${escapeHtml(label)}">
      <span class="prob-name">${escapeHtml(classDisplayName(label))}</span>
      <span class="prob-track" aria-hidden="true"><span class="prob-fill" data-fraction="${clampFraction(
        fraction,
      )}"></span></span>
      <span class="prob-value">${escapeHtml(formatPercent(fraction))}</span>
    </li>`;
    })
    .join("\n    ");
  return `<ul class="probabilities" aria-label="Class probabilities">
    ${items}
  </ul>`;
}

function imageTemplate(record, imageSrc, filename) {
  if (!imageSrc) return `<div class="image-placeholder">No image</div>`;
  const alt = `MRI slice ${filename} (record ${record.id})`;
  return `<img class="result-img" src="${escapeHtml(imageSrc)}" alt="${escapeHtml(alt)}" draggable="false">`;
}

/** The image with its zoom, pan and window/level controls (view.js's ImageViewer drives them). */
function viewerTemplate(record, imageSrc, filename) {
  return `<div class="viewer" data-testid="viewer">
    <div class="viewer-frame" data-testid="viewer-frame" title="Drag to pan, wheel to zoom">
      ${imageTemplate(record, imageSrc, filename)}
    </div>
    <div class="viewer-controls" role="group" aria-label="Image display">
      <button type="button" class="button small" data-viewer="zoom-out" aria-label="Zoom out">−</button>
      <output class="viewer-zoom" data-testid="viewer-zoom" aria-label="Zoom">100%</output>
      <button type="button" class="button small" data-viewer="zoom-in" aria-label="Zoom in">+</button>
      <button type="button" class="button small ghost" data-viewer="reset">Reset</button>
      <label class="viewer-slider">Window
        <input type="range" min="1" max="255" step="1" value="${DEFAULT_WINDOW}" data-viewer="window" data-testid="viewer-window">
      </label>
      <label class="viewer-slider">Level
        <input type="range" min="0" max="255" step="1" value="${DEFAULT_LEVEL}" data-viewer="level" data-testid="viewer-level">
      </label>
    </div>
  </div>`;
}

function shortHash(sha) {
  const text = String(sha ?? "");
  return text.length > 16 ? `${text.slice(0, 12)}…` : text || "—";
}

// The API stores no name when the client sent none.
const UNNAMED = "(unnamed upload)";

const SUITABILITY_WARNINGS = {
  low_confidence:
    "Low confidence: the model is unsure about this image. Read it yourself before relying on the class.",
  out_of_distribution:
    "Not assessable: this image does not look like the brain MRI the model was trained on. The model's output is not a finding.",
};

/** Is the record's label something to show as the model's class (not out of distribution)? */
export function isAssessable(record) {
  return record.suitability !== "out_of_distribution";
}

/** The service's suitability flag, when it says anything but "ok"; "" otherwise. */
export function suitabilityWarningTemplate(record) {
  const warning = SUITABILITY_WARNINGS[record.suitability];
  if (!warning) return "";
  const reason = record.suitability_reason ? ` ${record.suitability_reason}` : "";
  return `<p class="suitability-warning" role="note" data-testid="suitability-warning" data-suitability="${escapeHtml(
    record.suitability,
  )}">${escapeHtml(warning + reason)}</p>`;
}

/**
 * What the model's card says a "No tumour" answer can miss (its `shortcut_probe`), beside
 * such an answer; "" for any other answer or a card that says nothing of it.
 */
export function limitationTemplate(record, card) {
  const probe = card?.shortcut_probe;
  if (!probe || !isAssessable(record) || record.label !== "no_tumor") return "";
  const text =
    "Nearly every tumour this model learnt from was a contrast-enhanced T1 slice from one " +
    `source. Trained without tumours that look otherwise, its recipe called ${probe.tumours_called_no_tumor} ` +
    `of ${probe.tumours} of them "No tumour". On T2, FLAIR or another scanner's images, a ` +
    "tumour may be missed: read the image, not only this answer.";
  return `<p class="limitation" role="note" data-testid="model-limitation"><strong>Known limitation.</strong> ${escapeHtml(text)}</p>`;
}

/** Where a PACS record came from, with its FHIR and DICOM SR exports; "" for an upload. */
export function provenanceTemplate(record) {
  if (!record.source_system) return "";
  return `<div class="provenance" data-testid="provenance">
      <p>From <strong data-testid="source-system">${escapeHtml(record.source_system)}</strong></p>
      <div class="provenance-actions">
        <button type="button" class="button small" data-export="fhir">Download FHIR report</button>
        <button type="button" class="button small" data-export="sr">Download DICOM SR</button>
      </div>
    </div>`;
}

function headlineTemplate(record, label, safe) {
  if (!isAssessable(record)) {
    return `<p class="eyebrow">Model output</p>
    <h3 class="result-label label-other" data-testid="result-label" data-label="${safe.label}" data-assessable="false" tabindex="-1">Not assessable</h3>
    <p class="result-confidence">The model's class scores are not a finding for this image.</p>`;
  }
  return `<p class="eyebrow">Predicted class</p>
    <h3 class="result-label ${labelClass(label)}" data-testid="result-label" data-label="${safe.label}" tabindex="-1">${safe.labelName}</h3>
    <p class="result-confidence"><strong>${safe.confidence}</strong> model probability</p>`;
}

// Out of distribution, the scores stay available to a reviewer who asks, but closed: an
// open bar chart headed by a class would read as a diagnosis.
function scoresTemplate(record, label, safe) {
  const bars = probabilityBarsTemplate(record.probabilities, label);
  if (isAssessable(record)) return bars;
  return `<details class="raw-output" data-testid="raw-output">
      <summary>Model output (not a finding): ${safe.labelName}, ${safe.confidence}</summary>
      ${bars}
    </details>`;
}

/**
 * The classification result for one record. imageSrc is where to load its image from;
 * modelCard, once fetched, the card of the model that classified it.
 */
export function resultTemplate(record, { imageSrc = "", timeZone, modelCard = null } = {}) {
  const filename = record.filename || UNNAMED;
  const label = String(record.label ?? "");
  const size = record.width && record.height ? `${record.width} × ${record.height}` : "—";
  // Every value below is escaped once, here; the markup uses only these.
  const safe = {
    id: escapeHtml(record.id),
    label: escapeHtml(label),
    labelName: escapeHtml(classDisplayName(label)),
    confidence: escapeHtml(formatPercent(record.probabilities?.[label])),
    modelVersion: escapeHtml(record.model_version),
    filename: escapeHtml(filename),
    caption: escapeHtml(`${size} · ${record.media_type || "unknown type"}`),
    sha: escapeHtml(record.image_sha256),
    shortSha: escapeHtml(shortHash(record.image_sha256)),
    status: escapeHtml(reviewStatusName(record.review_status ?? "unreviewed")),
  };
  return `<article class="result-card" data-record-id="${safe.id}">
  <figure class="result-figure">
    ${viewerTemplate(record, imageSrc, filename)}
    <figcaption>${safe.caption}</figcaption>
  </figure>
  <div class="result-body">
    ${suitabilityWarningTemplate(record)}
    ${headlineTemplate(record, label, safe)}
    ${scoresTemplate(record, label, safe)}
    <div data-slot="limitation">${limitationTemplate(record, modelCard)}</div>
    <dl class="meta">
      <div><dt>Record</dt><dd>#${safe.id}</dd></div>
      <div><dt>Model</dt><dd data-testid="result-model-version">v${safe.modelVersion}</dd></div>
      <div class="meta-wide"><dt>File</dt><dd class="filename" data-testid="result-filename">${safe.filename}</dd></div>
      <div><dt>Classified</dt><dd>${timeTemplate(record.created_at, { timeZone })}</dd></div>
      <div><dt>Review</dt><dd data-testid="result-review-status">${safe.status}</dd></div>
      <div class="meta-wide"><dt>SHA-256</dt><dd class="mono" title="${safe.sha}">${safe.shortSha}</dd></div>
    </dl>
    ${provenanceTemplate(record)}
  </div>
</article>`;
}

function predictionPillTemplate(record) {
  if (!isAssessable(record)) {
    return `<span class="label-pill label-other" title="Out of distribution">Not assessable</span>`;
  }
  const label = String(record.label ?? "");
  return `<span class="label-pill ${labelClass(label)}">${escapeHtml(classDisplayName(label))}</span>`;
}

/** One table row per record; the filename is a button that opens the record. */
export function recordRowTemplate(record, { selectedId = null, timeZone } = {}) {
  const label = String(record.label ?? "");
  const selected = String(record.id) === String(selectedId);
  // Every value below is escaped once, here; the markup uses only these.
  const safe = {
    id: escapeHtml(record.id),
    filename: escapeHtml(record.filename || UNNAMED),
    confidence: escapeHtml(formatPercent(record.probabilities?.[label])),
    status: escapeHtml(record.review_status ?? "unreviewed"),
    statusName: escapeHtml(reviewStatusName(record.review_status ?? "unreviewed")),
  };
  const selectedAttributes = selected ? ' class="is-selected" aria-current="true"' : "";
  const flagged = record.suitability && record.suitability !== "ok" ? " ⚠" : "";
  return `<tr data-testid="record-row" data-record-id="${safe.id}" data-review-status="${safe.status}"${selectedAttributes}>
  <td class="num muted">#${safe.id}</td>
  <td class="file-cell"><a class="row-open" href="#/records/${safe.id}" data-record-id="${safe.id}" title="${safe.filename}">${safe.filename}</a></td>
  <td>${predictionPillTemplate(record)}${flagged}</td>
  <td class="num">${safe.confidence}</td>
  <td><span class="status status-${safe.status}">${safe.statusName}</span></td>
  <td class="muted">${timeTemplate(record.created_at, { timeZone, compact: true })}</td>
</tr>`;
}

export function recordRowsTemplate(records, options = {}) {
  if (!records || records.length === 0) {
    return recordsMessageRowTemplate("No records match. Change the filters, or classify a study.");
  }
  return records.map((record) => recordRowTemplate(record, options)).join("\n");
}

const RECORD_COLUMNS = 6;

/** A single full-width row for "empty" and "could not load" states. */
export function recordsMessageRowTemplate(message) {
  return `<tr class="message-row"><td colspan="${RECORD_COLUMNS}">${escapeHtml(message)}</td></tr>`;
}

const UPLOAD_STATES = {
  queued: "Waiting",
  uploading: "Classifying…",
};

// While the bytes are still going out, a progress bar; once all are sent, the model works.
function uploadingTemplate(item, name) {
  const fraction = clampFraction(item.progress ?? 0);
  if (fraction >= 1 || item.progress === undefined) return escapeHtml(UPLOAD_STATES.uploading);
  return `<progress max="1" value="${fraction}" aria-label="Uploading ${name}"></progress> ${escapeHtml(
    formatPercent(fraction, 0),
  )}`;
}

/** One line per chosen file: waiting, classifying, its result, or its error. */
export function uploadQueueTemplate(items) {
  return items
    .map((item, index) => {
      const name = escapeHtml(item.name || UNNAMED);
      let outcome = escapeHtml(UPLOAD_STATES[item.state] ?? "");
      if (item.state === "uploading") {
        outcome = uploadingTemplate(item, name);
      } else if (item.state === "done") {
        const record = item.record;
        const shown = isAssessable(record) ? classDisplayName(record.label) : "Not assessable";
        outcome = `<a class="queue-open" href="#/records/${escapeHtml(record.id)}">${escapeHtml(
          shown,
        )} · record #${escapeHtml(record.id)}</a>`;
      } else if (item.state === "failed") {
        outcome = `<span class="queue-error">${escapeHtml(item.message)}</span>`;
      }
      return `<li class="queue-item" data-testid="upload-item" data-index="${index}" data-state="${escapeHtml(
        item.state,
      )}"><span class="queue-name">${name}</span><span class="queue-outcome">${outcome}</span></li>`;
    })
    .join("\n");
}

/** Who is signed in: the key's name and role, as the API reported them. */
export function sessionTemplate({ name, role }) {
  return `Signed in as <span class="session-name" data-testid="session-name">${escapeHtml(
    name,
  )}</span><span class="session-role" data-testid="session-role">${escapeHtml(role)}</span>`;
}

/** The content of the role="alert" region. */
export function errorTemplate(message) {
  return `<div class="alert">
  <svg class="alert-icon" viewBox="0 0 20 20" aria-hidden="true"><path d="M10 2 1 18h18L10 2Zm0 5v5m0 2.5v.5" /></svg>
  <p class="alert-message" data-testid="error-message">${escapeHtml(message)}</p>
  <button type="button" class="alert-dismiss" data-action="dismiss-error">Dismiss</button>
</div>`;
}
