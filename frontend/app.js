// Controller: wires the view's user intents to the API and decides what to show.
import * as api from "./api.js";
import { API_URL } from "./config.js";
import { CLASS_ORDER, dayWindow } from "./format.js";
import { parseRoute, recordHash } from "./routes.js";
import { answerText, errorTemplate, hasClass, isAssessable } from "./templates.js";
import { SIMILAR_CASES } from "./trust-templates.js";
import { View } from "./view.js";

const PAGE_SIZES = new Set([25, 50, 100]);
const DEFAULT_PAGE_SIZE = 25;
const HEALTH_RETRY_MS = 3000;
const REVIEWER_ROLES = new Set(["radiologist", "admin"]);
const EXPORT_NAMES = { fhir: "fhir.json", sr: "sr.dcm" };

function messageOf(error) {
  // ApiError messages are written for people; anything else is a bug worth reporting.
  return error instanceof api.ApiError
    ? error.message
    : `Something went wrong in the page: ${error?.message ?? error}. Reload and try again.`;
}

export class App {
  constructor(view) {
    this.view = view;
    this.offset = 0;
    this.busy = false;
    this.reviewing = false;
    this.role = null;
    this.current = null; // the record shown in the result panel
    this.reviewClasses = []; // what the open record may be corrected to
    this.modelCards = new Map(); // version → promise of its card (null when it failed)
    // Incremented per request kind, so a slow answer cannot overwrite a newer choice.
    this.resultTicket = 0;
    this.recordsTicket = 0;
    this.heatmapTicket = 0;
    this.studyTicket = 0;
    this.lastReview = null; // {recordId, text, intent}: what Undo would save for the last review
    this.healthRetry = null; // timer while the API is unreachable
  }

  async start() {
    this.view.showApiUrl(API_URL);
    // The worklist's filters live in the address (?finding=…&limit=50), so a reload or a
    // shared link shows the same list.
    this.view.applyFilters(new URLSearchParams(window.location.search));
    this.filters = this.view.readFilters();
    this.view.bindRowOpen((id) => {
      window.location.hash = recordHash(id);
    });
    this.view.bindFilesChosen((files) => this.upload(files));
    this.view.bindPageTurn((direction) => this.turnPage(direction));
    this.view.bindRefresh(() => this.refresh());
    this.view.bindFilters((filters) => this.filter(filters));
    this.view.bindReview(
      (intent) => this.review(intent),
      () => ({ classes: this.reviewClasses, canConfirm: Boolean(this.current) && hasClass(this.current) }),
    );
    this.view.bindExport((kind) => this.exportRecord(kind));
    this.view.bindHeatmap((choice) => this.showHeatmap(choice));
    this.view.panels.bindSimilarPreview((id) => this.view.panels.showSimilarPreview(id));
    // A slice of the study (← →, or its thumbnail's link) opens in the same view.
    this.view.bindViewerKeys((id) => {
      window.location.hash = recordHash(id);
    });
    this.view.study.bindThumbnailNeeded((id) => this.loadStudyThumbnail(id));
    this.view.bindDashboardRefresh(() => this.loadDashboard());
    this.view.bindSignIn((key) => this.signIn(key));
    this.view.bindSignOut(() => this.signOut());
    this.view.bindRetry(() => this.refresh());
    window.addEventListener("hashchange", () => this.route());

    this.view.renderEmptyResult();
    this.view.showScreen(parseRoute(window.location.hash).screen === "dashboard" ? "dashboard" : "workspace");
    if (await this.checkHealth()) await this.route();
  }

  /** Show the screen the address names: the workspace, a record in it, or the dashboard. */
  async route() {
    const route = parseRoute(window.location.hash);
    this.view.showScreen(route.screen === "dashboard" ? "dashboard" : "workspace");
    if (!api.apiKey()) return;
    if (route.screen === "dashboard") await this.loadDashboard();
    if (route.screen === "record" && String(this.current?.id) !== route.id) {
      await this.openRecord(route.id);
    }
  }

  /** Check the API, then the key, then load the records (or say why they cannot be). */
  async checkHealth() {
    clearTimeout(this.healthRetry);
    this.view.setApiStatus("checking");
    try {
      await api.health();
      this.view.setApiStatus("online");
    } catch (error) {
      if (error instanceof api.ApiError && error.kind === "http") {
        this.view.setApiStatus("unhealthy");
      }
      this.reportFailure(error);
      this.view.renderRecordsError(
        "Records are unavailable until the API answers; this page tries again every few seconds.",
        { retry: true },
      );
      // Once the API is back the page carries on by itself: sign-in form, records, record.
      this.healthRetry = setTimeout(async () => {
        if (await this.checkHealth()) {
          this.view.clearError();
          await this.route();
        }
      }, HEALTH_RETRY_MS);
      return false;
    }
    return this.resumeSession();
  }

  /** With a stored key: show who it belongs to and load the records. */
  async resumeSession() {
    if (!api.apiKey()) {
      // A deep link opened before signing in stays, so signing in lands on it.
      this.showSignedOut({ keepAddress: true });
      return false;
    }
    try {
      const me = await api.me();
      this.role = me.role;
      this.view.showSignedIn(me);
    } catch (error) {
      this.reportFailure(error);
      return false;
    }
    await this.loadRecords();
    return true;
  }

  async signIn(key) {
    this.view.clearError();
    api.setApiKey(key);
    if (await this.checkHealth()) await this.route();
  }

  signOut() {
    api.clearApiKey();
    this.view.clearError();
    this.view.showNotice("Signed out.");
    this.showSignedOut();
    this.view.forgetNoteDrafts();
    this.lastReview = null;
  }

  showSignedOut({ keepAddress = false } = {}) {
    // Drop everything the last key could see; answers still in flight are ignored.
    this.current = null;
    this.role = null;
    this.resultTicket += 1;
    this.recordsTicket += 1;
    this.view.renderEmptyResult();
    this.view.showSignedOut();
    this.view.renderRecordsError("Sign in with your API key to see the records.");
    if (!keepAddress) {
      history.replaceState(null, "", window.location.pathname + window.location.search);
      this.view.showScreen("workspace");
    }
  }

  async refresh() {
    this.view.clearError();
    await this.checkHealth();
  }

  canReview() {
    return REVIEWER_ROLES.has(this.role);
  }

  // ---- upload ------------------------------------------------------------------------

  /** Classify the files one after another (two CPU cores serve everyone), each reported. */
  async upload(files) {
    if (this.busy) return;
    if (!api.apiKey()) {
      this.view.showError("Sign in with your API key before uploading an image.");
      return;
    }
    this.busy = true;
    this.resultTicket += 1;
    // A single file takes the result panel at once: the record it replaces leaves with its
    // review, heatmap and similar cases, so that nothing acts on a record not on screen.
    if (files.length === 1) this.leaveRecord();
    this.view.clearError();
    this.view.setBusy(true);
    const items = files.map((file) => ({ name: file.name, state: "queued" }));
    let finished = false;
    try {
      finished = await this.classifyAll(files, items);
    } finally {
      this.busy = false;
      this.view.setBusy(false);
    }
    // Only once uploads are accepted again: a slow worklist refresh must not hold up the
    // next upload (the input stays disabled while busy, and a drop would be ignored).
    if (finished) {
      this.offset = 0; // new records are the newest, on the first page
      await this.loadRecords();
    }
  }

  /** True once every file has had its turn; false when the key or connection failed. */
  async classifyAll(files, items) {
    let shown = null;
    for (const [index, file] of files.entries()) {
      items[index].state = "uploading";
      this.view.renderQueue(items);
      if (files.length === 1) this.view.renderPending(file);
      try {
        const onProgress = (fraction) => {
          items[index].progress = fraction;
          this.view.renderQueue(items);
        };
        const record = await api.classify(file, { onProgress });
        items[index] = { ...items[index], state: "done", record };
        shown = items[index].record;
      } catch (error) {
        items[index] = { ...items[index], state: "failed", message: messageOf(error) };
        if (error instanceof api.ApiError && (error.status === 401 || error.kind !== "http")) {
          // Neither the key nor the connection will work for the next file either: those
          // are not sent, and nothing is left saying "Classifying…".
          for (const rest of items.slice(index + 1)) {
            Object.assign(rest, { state: "failed", message: "Not sent: see the error above." });
          }
          this.view.renderQueue(items);
          if (files.length === 1) this.view.renderFailedUpload({ filename: file.name, message: messageOf(error) });
          this.reportFailure(error);
          return false;
        }
      }
    }
    this.view.renderQueue(items);
    this.reportUploadOutcome(items, shown);
    return true;
  }

  reportUploadOutcome(items, shown) {
    this.resultTicket += 1; // a record opened meanwhile must not replace the new result
    if (shown) {
      this.view.setApiStatus("online");
      this.show(shown);
    } else if (items.length === 1) {
      this.view.renderFailedUpload({ filename: items[0].name, message: items[0].message });
    } else {
      this.restoreResult();
    }
    const failed = items.filter((item) => item.state === "failed");
    if (failed.length === 1 && items.length === 1) this.view.showError(failed[0].message);
    else if (failed.length) {
      this.view.showError(
        `${failed.length} of ${items.length} files could not be classified; each says why in the list under the upload area.`,
      );
    }
    if (shown && !failed.length) {
      const what = items.length === 1 ? `${shown.filename || items[0].name}` : `${items.length} files`;
      const answer = items.length === 1 ? `: ${answerText(shown)}` : "";
      this.view.showNotice(`Classified ${what} (record #${shown.id})${answer}.`);
    }
  }

  // ---- one record --------------------------------------------------------------------

  async openRecord(id) {
    const ticket = ++this.resultTicket;
    this.view.clearError();
    try {
      const record = await api.getRecord(id);
      if (ticket !== this.resultTicket) return;
      this.show(record);
      this.view.focusResult();
    } catch (error) {
      if (ticket === this.resultTicket) this.reportFailure(error);
    }
  }

  show(record) {
    this.current = record;
    this.reviewClasses = Object.keys(record.probabilities ?? {});
    this.heatmapTicket += 1; // an overlay still on its way belongs to the last record shown
    if (this.lastReview && this.lastReview.recordId !== record.id) this.lastReview = null;
    // The last record's review form goes now, not when this one's reviews arrive.
    if (!this.view.reviewPanelShows(record.id)) this.view.hideReview();
    this.view.renderRecordPanels(record);
    this.view.renderResult(record);
    this.view.markSelectedRecord(record.id);
    // A shareable address for the record on screen, without adding history entries.
    if (window.location.hash !== recordHash(record.id)) {
      history.replaceState(null, "", recordHash(record.id));
    }
    if (!this.view.showsImageOf(record.id)) this.loadImage(record);
    this.loadReviews(record);
    this.loadExplanation(record);
    this.loadSimilar(record);
    this.loadModelCard(record);
    this.loadStudy(record);
  }

  /** Each model's card, asked for once: what it says does not change. null if it failed. */
  modelCard(version) {
    const key = String(version);
    let card = this.modelCards.get(key);
    if (!card) {
      card = api.getModelCard(key).catch(() => {
        // The result stands without the card's note; the next record of that model asks again.
        this.modelCards.delete(key);
        return null;
      });
      this.modelCards.set(key, card);
    }
    return card;
  }

  async loadModelCard(record) {
    const card = await this.modelCard(record.model_version);
    if (card) this.view.showModelCard(card);
  }

  /**
   * The classes a reviewer may correct the record to: its own probabilities' classes, or,
   * for an image not read for tumours (which has none), its model's card's classes.
   */
  async classesFor(record) {
    const own = Object.keys(record.probabilities ?? {});
    if (own.length) return own;
    const card = await this.modelCard(record.model_version);
    return card?.classes?.length ? card.classes : [...CLASS_ORDER];
  }

  /** Nothing is shown to review: an upload is on its way, or made no record. */
  leaveRecord() {
    this.current = null;
    this.lastReview = null;
    this.heatmapTicket += 1;
    this.view.renderEmptyResult();
    // The address no longer names a record: opening that record again from the list works.
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }

  /** The image needs the key, so it is fetched and handed to the view as a Blob. */
  async loadImage(record) {
    const ticket = this.resultTicket;
    try {
      const image = await api.getRecordImage(record.id);
      if (ticket === this.resultTicket && this.current === record) {
        this.view.renderResult(record, image);
      }
    } catch {
      // The result stays readable without its picture, but is not reviewed without it.
      if (ticket === this.resultTicket && this.current === record) {
        this.view.renderResult(record, null, { imageFailed: true });
      }
    }
  }

  async loadReviews(record) {
    try {
      const [reviews, classes] = await Promise.all([api.listReviews(record.id), this.classesFor(record)]);
      if (this.current !== record) return;
      this.reviewClasses = classes;
      const undo = this.lastReview?.recordId === record.id ? this.lastReview : null;
      this.view.renderReview({ record, reviews: reviews.data, classes, canReview: this.canReview(), undo });
    } catch (error) {
      if (this.current === record) this.reportFailure(error);
    }
  }

  // ---- the study view: a DICOM record's other slices beside its image ------------------

  /**
   * The slices of the record's study, listed once per study: opening another of them only
   * moves the mark (a slice the strip lacks, one that just arrived, lists the study again).
   * A record of no study, or of a study of one slice, has no strip.
   */
  async loadStudy(record) {
    const study = record.study_uid_hash;
    if (this.view.study.shows(study, record.id)) {
      this.view.study.markCurrent(record.id);
      return;
    }
    // Another study's slices must never stand beside this record, not even for a moment.
    if (!this.view.study.shows(study)) this.view.study.clear();
    if (!study) return;
    const ticket = ++this.studyTicket;
    const stillShown = () => ticket === this.studyTicket && this.current?.id === record.id;
    try {
      const { data, count } = await api.listStudyRecords(study);
      if (!stillShown()) return;
      if (data.length < 2) this.view.study.clear();
      else this.view.study.render({ study, records: data, count, currentId: record.id });
    } catch (error) {
      if (!stillShown()) return;
      this.reportPanelFailure(error, (message) =>
        this.view.study.renderMessage(study, `The study's other slices are unavailable: ${message}`),
      );
    }
  }

  /** A thumbnail needs the key, so it is fetched; one that fails leaves its slice without. */
  async loadStudyThumbnail(id) {
    try {
      const image = await api.getRecordImage(id);
      this.view.study.showThumbnail(id, image);
    } catch {
      // The slice still opens by its number.
    }
  }

  // ---- what lets the reader check a result: heatmap and similar cases ------------------

  async loadExplanation(record) {
    if (!isAssessable(record)) return; // no class to map: the panel says so
    try {
      const explanation = await api.getExplanation(record.id);
      if (this.current === record) this.view.panels.renderExplanation(explanation, record);
    } catch (error) {
      if (this.current !== record) return;
      this.view.disableHeatmap(record.id);
      this.reportPanelFailure(error, (message) =>
        this.view.panels.renderExplanationUnavailable(`No heatmap: ${message}`),
      );
    }
  }

  /** choice: {on}; the map is fetched once per switch-on and coloured in the page. */
  async showHeatmap({ on }) {
    const record = this.current;
    const ticket = ++this.heatmapTicket;
    if (!record || !on) {
      this.view.hideHeatmap();
      this.view.setHeatmapStatus("");
      return;
    }
    this.view.setHeatmapStatus("Computing the heatmap…");
    try {
      const map = await api.getHeatmapMap(record.id);
      if (ticket !== this.heatmapTicket) return;
      await this.view.showHeatmap(record.id, map);
      this.view.setHeatmapStatus("");
    } catch (error) {
      if (ticket !== this.heatmapTicket) return;
      this.reportPanelFailure(error, (message) => this.view.setHeatmapStatus(`No heatmap: ${message}`));
    }
  }

  async loadSimilar(record) {
    if (!isAssessable(record)) return; // the panel says why it was not searched
    let answer;
    try {
      answer = await api.similarRecords(record.id, { k: SIMILAR_CASES });
      if (this.current !== record) return;
      this.view.panels.renderSimilar(answer);
    } catch (error) {
      if (this.current !== record) return;
      this.reportPanelFailure(error, (message) =>
        this.view.panels.renderSimilarMessage(`Similar cases are unavailable: ${message}`),
      );
      return;
    }
    // Thumbnails need the key too; one that fails leaves its case without a picture.
    await Promise.all(
      answer.data.map(async ({ record: found }) => {
        try {
          const image = await api.getRecordImage(found.id);
          if (this.current === record) this.view.panels.showSimilarThumbnail(found.id, image);
        } catch {
          // The case still reads without its picture.
        }
      }),
    );
  }

  // A panel's failure stays in the panel; a refused key or a lost API concerns the page.
  reportPanelFailure(error, showInPanel) {
    if (error instanceof api.ApiError && (error.status === 401 || error.kind !== "http")) {
      this.reportFailure(error);
    } else {
      showInPanel(messageOf(error));
    }
  }

  restoreResult() {
    if (this.current) this.show(this.current);
    else this.view.renderEmptyResult();
  }

  /** intent: {action: confirm|correct|reject|next, label?, note}. */
  async review(intent) {
    if (intent.action === "next") {
      await this.openNextUnreviewed();
      return;
    }
    const record = this.current;
    if (!record || !this.canReview() || this.reviewing) return;
    // Only the record whose result and image are on screen is reviewed.
    if (this.view.reviewableRecordId() !== String(record.id)) {
      this.view.showNotice("Review is off until the record's image is on screen.");
      return;
    }
    const undoing = intent.action === "undo";
    if (undoing) {
      if (this.lastReview?.recordId !== record.id) return;
      intent = { ...this.lastReview.intent, note: `Undo of ${this.lastReview.text}` };
    } else if (intent.action === "correct" && intent.label === record.label) {
      this.view.showNotice("That is the model's own class: press C to confirm it instead.");
      return;
    }
    if (intent.action === "confirm" && !hasClass(record)) {
      this.view.showNotice("This image has no class to confirm: correct it to a class, or reject it.");
      return;
    }
    this.reviewing = true;
    this.view.clearError();
    try {
      await api.createReview(record.id, {
        action: intent.action,
        ...(intent.action === "correct" ? { label: intent.label } : {}),
        note: intent.note || null,
        // What was on screen: the server refuses a review of anything else (409).
        record_id: record.id,
        model_version: record.model_version,
      });
      this.view.clearReviewNote(record.id);
      const text = `${intent.action}${intent.label ? ` to ${intent.label}` : ""}`;
      this.lastReview = undoing ? null : { recordId: record.id, text, intent: undoIntentFor(record) };
      this.view.showNotice(
        undoing ? `Record #${record.id}: undone.` : `Record #${record.id}: ${text} saved.`,
      );
      const updated = await api.getRecord(record.id);
      if (this.current?.id === record.id) this.show(updated);
    } catch (error) {
      this.reportFailure(error);
      return;
    } finally {
      this.reviewing = false;
    }
    await this.loadRecords();
  }

  /** The first unreviewed record other than the one open, in the worklist's own order. */
  async openNextUnreviewed() {
    try {
      const { day, limit, ...filters } = this.filters;
      const page = await api.listRecords({
        ...filters,
        ...dayWindow(day),
        limit: 2,
        review_status: "unreviewed",
      });
      const next = page.data.find((record) => record.id !== this.current?.id);
      if (next) window.location.hash = recordHash(next.id);
      else this.view.showNotice("No unreviewed records left.");
    } catch (error) {
      this.reportFailure(error);
    }
  }

  async exportRecord(kind) {
    const record = this.current;
    if (!record || !EXPORT_NAMES[kind]) return;
    try {
      const blob = await api.getRecordExport(record.id, kind);
      this.view.saveBlob(blob, `record-${record.id}-${EXPORT_NAMES[kind]}`);
    } catch (error) {
      this.reportFailure(error);
    }
  }

  // ---- worklist and dashboard ----------------------------------------------------------

  async filter(filters) {
    this.filters = filters;
    this.offset = 0;
    const query = this.view.filtersQuery();
    history.replaceState(null, "", `${window.location.pathname}${query ? `?${query}` : ""}${window.location.hash}`);
    await this.loadRecords();
  }

  pageSize() {
    const size = Number(this.filters.limit);
    return PAGE_SIZES.has(size) ? size : DEFAULT_PAGE_SIZE;
  }

  async turnPage(direction) {
    const PAGE_SIZE = this.pageSize();
    const step = direction === "older" ? PAGE_SIZE : -PAGE_SIZE;
    this.offset = Math.max(0, this.offset + step);
    await this.loadRecords();
  }

  listPage() {
    const { day, limit, ...filters } = this.filters;
    return api.listRecords({
      offset: this.offset,
      limit: this.pageSize(),
      ...filters,
      ...dayWindow(day),
    });
  }

  async loadRecords() {
    const ticket = ++this.recordsTicket;
    this.view.setRecordsLoading();
    try {
      let page = await this.listPage();
      // Records can disappear between pages; step back instead of showing an empty page.
      if (page.data.length === 0 && this.offset > 0 && page.count > 0) {
        this.offset = Math.floor((page.count - 1) / this.pageSize()) * this.pageSize();
        page = await this.listPage();
      }
      if (ticket !== this.recordsTicket) return;
      this.view.renderRecords({
        records: page.data,
        offset: this.offset,
        count: page.count,
        selectedId: this.current?.id ?? null,
      });
    } catch (error) {
      if (ticket !== this.recordsTicket) return;
      this.view.renderRecordsError("Records could not be loaded.");
      this.reportFailure(error);
    }
  }

  async loadDashboard() {
    this.view.renderDashboardMessage("Loading…");
    try {
      this.view.renderDashboard(await api.stats());
    } catch (error) {
      this.view.renderDashboardMessage("The dashboard could not be loaded.");
      this.reportFailure(error);
    }
  }

  reportFailure(error) {
    if (error instanceof api.ApiError && error.status === 401) {
      // A refused key (wrong, or revoked meanwhile) is forgotten; the form asks again, and
      // signing in lands back where the reader was (with a typed note kept).
      api.clearApiKey();
      this.showSignedOut({ keepAddress: true });
    }
    if (error instanceof api.ApiError && error.kind !== "http") {
      // Nothing usable came back: "offline" if nothing answered, "blocked" for CORS.
      this.view.setApiStatus(error.kind === "unreachable" ? "offline" : "blocked");
    }
    this.view.showError(messageOf(error));
  }
}

/** The review that puts the record back as it stands now: what Undo saves after a review. */
function undoIntentFor(record) {
  switch (record.review_status) {
    case "confirmed":
      return { action: "confirm" };
    case "corrected":
      return { action: "correct", label: record.final_label };
    case "rejected":
      return { action: "reject" };
    default:
      return { action: "withdraw" };
  }
}

new App(new View(document)).start().catch((error) => {
  // Last resort: never leave the reader with a silent page.
  const region = document.querySelector("#alert-region");
  if (region) region.innerHTML = errorTemplate(messageOf(error));
});
