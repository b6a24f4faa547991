// The only module that touches the DOM. It renders what the controller hands it and
// reports user intent (a file chosen, a record opened, a page turned) through callbacks.
import { colouriseHeatmap } from "./colormap.js";
import { dashboardTemplate } from "./dashboard-templates.js";
import { formatRange } from "./format.js";
import { FullScreen } from "./fullscreen.js";
import { RecordPanelsView } from "./panels-view.js";
import { reviewFormTemplate, reviewHistoryTemplate } from "./review-templates.js";
import { shortcutFor, viewerShortcutFor } from "./shortcuts.js";
import { StudyStripView } from "./study-view.js";
import {
  DEFAULT_HEATMAP_OPACITY,
  emptyResultTemplate,
  errorTemplate,
  failedUploadTemplate,
  limitationTemplate,
  pendingTemplate,
  recordRowsTemplate,
  recordsMessageRowTemplate,
  resultTemplate,
  sessionTemplate,
  uploadQueueTemplate,
} from "./templates.js";
import { ImageViewer } from "./viewer.js";

const PREVIEWABLE_TYPES = new Set(["image/png", "image/jpeg"]);
const THEME_KEY = "medimg.theme";

export class View {
  constructor(root = document) {
    this.root = root;
    this.input = root.querySelector("#upload-input");
    this.dropzone = root.querySelector("#dropzone");
    this.uploadStatus = root.querySelector("#upload-status");
    this.result = root.querySelector("#result");
    this.resultPanel = root.querySelector("#result-panel");
    this.alertRegion = root.querySelector("#alert-region");
    this.recordsBody = root.querySelector("#records-body");
    this.recordsPanel = root.querySelector("#records-panel");
    this.rangeText = root.querySelector("#records-range");
    this.newerButton = root.querySelector("#records-newer");
    this.olderButton = root.querySelector("#records-older");
    this.refreshButton = root.querySelector("#records-refresh");
    this.apiStatus = root.querySelector("#api-status");
    this.apiStatusText = root.querySelector("#api-status-text");
    this.apiUrlText = root.querySelector("#api-url");
    this.themeToggle = root.querySelector("#theme-toggle");
    this.signInForm = root.querySelector("#sign-in-form");
    this.keyInput = root.querySelector("#api-key-input");
    this.session = root.querySelector("#session");
    this.sessionWho = root.querySelector("#session-who");
    this.signOutButton = root.querySelector("#sign-out");
    this.queue = root.querySelector("#upload-queue");
    this.filtersForm = root.querySelector("#records-filters");
    this.reviewPanel = root.querySelector("#review-panel");
    this.reviewActions = root.querySelector("#review-actions");
    this.reviewHistory = root.querySelector("#review-history");
    this.panels = new RecordPanelsView(root.querySelector("#record-panels"));
    this.study = new StudyStripView(root.querySelector("#study-strip"));
    this.fullscreen = new FullScreen(this.resultPanel, root, { onRefused: (message) => this.showNotice(message) });
    this.screens = {
      workspace: root.querySelector("#workspace-screen"),
      dashboard: root.querySelector("#dashboard-screen"),
    };
    this.navLinks = [...root.querySelectorAll(".nav-link")];
    this.dashboard = root.querySelector("#dashboard");
    this.dashboardRefresh = root.querySelector("#dashboard-refresh");
    this.previewUrl = "";
    this.imageDrawnFor = null; // the record id whose own image has been drawn
    this.viewer = null;
    this.heatmap = null; // {recordId, map: ImageData} of the map shown over the record's image
    // The heatmap switch of the record on screen; kept while its result is re-rendered.
    this.heatmapControls = { recordId: null, on: false, opacity: DEFAULT_HEATMAP_OPACITY, off: false };
    this.modelCards = new Map(); // version → card, for the notes beside its results
    this.shownRecord = null;
    this.noteDrafts = new Map(); // record id → a typed note not yet saved (kept over a sign-in)

    this.#keepDroppedFilesInThePage();
    this.#bindAlertDismiss();
    this.#bindImageFallback();
    this.#bindThemeToggle();
    this.#bindFullscreen();
  }

  // ---- user intent -------------------------------------------------------------------

  /** handler(files) runs for the picked or dropped files (one or several). */
  bindFilesChosen(handler) {
    this.input.addEventListener("change", () => {
      const files = [...this.input.files];
      // Reset so that choosing the same file again still fires "change".
      this.input.value = "";
      if (files.length) handler(files);
    });

    const setHover = (on) => this.dropzone.classList.toggle("is-dragover", on);
    this.dropzone.addEventListener("dragenter", (event) => {
      event.preventDefault();
      setHover(true);
    });
    this.dropzone.addEventListener("dragover", (event) => {
      event.preventDefault();
      event.dataTransfer.dropEffect = this.input.disabled ? "none" : "copy";
    });
    this.dropzone.addEventListener("dragleave", (event) => {
      if (!this.dropzone.contains(event.relatedTarget)) setHover(false);
    });
    this.dropzone.addEventListener("drop", (event) => {
      event.preventDefault();
      setHover(false);
      if (this.input.disabled) return;
      const files = [...(event.dataTransfer?.files ?? [])];
      if (files.length) handler(files);
    });
  }

  /** handler(filters) runs when a worklist filter changes; see readFilters. */
  bindFilters(handler) {
    this.filtersForm.addEventListener("change", () => handler(this.readFilters()));
    this.filtersForm.addEventListener("submit", (event) => event.preventDefault());
  }

  /** {label, finding, modality, review_status, day, sort} as chosen in the worklist's filters. */
  readFilters() {
    return Object.fromEntries(new FormData(this.filtersForm));
  }

  /**
   * handler({action, label?, note}) for a review button or its shortcut; action "next"
   * asks for the next unreviewed record. optionsOf() gives {classes, canConfirm} of the
   * open record: the classes to correct to, and whether it has a class to confirm.
   */
  bindReview(handler, optionsOf) {
    this.reviewActions.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-review]");
      if (button && !button.disabled) {
        handler({ action: button.dataset.review, label: button.dataset.label, note: this.#note() });
      }
    });
    this.root.addEventListener("keydown", (event) => {
      if (event.repeat || !this.#reviewKeysApply(event.target)) return;
      const { classes, canConfirm } = optionsOf();
      const intent = shortcutFor(
        { ...pick(event, ["key", "ctrlKey", "metaKey", "altKey"]), targetTag: event.target.tagName },
        classes,
        { canConfirm },
      );
      if (!intent) return;
      event.preventDefault();
      handler({ ...intent, note: this.#note() });
    });
  }

  /** The filters that differ from the form's defaults, as an address query ("" when none). */
  filtersQuery() {
    const query = new URLSearchParams();
    for (const control of this.filtersForm.elements) {
      if (!control.name) continue;
      const fallback =
        control.tagName === "SELECT"
          ? ([...control.options].find((option) => option.defaultSelected) ?? control.options[0])?.value
          : control.defaultValue;
      if (control.value !== (fallback ?? "")) query.set(control.name, control.value);
    }
    return query.toString();
  }

  /** Set the filter controls from the address's query (unknown names and values ignored). */
  applyFilters(params) {
    for (const [name, value] of params) {
      const control = this.filtersForm.elements.namedItem(name);
      if (!control || control instanceof RadioNodeList) continue;
      if (control.tagName === "SELECT" && ![...control.options].some((o) => o.value === value)) continue;
      control.value = value;
    }
  }

  /**
   * handler(id) when a worklist row is clicked anywhere (not only its file name); j/k or the
   * arrow keys move between rows and Enter opens the focused one (its link).
   */
  bindRowOpen(handler) {
    this.recordsBody.addEventListener("click", (event) => {
      const row = event.target.closest("tr[data-record-id]");
      if (!row || event.target.closest("a, button")) return;
      handler(row.dataset.recordId);
    });
    this.root.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey || this.screens.workspace.hidden) return;
      if (this.fullscreen.isOn()) return; // the worklist is not on screen then
      const tag = event.target?.tagName ?? "";
      if (["INPUT", "TEXTAREA", "SELECT"].includes(tag)) return;
      const inList = this.recordsBody.contains(event.target);
      const onPage = event.target === this.root.body;
      if (!inList && !onPage) return;
      const step = { j: 1, ArrowDown: 1, k: -1, ArrowUp: -1 }[event.key];
      if (!step) return;
      const links = [...this.recordsBody.querySelectorAll("a.row-open")];
      if (!links.length) return;
      event.preventDefault();
      const at = links.indexOf(event.target.closest("tr")?.querySelector("a.row-open"));
      const selected = links.findIndex((link) => link.closest("tr").classList.contains("is-selected"));
      const from = at >= 0 ? at : selected;
      const next = from < 0 ? 0 : Math.min(links.length - 1, Math.max(0, from + step));
      links[next].focus();
    });
  }

  /**
   * handler({on}) when the heatmap is switched beside the image or with H (on the record
   * on screen only). The opacity slider recolours the map here, without asking again.
   */
  bindHeatmap(handler) {
    const toggle = () => {
      const button = this.result.querySelector("button[data-heatmap='toggle']");
      const card = this.result.querySelector(".result-card[data-record-id]");
      if (!button || button.disabled || !card) return;
      const on = button.getAttribute("aria-pressed") !== "true";
      this.heatmapControls = { ...this.heatmapControls, recordId: card.dataset.recordId, on };
      this.#syncHeatmapControls();
      handler({ on });
    };
    this.result.addEventListener("click", (event) => {
      if (event.target.closest("button[data-heatmap='toggle']")) toggle();
    });
    this.result.addEventListener("input", (event) => {
      if (!event.target.matches("[data-heatmap='opacity']")) return;
      this.heatmapControls = { ...this.heatmapControls, opacity: Number(event.target.value) / 100 };
      this.#syncHeatmapControls();
      this.#drawHeatmap();
    });
    this.root.addEventListener("keydown", (event) => {
      if (event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key !== "h" && event.key !== "H") return;
      if (["INPUT", "TEXTAREA", "SELECT"].includes(event.target?.tagName ?? "")) return;
      if (this.screens.workspace.hidden || this.recordsPanel.contains(event.target)) return;
      event.preventDefault();
      toggle();
    });
  }

  /**
   * The record view's own keys (shortcuts.js viewerShortcutFor), on the record on screen
   * only: F switches full screen here; ← and → ask handler(id) to open the study's previous
   * or next slice (a held arrow keeps stepping).
   */
  bindViewerKeys(handler) {
    this.root.addEventListener("keydown", (event) => {
      if (!this.#recordKeysApply(event.target)) return;
      const intent = viewerShortcutFor({
        ...pick(event, ["key", "ctrlKey", "metaKey", "altKey"]),
        targetTag: event.target.tagName,
      });
      if (!intent || (event.repeat && intent.action === "fullscreen")) return;
      if (intent.action === "fullscreen") {
        event.preventDefault();
        this.fullscreen.toggle();
        return;
      }
      const shown = this.shownRecord;
      const inStudy = shown && this.study.shows(shown.study_uid_hash, shown.id);
      const next = inStudy ? this.study.neighbour(shown.id, intent.step) : null;
      if (!next) return; // no study, or its first or last slice: the arrow does what it did
      event.preventDefault();
      handler(next);
    });
  }

  /** handler() when the reader asks to check the API again (after it was unreachable). */
  bindRetry(handler) {
    this.recordsBody.addEventListener("click", (event) => {
      if (event.target.closest("[data-action='retry']")) handler();
    });
  }

  /**
   * The id (a string) of the record whose result and image are on screen now, or null: a
   * review may act only on it. Read from the page itself, not from what was asked for.
   */
  reviewableRecordId() {
    if (this.screens.workspace.hidden) return null;
    const card = this.result.querySelector(".result-card[data-record-id]");
    const image = card?.querySelector(".viewer-frame img.result-img");
    if (!card || !image) return null;
    const drawn = (image.complete && image.naturalWidth > 0) || this.imageDrawnFor === card.dataset.recordId;
    if (!drawn) return null;
    const form = this.reviewActions.querySelector("form[data-record-id]");
    if (this.reviewPanel.hidden || !form || form.dataset.recordId !== card.dataset.recordId) return null;
    return card.dataset.recordId;
  }

  /** handler(kind) for "fhir" or "sr" export buttons of a PACS record. */
  bindExport(handler) {
    this.result.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-export]");
      if (button) handler(button.dataset.export);
    });
  }

  bindDashboardRefresh(handler) {
    this.dashboardRefresh.addEventListener("click", () => handler());
  }

  /** handler(direction) with direction "newer" or "older". */
  bindPageTurn(handler) {
    this.newerButton.addEventListener("click", () => handler("newer"));
    this.olderButton.addEventListener("click", () => handler("older"));
  }

  bindRefresh(handler) {
    this.refreshButton.addEventListener("click", () => handler());
  }

  /** handler(key) runs when the sign-in form is submitted with a key. */
  bindSignIn(handler) {
    this.signInForm.addEventListener("submit", (event) => {
      event.preventDefault(); // the page never navigates (and its CSP forbids form targets)
      const key = this.keyInput.value.trim();
      // The key leaves the DOM at once; only api.js keeps it.
      this.keyInput.value = "";
      if (key) handler(key);
    });
  }

  bindSignOut(handler) {
    this.signOutButton.addEventListener("click", () => handler());
  }

  // ---- rendering ---------------------------------------------------------------------

  showApiUrl(url) {
    this.apiUrlText.textContent = url;
  }

  /** state: "checking" | "online" | "offline" | "blocked" | "unhealthy". */
  setApiStatus(state) {
    const text = {
      checking: "Checking API…",
      online: "API online",
      offline: "API offline",
      blocked: "API blocked (CORS)",
      unhealthy: "API unhealthy",
    };
    this.apiStatus.dataset.state = state;
    this.apiStatusText.textContent = text[state] ?? state;
  }

  /** me: {name, role} of the signed-in key. */
  showSignedIn(me) {
    this.root.body.dataset.role = me.role;
    this.sessionWho.innerHTML = sessionTemplate(me);
    this.session.hidden = false;
    this.signInForm.hidden = true;
  }

  showSignedOut() {
    delete this.root.body.dataset.role;
    this.hideReview();
    this.queue.innerHTML = "";
    this.dashboard.innerHTML = "";
    this.sessionWho.innerHTML = "";
    this.session.hidden = true;
    this.signInForm.hidden = false;
    this.keyInput.focus();
  }

  setBusy(busy) {
    this.input.disabled = busy;
    this.dropzone.dataset.state = busy ? "busy" : "idle";
    this.dropzone.setAttribute("aria-disabled", String(busy));
    this.result.setAttribute("aria-busy", String(busy));
  }

  renderPending(file) {
    this.#revokePreview();
    if (PREVIEWABLE_TYPES.has(file.type)) this.previewUrl = URL.createObjectURL(file);
    this.result.innerHTML = pendingTemplate({ filename: file.name, previewUrl: this.previewUrl });
    this.uploadStatus.textContent = `Classifying ${file.name}…`;
  }

  /** imageBlob: the record's image once fetched (it needs the key, so no plain URL). */
  renderResult(record, imageBlob = null, { imageFailed = false } = {}) {
    const hadFocus = this.result.contains(this.root.activeElement);
    const kept = this.#viewerStateFor(record);
    // A record's image never changes: re-rendering the record on screen (after a review,
    // say) keeps the picture already drawn, so review stays open without a gap.
    const sameImage = !imageBlob && !imageFailed && this.showsImageOf(record.id);
    if (!sameImage) {
      this.#revokePreview();
      if (imageBlob) this.previewUrl = URL.createObjectURL(imageBlob);
    }
    this.shownRecord = record;
    this.result.innerHTML = resultTemplate(record, {
      imageSrc: this.previewUrl,
      modelCard: this.modelCards.get(String(record.model_version)),
    });
    this.#drawBars(this.result);
    const viewer = this.result.querySelector(".viewer");
    this.viewer = viewer ? new ImageViewer(viewer, this.root) : null;
    if (this.viewer && kept) this.viewer.restore(kept);
    this.fullscreen.sync();
    this.#syncHeatmapControls();
    this.#placeHeatmap(record);
    // Review opens once this record's image is drawn (and stays shut if it cannot be).
    const image = this.result.querySelector(".viewer-frame img.result-img");
    image?.addEventListener("load", () => {
      if (this.shownRecord === record) this.imageDrawnFor = String(record.id);
      this.syncReviewState();
    });
    if (imageFailed) this.#showImageFailed();
    this.syncReviewState();
    // Re-rendering with the image must not lose focus (nor move the page).
    if (hadFocus) this.result.querySelector(".result-headline")?.focus({ preventScroll: true });
  }

  /** A model's card, once fetched: its notes go beside its results, the one shown too. */
  showModelCard(card) {
    this.modelCards.set(String(card.version), card);
    const record = this.shownRecord;
    const slot = this.result.querySelector('[data-slot="limitation"]');
    if (record && slot && String(record.model_version) === String(card.version)) {
      slot.innerHTML = limitationTemplate(record, card);
    }
  }

  /** An upload that made no record: the panel says so, and nothing here can be reviewed. */
  renderFailedUpload({ filename, message }) {
    this.renderEmptyResult();
    this.result.innerHTML = failedUploadTemplate({ filename, message });
    this.uploadStatus.textContent = "";
  }

  renderEmptyResult() {
    // Nothing to look at: full screen and the study's slices go with the record.
    this.fullscreen.exit();
    this.study.clear();
    this.shownRecord = null;
    this.#revokePreview();
    this.hideHeatmap();
    this.result.innerHTML = emptyResultTemplate();
    this.panels.clear();
    this.hideReview();
  }

  /** The heatmap panels for a newly opened record; any previous overlay goes. */
  renderRecordPanels(record) {
    this.hideHeatmap();
    this.heatmapControls = { recordId: null, on: false, opacity: DEFAULT_HEATMAP_OPACITY, off: false };
    this.panels.render(record);
  }

  /**
   * Lay the map (the API's raw 16-bit greyscale PNG) over the record's image in the viridis
   * colour map, zoomed and panned with it; the slice underneath keeps its window/level.
   */
  async showHeatmap(recordId, mapBlob) {
    const bitmap = await createImageBitmap(mapBlob);
    const canvas = this.root.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    bitmap.close();
    const map = context.getImageData(0, 0, canvas.width, canvas.height);
    // Switched off, or another record opened, while the map was decoded.
    const { recordId: shownId, on } = this.heatmapControls;
    if (!on || shownId !== String(recordId)) return;
    this.hideHeatmap();
    this.heatmap = { recordId: String(recordId), map };
    const card = this.result.querySelector(".result-card");
    if (card) this.#placeHeatmap({ id: card.dataset.recordId });
  }

  hideHeatmap() {
    this.result.querySelector(".heatmap-layer")?.remove();
    this.heatmap = null;
  }

  /** The switch is off and stays off for this record (no map can be made for it). */
  disableHeatmap(recordId) {
    this.heatmapControls = { recordId: String(recordId), on: false, opacity: this.heatmapControls.opacity, off: true };
    this.hideHeatmap();
    this.#syncHeatmapControls();
  }

  /** Progress or failure of the overlay itself, beside its switch; "" clears it. */
  setHeatmapStatus(message) {
    const status = this.result.querySelector("[data-testid='heatmap-status']");
    if (status) status.textContent = message;
  }

  /** screen: "workspace" or "dashboard"; the record view is part of the workspace. */
  showScreen(screen) {
    if (screen !== "workspace") this.fullscreen.exit();
    for (const [name, element] of Object.entries(this.screens)) element.hidden = name !== screen;
    for (const link of this.navLinks) {
      if (link.dataset.screen === screen) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  /** items: [{name, state: queued|uploading|done|failed, record?, message?}]. */
  renderQueue(items) {
    this.queue.innerHTML = uploadQueueTemplate(items);
    const done = items.filter((item) => item.state === "done" || item.state === "failed").length;
    this.uploadStatus.textContent =
      done < items.length ? `Classifying ${done + 1} of ${items.length}…` : "";
  }

  /** The review form (when the role may review) and the record's history. */
  renderReview({ record, reviews, classes, canReview, undo = null }) {
    const keepNote = this.#note();
    const sameRecord = this.reviewActions.firstElementChild?.dataset.recordId === String(record.id);
    this.reviewActions.innerHTML = canReview ? reviewFormTemplate(record, classes, { undo }) : "";
    // A note typed before a re-render, or before the key was refused and signed in again.
    const note = (sameRecord && keepNote) || this.noteDrafts.get(String(record.id)) || "";
    const textarea = this.reviewActions.querySelector("textarea");
    if (textarea && note) textarea.value = note;
    this.reviewHistory.innerHTML = reviewHistoryTemplate(reviews);
    this.reviewPanel.hidden = false;
    this.syncReviewState();
  }

  /**
   * Enable the review buttons only while their record's image is on screen; otherwise say
   * why they are off. Also run when the image arrives or fails.
   */
  syncReviewState() {
    const form = this.reviewActions.querySelector("form[data-record-id]");
    if (!form) return;
    const open = this.reviewableRecordId() === form.dataset.recordId;
    for (const button of form.querySelectorAll("button[data-review]")) {
      if (button.dataset.review === "next") continue;
      button.disabled = !open || "same" in button.dataset;
    }
    const off = form.querySelector("[data-testid='review-off']");
    if (off) off.hidden = open;
  }

  /** Typed notes are dropped when the reader signs out on purpose. */
  forgetNoteDrafts() {
    this.noteDrafts.clear();
  }

  /** Has this record's own image been drawn (not only its result)? */
  showsImageOf(id) {
    return Boolean(this.previewUrl) && this.imageDrawnFor === String(id) && String(this.shownRecord?.id) === String(id);
  }

  /** Is the review panel already showing this record's form? */
  reviewPanelShows(id) {
    const form = this.reviewActions.querySelector("form[data-record-id]");
    return !this.reviewPanel.hidden && form?.dataset.recordId === String(id);
  }

  hideReview() {
    this.#keepNoteDraft();
    this.reviewPanel.hidden = true;
    this.reviewActions.innerHTML = "";
    this.reviewHistory.innerHTML = "";
  }

  clearReviewNote(recordId) {
    this.noteDrafts.delete(String(recordId));
    const note = this.reviewActions.querySelector("textarea");
    if (note) note.value = "";
  }

  renderDashboard(stats) {
    this.dashboard.innerHTML = dashboardTemplate(stats);
    this.#drawBars(this.dashboard);
  }

  renderDashboardMessage(message) {
    this.dashboard.innerHTML = `<p class="muted" data-testid="dashboard-message"></p>`;
    this.dashboard.firstElementChild.textContent = message;
  }

  /** Hand a fetched file to the browser as a download named `filename`. */
  saveBlob(blob, filename) {
    const url = URL.createObjectURL(blob);
    const link = this.root.createElement("a");
    link.href = url;
    link.download = filename;
    link.hidden = true;
    this.root.body.append(link);
    link.click();
    link.remove();
    // Revoked later: the download starts asynchronously from the URL.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  /** Focus the answer and bring the record (image, review, answer) into view. */
  focusResult() {
    this.result.querySelector(".result-headline")?.focus({ preventScroll: true });
    this.result.closest(".result-panel")?.scrollIntoView({ block: "start" });
  }

  renderRecords({ records, offset, count, selectedId }) {
    this.recordsBody.innerHTML = recordRowsTemplate(records, { selectedId });
    this.rangeText.textContent = formatRange(offset, records.length, count);
    this.newerButton.disabled = offset === 0;
    this.olderButton.disabled = offset + records.length >= count;
    this.recordsPanel.setAttribute("aria-busy", "false");
  }

  renderRecordsError(message, { retry = false } = {}) {
    this.recordsBody.innerHTML = recordsMessageRowTemplate(message, { retry });
    this.rangeText.textContent = "—";
    this.newerButton.disabled = true;
    this.olderButton.disabled = true;
    this.recordsPanel.setAttribute("aria-busy", "false");
  }

  setRecordsLoading() {
    this.recordsPanel.setAttribute("aria-busy", "true");
  }

  markSelectedRecord(id) {
    for (const row of this.recordsBody.querySelectorAll("tr[data-record-id]")) {
      const selected = row.dataset.recordId === String(id);
      row.classList.toggle("is-selected", selected);
      if (selected) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    }
  }

  /** A polite status line under the upload area (successes, progress). */
  showNotice(message) {
    this.uploadStatus.textContent = message;
  }

  /** An error the reader must see; goes into the role="alert" region. */
  showError(message) {
    this.alertRegion.innerHTML = errorTemplate(message);
    this.uploadStatus.textContent = "";
  }

  clearError() {
    this.alertRegion.innerHTML = "";
  }

  // ---- internals ---------------------------------------------------------------------

  #note() {
    return this.reviewActions.querySelector("textarea")?.value.trim() ?? "";
  }

  #keepNoteDraft() {
    const form = this.reviewActions.querySelector("form[data-record-id]");
    const note = this.#note();
    if (form && note) this.noteDrafts.set(form.dataset.recordId, note);
  }

  // Review keys act on the record on screen only: in the workspace, with a record and its
  // image shown, and with focus on the page, the record (its image, review, study's slices)
  // or its panels, not on a control elsewhere (Refresh, the worklist, the header) nor in a
  // field.
  #reviewKeysApply(target) {
    if (this.reviewableRecordId() === null) return false;
    if (!target || target === this.root.body || target === this.root.documentElement) return true;
    // The result panel holds the record, its review and its study's slices.
    if (this.resultPanel.contains(target)) return true;
    return this.panels.container.contains(target);
  }

  // The record view's keys (F, the slice arrows) act while a record is on screen in the
  // workspace, with focus on the page or the record's own panels, never in a field nor in
  // the worklist (whose arrows move between rows) or the header.
  #recordKeysApply(target) {
    if (this.screens.workspace.hidden || !this.result.querySelector(".result-card[data-record-id]")) return false;
    if (!target || target === this.root.body || target === this.root.documentElement) return true;
    return this.resultPanel.contains(target) || this.panels.container.contains(target);
  }

  // The reader's window/level (with zoom and pan) survive a re-render of the same record;
  // the window/level alone carries over to another slice of the same study, as in a PACS
  // viewer. Any other record starts from the defaults.
  #viewerStateFor(record) {
    const shown = this.shownRecord;
    if (!this.viewer || !shown || !record) return null;
    if (String(shown.id) === String(record.id)) return this.viewer.state();
    if (shown.study_uid_hash && shown.study_uid_hash === record.study_uid_hash) {
      const { window, level } = this.viewer.state();
      return { window, level };
    }
    return null;
  }

  // The switch beside the image (re-rendered with it); the viewer fits its new frame size.
  #bindFullscreen() {
    this.result.addEventListener("click", (event) => {
      if (event.target.closest("button[data-viewer='fullscreen']")) this.fullscreen.toggle();
    });
    this.fullscreen.bindChange(() => this.viewer?.applyTransform());
  }

  #showImageFailed() {
    const frame = this.result.querySelector(".viewer-frame");
    if (!frame) return;
    frame.querySelector(".result-img, .image-placeholder")?.remove();
    const placeholder = this.root.createElement("div");
    placeholder.className = "image-placeholder";
    placeholder.dataset.testid = "image-failed";
    placeholder.textContent = "Image unavailable: review is off until it loads";
    frame.prepend(placeholder);
  }

  // Bars are sized here, through the CSSOM, because the page's CSP forbids inline styles.
  #drawBars(container) {
    for (const fill of container.querySelectorAll(".prob-fill[data-fraction]")) {
      fill.style.setProperty("--fraction", fill.dataset.fraction);
    }
  }

  // The result is re-rendered when its image arrives; the overlay must survive that.
  #placeHeatmap(record) {
    const frame = this.result.querySelector(".viewer-frame");
    if (!frame || this.heatmap?.recordId !== String(record.id)) return;
    frame.querySelector(".heatmap-layer")?.remove();
    const layer = this.root.createElement("canvas");
    layer.className = "heatmap-layer";
    layer.dataset.testid = "heatmap-overlay";
    layer.setAttribute("role", "img");
    layer.setAttribute("aria-label", `Grad-CAM heatmap over record ${record.id}`);
    layer.width = this.heatmap.map.width;
    layer.height = this.heatmap.map.height;
    frame.append(layer);
    this.#drawHeatmap();
  }

  #drawHeatmap() {
    const layer = this.result.querySelector(".heatmap-layer");
    if (!layer || !this.heatmap) return;
    const { map } = this.heatmap;
    const pixels = colouriseHeatmap(map.data, this.heatmapControls.opacity);
    layer.getContext("2d").putImageData(new ImageData(pixels, map.width, map.height), 0, 0);
    layer.dataset.opacity = String(this.heatmapControls.opacity);
  }

  // The switch, slider and scale as this record's choice stands (a re-render resets them).
  #syncHeatmapControls() {
    const card = this.result.querySelector(".result-card[data-record-id]");
    const button = this.result.querySelector("button[data-heatmap='toggle']");
    if (!card || !button) return;
    if (this.heatmapControls.recordId !== card.dataset.recordId) {
      this.heatmapControls = { recordId: card.dataset.recordId, on: false, opacity: DEFAULT_HEATMAP_OPACITY, off: false };
    }
    const { on, opacity, off } = this.heatmapControls;
    const slider = this.result.querySelector("[data-heatmap='opacity']");
    if (off) {
      button.disabled = true;
      if (slider) slider.disabled = true;
    }
    button.setAttribute("aria-pressed", String(on && !off));
    if (slider) slider.value = String(Math.round(opacity * 100));
    const output = this.result.querySelector("[data-testid='heatmap-opacity-value']");
    if (output) output.value = `${Math.round(opacity * 100)}%`;
    const scale = this.result.querySelector("[data-testid='heatmap-scale']");
    if (scale) scale.hidden = !(on && !off);
  }

  #revokePreview() {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = "";
    this.imageDrawnFor = null;
  }

  // A file dropped beside the drop zone would otherwise make the browser navigate to
  // it and lose the session's state.
  #keepDroppedFilesInThePage() {
    const view = this.root.defaultView ?? window;
    for (const type of ["dragover", "drop"]) {
      view.addEventListener(type, (event) => {
        if (!this.dropzone.contains(event.target)) event.preventDefault();
      });
    }
  }

  #bindAlertDismiss() {
    this.alertRegion.addEventListener("click", (event) => {
      if (event.target.closest("[data-action='dismiss-error']")) {
        this.clearError();
        this.input.focus();
      }
    });
  }

  // The stored image may be gone or unreadable; show a placeholder, not a broken icon.
  #bindImageFallback() {
    this.result.addEventListener(
      "error",
      (event) => {
        if (!(event.target instanceof HTMLImageElement)) return;
        const placeholder = this.root.createElement("div");
        placeholder.className = "image-placeholder";
        placeholder.dataset.testid = "image-failed";
        placeholder.textContent = "Image unavailable: review is off until it loads";
        event.target.replaceWith(placeholder);
        this.syncReviewState();
      },
      true,
    );
  }

  #bindThemeToggle() {
    const html = this.root.documentElement;
    const apply = (theme) => {
      html.dataset.theme = theme;
      this.themeToggle.setAttribute("aria-pressed", String(theme === "light"));
    };
    let saved = null;
    try {
      saved = localStorage.getItem(THEME_KEY);
    } catch {
      // Storage can be blocked; the dark default still works.
    }
    apply(saved === "light" ? "light" : "dark");
    this.themeToggle.addEventListener("click", () => {
      const next = html.dataset.theme === "light" ? "dark" : "light";
      apply(next);
      try {
        localStorage.setItem(THEME_KEY, next);
      } catch {
        // Not persisting the choice is harmless.
      }
    });
  }
}

function pick(object, names) {
  return Object.fromEntries(names.map((name) => [name, object[name]]));
}
