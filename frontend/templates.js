// Pure functions that return HTML strings. Nothing here touches the DOM or the network,
// so it can be unit-tested in Node. Every interpolated value goes through escapeHtml:
// filenames and labels come from users and the server, and must render as text.
import {
  clampFraction,
  classDisplayName,
  formatDateTime,
  formatDateTimeCompact,
  formatPercent,
} from "./format.js";

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
function labelClass(label) {
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
  return `<img class="result-img" src="${escapeHtml(imageSrc)}" alt="${escapeHtml(alt)}">`;
}

function shortHash(sha) {
  const text = String(sha ?? "");
  return text.length > 16 ? `${text.slice(0, 12)}…` : text || "—";
}

// The API stores no name when the client sent none.
const UNNAMED = "(unnamed upload)";

/** The classification result for one record. imageSrc is where to load its image from. */
export function resultTemplate(record, { imageSrc = "", timeZone } = {}) {
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
  };
  return `<article class="result-card" data-record-id="${safe.id}">
  <figure class="result-figure">
    ${imageTemplate(record, imageSrc, filename)}
    <figcaption>${safe.caption}</figcaption>
  </figure>
  <div class="result-body">
    <p class="eyebrow">Predicted class</p>
    <h3 class="result-label ${labelClass(label)}" data-testid="result-label" data-label="${safe.label}" tabindex="-1">${safe.labelName}</h3>
    <p class="result-confidence"><strong>${safe.confidence}</strong> model probability</p>
    ${probabilityBarsTemplate(record.probabilities, label)}
    <dl class="meta">
      <div><dt>Record</dt><dd>#${safe.id}</dd></div>
      <div><dt>Model</dt><dd data-testid="result-model-version">v${safe.modelVersion}</dd></div>
      <div class="meta-wide"><dt>File</dt><dd class="filename" data-testid="result-filename">${safe.filename}</dd></div>
      <div><dt>Classified</dt><dd>${timeTemplate(record.created_at, { timeZone })}</dd></div>
      <div><dt>SHA-256</dt><dd class="mono" title="${safe.sha}">${safe.shortSha}</dd></div>
    </dl>
  </div>
</article>`;
}

/** One table row per record; the filename is a button that opens the record. */
export function recordRowTemplate(record, { selectedId = null, timeZone } = {}) {
  const label = String(record.label ?? "");
  const selected = String(record.id) === String(selectedId);
  // Every value below is escaped once, here; the markup uses only these.
  const safe = {
    id: escapeHtml(record.id),
    filename: escapeHtml(record.filename || UNNAMED),
    labelName: escapeHtml(classDisplayName(label)),
    confidence: escapeHtml(formatPercent(record.probabilities?.[label])),
  };
  const selectedAttributes = selected ? ' class="is-selected" aria-current="true"' : "";
  return `<tr data-testid="record-row" data-record-id="${safe.id}"${selectedAttributes}>
  <td class="num muted">#${safe.id}</td>
  <td class="file-cell"><button type="button" class="row-open" data-record-id="${safe.id}" title="${safe.filename}">${safe.filename}</button></td>
  <td><span class="label-pill ${labelClass(label)}">${safe.labelName}</span></td>
  <td class="num">${safe.confidence}</td>
  <td class="muted">${timeTemplate(record.created_at, { timeZone, compact: true })}</td>
</tr>`;
}

export function recordRowsTemplate(records, options = {}) {
  if (!records || records.length === 0) {
    return recordsMessageRowTemplate("No records yet. Classified studies appear here.");
  }
  return records.map((record) => recordRowTemplate(record, options)).join("\n");
}

/** A single full-width row for "empty" and "could not load" states. */
export function recordsMessageRowTemplate(message) {
  return `<tr class="message-row"><td colspan="5">${escapeHtml(message)}</td></tr>`;
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
