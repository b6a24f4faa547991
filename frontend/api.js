// Every request to the medimg API goes through this module, so that failures are
// turned into one kind of Error whose message a person can act on.
import { API_URL } from "./config.js";

const BASE_URL = API_URL.replace(/\/+$/, "");
const KEY_STORAGE_NAME = "medimg.apiKey";
export const KEY_REFUSED_MESSAGE = "Your API key was refused — sign in again.";

// The key lives in sessionStorage: it survives a reload but not closing the tab, and is
// never written to disk by localStorage. Without storage (blocked, or Node) it lives here.
let keyInMemory = "";

function storage() {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null; // access itself can throw when storage is blocked
  }
}

export function setApiKey(key) {
  keyInMemory = String(key ?? "").trim();
  try {
    storage()?.setItem(KEY_STORAGE_NAME, keyInMemory);
  } catch {
    // Not persisting only means signing in again after a reload.
  }
}

export function clearApiKey() {
  keyInMemory = "";
  try {
    storage()?.removeItem(KEY_STORAGE_NAME);
  } catch {
    // Nothing was stored.
  }
}

export function apiKey() {
  try {
    return storage()?.getItem(KEY_STORAGE_NAME) || keyInMemory;
  } catch {
    return keyInMemory;
  }
}

function authorizationHeader() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/**
 * An API failure with a message ready to show. `kind` says what happened:
 * "unreachable" (nothing answered), "blocked" (the server answered but the browser withheld
 * the response: CORS), or "http" (an error status, in `status`).
 */
export class ApiError extends Error {
  constructor(message, { kind = "http", status = 0, title = "", detail = "", cause } = {}) {
    super(message, { cause });
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

export function unreachableMessage() {
  return `Cannot reach the medimg API at ${BASE_URL}; is it running?`;
}

function blockedMessage() {
  const origin = globalThis.location?.origin ?? "this page's origin";
  return (
    `The medimg API at ${BASE_URL} answered, but the browser blocked its response. ` +
    `Check that MEDIMG_CORS_ORIGINS includes ${origin}; if it does, the API hit an ` +
    "error, so see its log."
  );
}

// fetch() rejects the same way whether the API is down or CORS withheld its answer
// (which also happens when an unhandled server error skips the CORS headers). An opaque
// no-cors request succeeds whenever something answers, which tells the two apart.
async function networkFailure(cause) {
  try {
    await fetch(`${BASE_URL}/healthz`, { mode: "no-cors", cache: "no-store" });
  } catch {
    return new ApiError(unreachableMessage(), { kind: "unreachable", cause });
  }
  return new ApiError(blockedMessage(), { kind: "blocked", cause });
}

// Read a problem+json body (RFC 9457) if there is one; a proxy's HTML page or an
// empty body must not hide the status code behind a JSON parse error.
async function readProblem(response) {
  try {
    const body = await response.json();
    if (body && typeof body === "object") {
      const detail = typeof body.detail === "string" ? body.detail : "";
      return { title: String(body.title ?? ""), detail };
    }
  } catch {
    // Not JSON: fall back to the status line below.
  }
  return { title: response.statusText || "", detail: "" };
}

/** Compose the message shown to the reader for an HTTP error status. */
export function messageForStatus(status, { title = "", detail = "" } = {}) {
  const suffix = detail ? ` ${detail}` : "";
  switch (status) {
    case 413:
      return `File too large.${suffix || " Choose a smaller image."}`;
    case 415:
      return `Unsupported file type.${suffix || " Upload a PNG, JPEG or DICOM (.dcm) image."}`;
    case 422:
      return detail || "The image could not be read. Check the file and try again.";
    case 404:
      return detail || "That record was not found; it may have been removed.";
    case 401:
      return KEY_REFUSED_MESSAGE;
    case 403:
      return detail || "Your API key's role may not do this.";
    default:
      if (status >= 500) {
        return `The medimg API failed (HTTP ${status}).${suffix} Try again, or contact support.`;
      }
      return `${title || "Request failed"} (HTTP ${status}).${suffix}`;
  }
}

function requestHeaders(extra = {}) {
  return {
    Accept: "application/json, application/problem+json",
    ...authorizationHeader(),
    ...extra,
  };
}

async function send(path, init = {}) {
  let response;
  try {
    response = await fetch(`${BASE_URL}${path}`, { ...init, headers: requestHeaders(init.headers) });
  } catch (cause) {
    // fetch() rejects only when no usable HTTP response arrived: API down, or CORS.
    throw await networkFailure(cause);
  }
  return checked(response);
}

// fetch() cannot report upload progress; XMLHttpRequest can. Its answer is wrapped in a
// Response so that errors are read exactly as for fetch.
function xhrResponse(path, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${BASE_URL}${path}`);
    for (const [name, value] of Object.entries(requestHeaders())) xhr.setRequestHeader(name, value);
    xhr.responseType = "blob";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      const contentType = xhr.getResponseHeader("Content-Type") ?? "";
      resolve(new Response(xhr.response, { status: xhr.status, headers: { "Content-Type": contentType } }));
    });
    // Like a rejected fetch(): nothing usable arrived (API down, or CORS withheld it).
    xhr.addEventListener("error", () => reject(new TypeError("XMLHttpRequest failed")));
    xhr.send(body);
  });
}

async function sendWithProgress(path, body, onProgress) {
  let response;
  try {
    response = await xhrResponse(path, body, onProgress);
  } catch (cause) {
    throw await networkFailure(cause);
  }
  return checked(response);
}

async function checked(response) {
  if (!response.ok) {
    const problem = await readProblem(response);
    throw new ApiError(messageForStatus(response.status, problem), {
      kind: "http",
      status: response.status,
      ...problem,
    });
  }
  return response;
}

async function request(path, init = {}) {
  return readJson(await send(path, init), path);
}

async function readJson(response, path) {
  try {
    return await response.json();
  } catch (cause) {
    throw new ApiError(`The medimg API sent an unreadable response to ${path}.`, {
      status: response.status,
      cause,
    });
  }
}

/**
 * Upload one image (File or Blob) for classification; resolves to the new record.
 * onProgress(fraction), when given, hears how much of the file has been sent.
 */
export async function classify(file, { onProgress } = {}) {
  const form = new FormData();
  form.append("file", file, file.name || "upload");
  if (onProgress && typeof XMLHttpRequest === "function") {
    return readJson(await sendWithProgress("/classify", form, onProgress), "/classify");
  }
  return request("/classify", { method: "POST", body: form });
}

/**
 * One page of records: resolves to {data, count}. `filters` are GET /records filters
 * (label, finding, modality, body_part, review_status, created_from, created_to, sort);
 * empty ones are left out.
 */
export function listRecords({ offset = 0, limit = 10, ...filters } = {}) {
  return request(`/records?${recordsQuery({ offset, limit, ...filters })}`);
}

export function recordsQuery(params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  return query;
}

// GET /records pages hold at most 100 records; a study's slices are read to this many.
const RECORDS_PAGE_MAX = 100;
export const STUDY_SLICES_MAX = 500;

/**
 * The records of one DICOM study (its `study_uid_hash`) this key may see, in the order they
 * arrived, following the cursor: resolves to {data, count}, where data holds at most `max`
 * and count is every record of the study.
 */
export async function listStudyRecords(study, { max = STUDY_SLICES_MAX } = {}) {
  const data = [];
  let page = null;
  let cursor = null;
  do {
    const query = recordsQuery({ study_uid_hash: study, sort: "oldest", limit: RECORDS_PAGE_MAX, cursor });
    page = await request(`/records?${query}`);
    data.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor && data.length < max);
  return { data: data.slice(0, max), count: page.count };
}

/** A record's reviews, oldest first: resolves to {data, count}. */
export function listReviews(id) {
  return request(`/records/${encodeURIComponent(id)}/reviews`);
}

/** review: {action: "confirm"|"correct"|"reject", label (correct only), note}. */
export function createReview(id, review) {
  return request(`/records/${encodeURIComponent(id)}/reviews`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(review),
  });
}

/** The dashboard's figures over the records this key may see. */
export function stats() {
  return request("/stats");
}

// Interoperability exports of a PACS record; fetched (they need the key), then saved.
const EXPORTS = {
  fhir: { path: "fhir", accept: "application/fhir+json, application/json" },
  sr: { path: "sr", accept: "application/dicom" },
};

/** kind "fhir" (FHIR DiagnosticReport) or "sr" (DICOM Structured Report): a Blob. */
export async function getRecordExport(id, kind) {
  const { path, accept } = EXPORTS[kind];
  const response = await send(`/records/${encodeURIComponent(id)}/${path}`, {
    headers: { Accept: accept },
  });
  return response.blob();
}

export function getRecord(id) {
  return request(`/records/${encodeURIComponent(id)}`);
}

/** A model's card (GET /models/{version}): what it was trained on and its known limits. */
export function getModelCard(version) {
  return request(`/models/${encodeURIComponent(version)}`);
}

/** A record's stored image as a Blob; fetched, not linked, because it needs the key. */
export async function getRecordImage(id) {
  const response = await send(`/records/${encodeURIComponent(id)}/image`, {
    headers: { Accept: "image/*" },
  });
  return response.blob();
}

/** The signed-in key's {name, role}; rejects with status 401 for a refused key. */
export function me() {
  return request("/me");
}

export function health() {
  return request("/healthz");
}

/**
 * The Grad-CAM heatmap of the record's predicted class over its image, as a PNG Blob.
 * opacity (0-1) is how strongly the map is blended over the slice.
 */
export async function getHeatmapOverlay(id, { opacity }) {
  const query = recordsQuery({ format: "overlay", opacity });
  const response = await send(`/records/${encodeURIComponent(id)}/heatmap?${query}`, {
    headers: { Accept: "image/png" },
  });
  return response.blob();
}

/**
 * The Grad-CAM map itself, as the API's raw 16-bit greyscale PNG on the image's own grid
 * (value / 65535 = weight), for the page to colour over the slice it shows.
 */
export async function getHeatmapMap(id) {
  const query = recordsQuery({ format: "raw" });
  const response = await send(`/records/${encodeURIComponent(id)}/heatmap?${query}`, {
    headers: { Accept: "image/png" },
  });
  return response.blob();
}

/** How much of the heatmap lies on the brain: {label, mass_inside_brain, implausible, reason}. */
export function getExplanation(id) {
  return request(`/records/${encodeURIComponent(id)}/explanation`);
}

/** The k stored records most like this one: {query_record_id, data: [{record, similarity, near_duplicate, reviewed}]}. */
export function similarRecords(id, { k }) {
  return request(`/records/${encodeURIComponent(id)}/similar?${recordsQuery({ k })}`);
}
