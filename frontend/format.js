// Pure display formatting, shared by templates and the controller.

// Human names for the model's class labels (ml/labels.py CLASSES).
const CLASS_NAMES = Object.freeze({
  glioma: "Glioma",
  meningioma: "Meningioma",
  no_tumor: "No tumour",
  pituitary: "Pituitary",
  other_tumour: "Other tumour",
});

/** The classes a reviewer may correct to when a record lists none (out of distribution). */
export const CLASS_ORDER = Object.freeze(Object.keys(CLASS_NAMES));

// The tumour-first answer (ml/finding.py Finding).
const FINDING_NAMES = Object.freeze({
  tumour_suspected: "Tumour suspected",
  indeterminate: "Indeterminate",
  no_tumour: "No tumour found",
});

// What the recogniser can say an image is (ml/labels.py KIND_DESCRIPTIONS).
const KIND_NAMES = Object.freeze({
  brain_mri: "Brain MRI",
  brain_ct: "Brain CT",
  chest_ct: "Chest CT",
  abdominal_ct: "Abdominal CT",
  chest_xray: "Chest X-ray",
  knee_or_bone_xray: "Knee or bone X-ray",
  dental_xray: "Dental X-ray",
  ultrasound: "Ultrasound",
  fundus: "Fundus photograph",
  dermoscopy: "Dermoscopy photograph",
  histopathology: "Histology slide",
});

// DICOM modality defined terms (PS3.3 C.7.3.1.1.1), as a reader knows them.
const MODALITY_NAMES = Object.freeze({
  MR: "MR",
  CT: "CT",
  DX: "DX (X-ray)",
  CR: "CR (X-ray)",
  US: "US (ultrasound)",
  OP: "OP (eye photo)",
  XC: "XC (photo)",
  SM: "SM (microscopy)",
});

const BODY_PART_NAMES = Object.freeze({
  BRAIN: "Brain",
  HEAD: "Head",
  CHEST: "Chest",
  ABDOMEN: "Abdomen",
  KNEE: "Knee",
  TEETH: "Teeth",
  EYE: "Eye",
  SKIN: "Skin",
  TISSUE: "Tissue",
  OTHER: "Other",
});

// Keys a count by an optional field may use for records without it.
const NOT_RECORDED_KEYS = new Set(["", "null", "none", "None", "unknown"]);

/** "no_tumor" -> "No tumour"; an unknown label still reads sensibly ("foo_bar" -> "Foo bar"). */
export function classDisplayName(label) {
  const key = String(label ?? "");
  if (Object.hasOwn(CLASS_NAMES, key)) return CLASS_NAMES[key];
  const words = key.replaceAll("_", " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : "Unknown";
}

function humanWords(value) {
  const words = String(value ?? "").replaceAll("_", " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1).toLowerCase() : "";
}

/** "tumour_suspected" -> "Tumour suspected"; null or "" -> "Not recorded". */
export function findingDisplayName(finding) {
  const key = String(finding ?? "");
  if (Object.hasOwn(FINDING_NAMES, key)) return FINDING_NAMES[key];
  return NOT_RECORDED_KEYS.has(key) ? "Not recorded" : humanWords(key);
}

/** "chest_xray" -> "Chest X-ray"; an unknown kind still reads sensibly. */
export function kindDisplayName(kind) {
  const key = String(kind ?? "");
  if (Object.hasOwn(KIND_NAMES, key)) return KIND_NAMES[key];
  return NOT_RECORDED_KEYS.has(key) ? "Not recorded" : humanWords(key);
}

/** "DX" -> "DX (X-ray)"; an unknown code is shown as it is. */
export function modalityDisplayName(modality) {
  const key = String(modality ?? "");
  if (Object.hasOwn(MODALITY_NAMES, key)) return MODALITY_NAMES[key];
  return NOT_RECORDED_KEYS.has(key) ? "Not recorded" : key;
}

/** "CHEST" -> "Chest". */
export function bodyPartDisplayName(part) {
  const key = String(part ?? "");
  if (Object.hasOwn(BODY_PART_NAMES, key)) return BODY_PART_NAMES[key];
  return NOT_RECORDED_KEYS.has(key) ? "Not recorded" : humanWords(key);
}

/** A probability with two decimals, as the recogniser's reading is given: 0.981 -> "0.98". */
export function formatScore(fraction) {
  const value = Number(fraction);
  if (fraction === null || fraction === undefined || !Number.isFinite(value)) return "—";
  return Math.min(Math.max(value, 0), 1).toFixed(2);
}

/** 0.9234 -> "92.3%". Out-of-range or missing values read as "—" rather than a wrong number. */
export function formatPercent(fraction, digits = 1) {
  const value = Number(fraction);
  if (fraction === null || fraction === undefined || !Number.isFinite(value)) return "—";
  return `${(Math.min(Math.max(value, 0), 1) * 100).toFixed(digits)}%`;
}

/** Clamp a probability into [0, 1] for drawing bars. */
export function clampFraction(fraction) {
  const value = Number(fraction);
  return Number.isFinite(value) ? Math.min(Math.max(value, 0), 1) : 0;
}

// A timestamp without an offset is taken as UTC: the API stores UTC, and reading it as
// the browser's local time would silently shift every study by the reader's offset.
const HAS_OFFSET = /(Z|[+-]\d{2}:?\d{2})$/i;

/** Parse the API's ISO timestamp; returns null when it is not a date. */
export function parseTimestamp(iso) {
  if (typeof iso !== "string" || iso === "") return null;
  const date = new Date(HAS_OFFSET.test(iso) ? iso : `${iso}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "2026-11-26T01:00:00Z" -> "26 Nov 2026, 01:00" (in timeZone; the reader's own by default). */
export function formatDateTime(iso, { timeZone } = {}) {
  const date = parseTimestamp(iso);
  if (!date) return iso ? String(iso) : "—";
  return new Intl.DateTimeFormat("en-GB", {
    dateStyle: "medium",
    timeStyle: "short",
    timeZone,
  }).format(date);
}

/** "2026-11-26T01:00:00Z" -> "2026-11-26 01:00": sortable and unambiguous, for tables. */
export function formatDateTimeCompact(iso, { timeZone } = {}) {
  const date = parseTimestamp(iso);
  if (!date) return iso ? String(iso) : "—";
  const parts = new Intl.DateTimeFormat("en-GB", {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZone,
  }).formatToParts(date);
  const part = Object.fromEntries(parts.map(({ type, value }) => [type, value]));
  return `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute}`;
}

/** "21–40 of 57": the records pager's range text. */
export function formatRange(offset, shown, count) {
  if (!count || shown === 0) return "No records";
  return `${offset + 1}–${offset + shown} of ${count}`;
}

/** "2026-11-26" (a date input's value) -> that UTC day as created_from/created_to; null if empty. */
export function dayWindow(day) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(String(day ?? ""))) return null;
  const start = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(start.getTime())) return null;
  const end = new Date(start.getTime() + 24 * 60 * 60 * 1000);
  return { created_from: start.toISOString(), created_to: end.toISOString() };
}

/** Agreement rate 0..1 -> "75%"; null (nothing reviewed yet) -> "—". */
export function formatRate(rate) {
  return rate === null || rate === undefined ? "—" : formatPercent(rate, 0);
}

// What each review status reads as in the worklist and the record view.
const STATUS_NAMES = Object.freeze({
  unreviewed: "Unreviewed",
  confirmed: "Confirmed",
  corrected: "Corrected",
  rejected: "Rejected",
});

export function reviewStatusName(status) {
  return STATUS_NAMES[status] ?? classDisplayName(status);
}

/** Cosine similarity (≤ 1) with two decimals; missing or non-numeric reads as "—". */
export function formatSimilarity(similarity) {
  const value = Number(similarity);
  if (similarity === null || similarity === undefined || !Number.isFinite(value)) return "—";
  return value.toFixed(2);
}
