// Pure functions that return HTML strings. Nothing here touches the DOM or the network,
// so it can be unit-tested in Node. Every interpolated value goes through escapeHtml:
// filenames and labels come from users and the server, and must render as text.
import {
  bodyPartDisplayName,
  clampFraction,
  classDisplayName,
  findingDisplayName,
  formatDateTime,
  formatDateTimeCompact,
  formatPercent,
  formatScore,
  kindDisplayName,
  modalityDisplayName,
  reviewStatusName,
} from "./format.js";
import {
  DEFAULT_LEVEL,
  DEFAULT_WINDOW,
  LEVEL_MAX,
  LEVEL_MIN,
  WINDOW_MAX,
  WINDOW_MIN,
  WINDOW_PRESETS,
  windowLevelText,
} from "./imaging.js";

// The API's default blend (ml/explain.py DEFAULT_OPACITY rounded to the slider's step).
export const DEFAULT_HEATMAP_OPACITY = 0.45;

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

const KNOWN_LABELS = new Set(["glioma", "meningioma", "no_tumor", "pituitary", "other_tumour"]);
const KNOWN_FINDINGS = new Set(["tumour_suspected", "indeterminate", "no_tumour"]);

// A CSS class per known label gives each class a consistent colour; anything else
// gets a neutral one, so a label from the server can never inject a class name.
export function labelClass(label) {
  return KNOWN_LABELS.has(label) ? `label-${label}` : "label-other";
}

/** The same for the tumour-first finding. */
export function findingClass(finding) {
  return KNOWN_FINDINGS.has(finding) ? `finding-${finding}` : "finding-other";
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
  const alt = `Image ${filename} (record ${record.id})`;
  return `<img class="result-img" src="${escapeHtml(imageSrc)}" alt="${escapeHtml(alt)}" draggable="false">`;
}

/** The heatmap's switch and strength, beside the image: `assessable` false offers none. */
function heatmapControlsTemplate(assessable) {
  const disabled = assessable ? "" : " disabled";
  return `<div class="viewer-heatmap" role="group" aria-label="Heatmap">
        <button type="button" class="button small" data-heatmap="toggle" data-testid="heatmap-toggle" aria-pressed="false" aria-keyshortcuts="H"${disabled}><kbd>H</kbd> Heatmap</button>
        <label class="viewer-slider">Opacity
          <input type="range" min="0" max="100" step="5" value="${Math.round(DEFAULT_HEATMAP_OPACITY * 100)}" data-heatmap="opacity" data-testid="heatmap-opacity"${disabled}>
        </label>
        <output data-testid="heatmap-opacity-value">${Math.round(DEFAULT_HEATMAP_OPACITY * 100)}%</output>
        <span class="heatmap-scale" data-testid="heatmap-scale" hidden>
          <span class="heatmap-scale-end">low</span><span class="heatmap-scale-bar" aria-hidden="true"></span><span class="heatmap-scale-end">high</span>
          <span class="visually-hidden">attention, viridis colour scale</span>
        </span>
        <span class="heatmap-status muted" data-testid="heatmap-status" aria-live="polite"></span>
      </div>`;
}

/**
 * The image with zoom, pan, window/level (drag, presets, numbers) and the heatmap switch
 * (view.js's ImageViewer drives them).
 */
function viewerTemplate(record, imageSrc, filename) {
  const presets = Object.entries(WINDOW_PRESETS)
    .map(
      ([key, preset]) =>
        `<button type="button" class="button small ghost" data-viewer-preset="${escapeHtml(key)}" data-testid="viewer-preset-${escapeHtml(
          key,
        )}" aria-pressed="${key === "full"}">${escapeHtml(preset.name)}</button>`,
    )
    .join("");
  return `<div class="viewer" data-testid="viewer">
    <div class="viewer-frame" data-testid="viewer-frame" title="Drag: window/level · Shift+drag: pan · wheel: zoom">
      ${imageTemplate(record, imageSrc, filename)}
    </div>
    <div class="viewer-controls" role="group" aria-label="Image display">
      <button type="button" class="button small" data-viewer="zoom-out" aria-label="Zoom out">−</button>
      <output class="viewer-zoom" data-testid="viewer-zoom" aria-label="Zoom">100%</output>
      <button type="button" class="button small" data-viewer="zoom-in" aria-label="Zoom in">+</button>
      <button type="button" class="button small ghost" data-viewer="reset">Reset</button>
      <button type="button" class="button small" data-viewer="fullscreen" data-testid="viewer-fullscreen" aria-pressed="false" aria-keyshortcuts="F" title="Full screen (F); Esc leaves it"><kbd>F</kbd> Full screen</button>
      <output class="viewer-wl" data-testid="viewer-wl-values" aria-label="Window and level">${escapeHtml(
        windowLevelText({ window: DEFAULT_WINDOW, level: DEFAULT_LEVEL }),
      )}</output>
      <span class="viewer-presets" role="group" aria-label="Window presets">${presets}</span>
      <label class="viewer-slider">Window
        <input type="range" min="${WINDOW_MIN}" max="${WINDOW_MAX}" step="1" value="${DEFAULT_WINDOW}" data-viewer="window" data-testid="viewer-window">
      </label>
      <label class="viewer-slider">Level
        <input type="range" min="${LEVEL_MIN}" max="${LEVEL_MAX}" step="1" value="${DEFAULT_LEVEL}" data-viewer="level" data-testid="viewer-level">
      </label>
    </div>
    ${heatmapControlsTemplate(isAssessable(record))}
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
    "Low confidence: the model is unsure about this image. Read it yourself before relying on its answer.",
  out_of_distribution:
    "Not read for tumours: the service reads only brain MRI slices, and this image is not one it can assess.",
};

/**
 * Was the image read for tumours? An out-of-distribution record has no finding and no class,
 * and none may be shown for it, even where an older record still carries the model's output.
 */
export function isAssessable(record) {
  return record?.suitability !== "out_of_distribution";
}

/** Does the record carry a class to show (and to confirm)? */
export function hasClass(record) {
  return isAssessable(record) && record.label !== null && record.label !== undefined && record.label !== "";
}

/** Does the record carry the tumour-first answer (records of older models do not)? */
export function hasFinding(record) {
  return isAssessable(record) && record.finding !== null && record.finding !== undefined && record.finding !== "";
}

// A finding that says no tumour, for the notes that belong beside such an answer; a record
// of an older model says it with its class.
function isNoTumourAnswer(record) {
  if (!isAssessable(record)) return false;
  return hasFinding(record) ? record.finding === "no_tumour" : record.label === "no_tumor";
}

/**
 * What the record's answer is, in words, for a status line or the upload list:
 * "Tumour suspected · Glioma", "No tumour found", "Pituitary" (an older record),
 * "Not assessable (Chest X-ray)".
 */
export function answerText(record) {
  if (!isAssessable(record)) {
    return record.kind ? `Not assessable (${kindDisplayName(record.kind)})` : "Not assessable";
  }
  if (!hasFinding(record)) return classDisplayName(record.label);
  const finding = findingDisplayName(record.finding);
  const sameAnswer = record.finding === "no_tumour" && record.label === "no_tumor";
  return hasClass(record) && !sameAnswer ? `${finding} · ${classDisplayName(record.label)}` : finding;
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

/** The card's `known_limitations` that are text (anything else in the list is ignored). */
export function knownLimitations(card) {
  const list = card?.known_limitations;
  if (!Array.isArray(list)) return [];
  return list.filter((item) => typeof item === "string" && item.trim() !== "");
}

/**
 * What the model's card says it can miss (its `known_limitations`), beside a "no tumour"
 * answer; "" for any other answer, or a card that lists none.
 */
export function limitationTemplate(record, card) {
  const limitations = knownLimitations(card);
  if (limitations.length === 0 || !isNoTumourAnswer(record)) return "";
  const title = limitations.length === 1 ? "Known limitation." : "Known limitations.";
  const items = limitations
    .map((text) => `<li data-testid="model-limitation-item">${escapeHtml(text)}</li>`)
    .join("");
  return `<div class="limitation" role="note" data-testid="model-limitation"><strong>${title}</strong> <ul>${items}</ul></div>`;
}

/**
 * What the image recogniser read the image as: "Brain MRI · 0.99", or for a refused image
 * "Chest X-ray · 0.98 — not read for tumours". A record from before the recogniser says so.
 */
export function recogniserTemplate(record) {
  const refused = isAssessable(record) ? "" : " — not read for tumours";
  if (!record.kind) {
    const text = `No recogniser reading (classified before the recogniser existed)${refused}.`;
    return `<p class="recogniser muted" data-testid="recogniser" data-kind="">${escapeHtml(text)}</p>`;
  }
  const reading = `${kindDisplayName(record.kind)} · ${formatScore(record.kind_probability)}`;
  return `<p class="recogniser" data-testid="recogniser" data-kind="${escapeHtml(record.kind)}">Recognised as <strong data-testid="recogniser-reading">${escapeHtml(
    reading,
  )}</strong>${escapeHtml(refused)}</p>`;
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

// The answer, tumour first: the finding with the tumour probability, then the class and its
// probabilities. A record of an older model leads with its class; an out-of-distribution one
// shows neither (not even the model's output: a class beside it would read as a diagnosis).
function answerTemplate(record, label, safe) {
  if (!isAssessable(record)) {
    return `<p class="eyebrow">Tumour finding</p>
    <h3 class="result-headline not-assessable" data-testid="result-not-assessable" tabindex="-1">Not assessable</h3>
    <p class="result-confidence" data-testid="no-answer">Neither a tumour finding nor a class is given for this image.</p>`;
  }
  if (!hasFinding(record)) {
    return `<p class="eyebrow">Predicted class</p>
    <h3 class="result-headline result-label ${labelClass(label)}" data-testid="result-label" data-label="${safe.label}" tabindex="-1">${safe.labelName}</h3>
    <p class="result-confidence"><strong>${safe.confidence}</strong> model probability</p>
    ${probabilityBarsTemplate(record.probabilities, label)}
    ${olderModelNoteTemplate(record)}`;
  }
  if (record.suitability === "low_confidence") return lowConfidenceAnswerTemplate(record, label, safe);
  const classPart = hasClass(record)
    ? `<div class="result-class-block" data-testid="result-class">
      <p class="eyebrow">Most likely class</p>
      <p class="result-label result-class ${labelClass(label)}" data-testid="result-label" data-label="${safe.label}">${safe.labelName}</p>
      <p class="result-confidence"><strong>${safe.confidence}</strong> class probability</p>
      ${probabilityBarsTemplate(record.probabilities, label)}
    </div>`
    : "";
  return `<p class="eyebrow">Tumour finding</p>
    <h3 class="result-headline result-finding ${findingClass(record.finding)}" data-testid="result-finding" data-finding="${safe.finding}" tabindex="-1">${safe.findingName}</h3>
    <p class="result-confidence" data-testid="tumour-probability"><strong>${safe.tumourProbability}</strong> probability of a tumour</p>
    ${classPart}`;
}

// Unsure: "Low confidence" leads, and what the model leans to follows in plain, uncoloured
// small text, so that no large coloured class with a high percentage contradicts it.
function lowConfidenceAnswerTemplate(record, label, safe) {
  const classPart = hasClass(record)
    ? `<p class="result-leaning" data-testid="result-class">Most likely class:
      <span class="result-label" data-testid="result-label" data-label="${safe.label}">${safe.labelName}</span></p>`
    : "";
  const bars = hasClass(record) ? probabilityBarsTemplate(record.probabilities, "") : "";
  return `<p class="eyebrow">Tumour finding</p>
    <h3 class="result-headline low-confidence" data-testid="result-low-confidence" tabindex="-1">Low confidence</h3>
    <p class="result-leaning">The model leans to
      <span class="result-finding" data-testid="result-finding" data-finding="${safe.finding}">${safe.findingName}</span>;
      read the image yourself.</p>
    ${classPart}
    <details class="result-details" data-testid="unsure-numbers"><summary>The model's numbers (unsure)</summary>
      <p class="result-leaning" data-testid="tumour-probability">${safe.tumourProbability} probability of a tumour</p>
      ${bars}
    </details>`;
}

// Older models answered with a class alone, out of their own (four) classes.
function olderModelNoteTemplate(record) {
  const classes = Object.keys(record.probabilities ?? {}).length;
  const text =
    `Classified by model v${record.model_version ?? "?"} before the tumour-first answer: ` +
    `a class only${classes ? `, out of its ${classes} classes` : ""}.`;
  return `<p class="muted older-model-note" data-testid="older-model-note">${escapeHtml(text)}</p>`;
}

function recognisedMetaTemplate(record) {
  if (!record.modality && !record.body_part) return "";
  return `<div><dt>Modality</dt><dd data-testid="result-modality" data-modality="${escapeHtml(
    record.modality,
  )}">${escapeHtml(modalityDisplayName(record.modality))}</dd></div>
      <div><dt>Body part</dt><dd data-testid="result-body-part" data-body-part="${escapeHtml(
        record.body_part,
      )}">${escapeHtml(bodyPartDisplayName(record.body_part))}</dd></div>`;
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
    finding: escapeHtml(record.finding),
    findingName: escapeHtml(findingDisplayName(record.finding)),
    tumourProbability: escapeHtml(formatPercent(record.tumour_probability)),
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
    ${recogniserTemplate(record)}
    ${answerTemplate(record, label, safe)}
    <div data-slot="limitation">${limitationTemplate(record, modelCard)}</div>
    <dl class="meta">
      <div><dt>Record</dt><dd>#${safe.id}</dd></div>
      <div><dt>Model</dt><dd data-testid="result-model-version">v${safe.modelVersion}</dd></div>
      <div class="meta-wide"><dt>File</dt><dd class="filename" data-testid="result-filename">${safe.filename}</dd></div>
      <div><dt>Classified</dt><dd>${timeTemplate(record.created_at, { timeZone })}</dd></div>
      <div><dt>Review</dt><dd data-testid="result-review-status">${safe.status}</dd></div>
      ${recognisedMetaTemplate(record)}
      <div class="meta-wide"><dt>SHA-256</dt><dd class="mono" title="${safe.sha}">${safe.shortSha}</dd></div>
    </dl>
    ${provenanceTemplate(record)}
  </div>
</article>`;
}

// The worklist's answer cell: the finding and, under it, the class; a record of an older
// model shows its class alone; an out-of-distribution one what the recogniser saw instead.
// `flag` (a warning sign, or "") follows the first line.
function answerCellTemplate(record, flag) {
  const sub = (testId, text) => `<span class="row-sub" data-testid="${testId}">${escapeHtml(text)}</span>`;
  if (!isAssessable(record)) {
    const seen = record.kind ? sub("row-kind", kindDisplayName(record.kind)) : "";
    return `<span class="label-pill label-other" data-testid="row-answer" title="Not read for tumours">Not assessable</span>${flag}${seen}`;
  }
  const label = String(record.label ?? "");
  if (!hasFinding(record)) {
    return `${flag}<span class="label-pill ${flag ? "label-other" : labelClass(label)}" data-testid="row-answer">${escapeHtml(
      classDisplayName(label),
    )}</span>`;
  }
  // Low confidence: the finding in a neutral pill, not its colour.
  const pillClass = flag ? "finding-other" : findingClass(record.finding);
  const finding = `${flag}<span class="label-pill finding-pill ${pillClass}" data-testid="row-answer" data-finding="${escapeHtml(
    record.finding,
  )}">${escapeHtml(findingDisplayName(record.finding))}</span>`;
  const sameAnswer = record.finding === "no_tumour" && label === "no_tumor";
  if (!hasClass(record) || sameAnswer) return finding;
  return `${finding}${sub("row-class", classDisplayName(label))}`;
}

// The probability of what the row leads with: the tumour probability beside a finding, the
// class's beside an older record's class, none for an image not read for tumours.
function rowProbabilityTemplate(record) {
  if (!isAssessable(record)) return `<td class="num">—</td>`;
  if (record.suitability === "low_confidence") {
    return `<td class="num muted" title="Low confidence: the model is unsure" data-testid="row-probability">(${escapeHtml(
      formatPercent(hasFinding(record) ? record.tumour_probability : record.probabilities?.[record.label], 0),
    )})</td>`;
  }
  if (hasFinding(record)) {
    return `<td class="num" title="Probability of a tumour">${escapeHtml(formatPercent(record.tumour_probability))}</td>`;
  }
  const label = String(record.label ?? "");
  return `<td class="num" title="Probability of the class">${escapeHtml(
    formatPercent(record.probabilities?.[label]),
  )}</td>`;
}

/** One table row per record; the filename is a button that opens the record. */
export function recordRowTemplate(record, { selectedId = null, timeZone } = {}) {
  const selected = String(record.id) === String(selectedId);
  // Every value below is escaped once, here; the markup uses only these.
  const safe = {
    id: escapeHtml(record.id),
    filename: escapeHtml(record.filename || UNNAMED),
    status: escapeHtml(record.review_status ?? "unreviewed"),
    statusName: escapeHtml(reviewStatusName(record.review_status ?? "unreviewed")),
  };
  const selectedAttributes = selected ? ' class="is-selected" aria-current="true"' : "";
  // "Not assessable" says it already; a low-confidence answer gets a warning sign.
  // It leads the cell (before the pill), so a narrow column can never cut it off.
  const flagged =
    record.suitability && record.suitability !== "ok" && isAssessable(record)
      ? `<span class="row-flag" data-testid="row-flag" title="Low confidence: read the image yourself" aria-label="Low confidence">⚠</span>`
      : "";
  return `<tr data-testid="record-row" data-record-id="${safe.id}" data-review-status="${safe.status}"${selectedAttributes}>
  <td class="num muted">#${safe.id}</td>
  <td class="file-cell"><a class="row-open" href="#/records/${safe.id}" data-record-id="${safe.id}" title="${safe.filename}">${safe.filename}</a></td>
  <td class="answer-cell">${answerCellTemplate(record, flagged)}</td>
  ${rowProbabilityTemplate(record)}
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

/** A single full-width row for "empty" and "could not load" states; retry adds a button. */
export function recordsMessageRowTemplate(message, { retry = false } = {}) {
  const button = retry
    ? ` <button type="button" class="button small" data-action="retry" data-testid="api-retry">Retry now</button>`
    : "";
  return `<tr class="message-row"><td colspan="${RECORD_COLUMNS}">${escapeHtml(message)}${button}</td></tr>`;
}

/** The result panel after an upload that produced no record: nothing here can be reviewed. */
export function failedUploadTemplate({ filename, message }) {
  return `<div class="result-empty" data-testid="upload-failed">
  <p class="result-empty-title">Not classified: ${escapeHtml(filename || UNNAMED)}</p>
  <p>${escapeHtml(message)}</p>
  <p>No record was made. Open a record from the list to review it.</p>
</div>`;
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
        const shown = answerText(record);
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
