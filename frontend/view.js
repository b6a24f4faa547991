// The only module that touches the DOM. It renders what the controller hands it and
// reports user intent (a file chosen, a record opened, a page turned) through callbacks.
import { formatRange } from "./format.js";
import {
  emptyResultTemplate,
  errorTemplate,
  pendingTemplate,
  recordRowsTemplate,
  recordsMessageRowTemplate,
  resultTemplate,
  sessionTemplate,
} from "./templates.js";

const PREVIEWABLE_TYPES = new Set(["image/png", "image/jpeg"]);
const THEME_KEY = "medimg.theme";

export class View {
  constructor(root = document) {
    this.root = root;
    this.input = root.querySelector("#upload-input");
    this.dropzone = root.querySelector("#dropzone");
    this.uploadStatus = root.querySelector("#upload-status");
    this.result = root.querySelector("#result");
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
    this.previewUrl = "";

    this.#keepDroppedFilesInThePage();
    this.#bindAlertDismiss();
    this.#bindImageFallback();
    this.#bindThemeToggle();
  }

  // ---- user intent -------------------------------------------------------------------

  /** handler(file) runs for a picked or dropped file. */
  bindFileChosen(handler) {
    this.input.addEventListener("change", () => {
      const [file] = this.input.files;
      // Reset so that choosing the same file again still fires "change".
      this.input.value = "";
      if (file) handler(file);
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
      if (files.length > 1) {
        this.showError("Drop one image at a time.");
        return;
      }
      if (files.length === 1) handler(files[0]);
    });
  }

  /** handler(id) runs when a record in the list is opened. */
  bindOpenRecord(handler) {
    this.recordsBody.addEventListener("click", (event) => {
      const button = event.target.closest("button.row-open");
      if (button) handler(button.dataset.recordId);
    });
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
    this.sessionWho.innerHTML = sessionTemplate(me);
    this.session.hidden = false;
    this.signInForm.hidden = true;
  }

  showSignedOut() {
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
  renderResult(record, imageBlob = null) {
    const hadFocus = this.result.contains(this.root.activeElement);
    this.#revokePreview();
    if (imageBlob) this.previewUrl = URL.createObjectURL(imageBlob);
    this.result.innerHTML = resultTemplate(record, { imageSrc: this.previewUrl });
    this.#drawBars(this.result);
    if (hadFocus) this.focusResult(); // re-rendering with the image must not lose focus
  }

  renderEmptyResult() {
    this.#revokePreview();
    this.result.innerHTML = emptyResultTemplate();
  }

  focusResult() {
    this.result.querySelector(".result-label")?.focus();
  }

  renderRecords({ records, offset, count, selectedId }) {
    this.recordsBody.innerHTML = recordRowsTemplate(records, { selectedId });
    this.rangeText.textContent = formatRange(offset, records.length, count);
    this.newerButton.disabled = offset === 0;
    this.olderButton.disabled = offset + records.length >= count;
    this.recordsPanel.setAttribute("aria-busy", "false");
  }

  renderRecordsError(message) {
    this.recordsBody.innerHTML = recordsMessageRowTemplate(message);
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

  // Bars are sized here, through the CSSOM, because the page's CSP forbids inline styles.
  #drawBars(container) {
    for (const fill of container.querySelectorAll(".prob-fill[data-fraction]")) {
      fill.style.setProperty("--fraction", fill.dataset.fraction);
    }
  }

  #revokePreview() {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = "";
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
        placeholder.textContent = "Image unavailable";
        event.target.replaceWith(placeholder);
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
