// The DOM of the panels under an open record (#record-panels): the heatmap's verdict, and
// similar past cases with their thumbnails and a side preview. Part of the view (view.js
// creates it); it renders what the controller hands it and reports the reader's choices
// through callbacks. The heatmap's switch lies beside the image (view.js).
import {
  explanationTemplate,
  panelMessageTemplate,
  recordPanelsTemplate,
  similarCasesTemplate,
  similarPreviewTemplate,
} from "./trust-templates.js";

export class RecordPanelsView {
  constructor(container) {
    this.container = container;
    this.cases = new Map(); // record id → the similar case shown
    this.thumbnails = new Map(); // record id → blob: URL of its image
  }

  /**
   * handler(id) when a similar case is chosen for the side preview; the preview's own link
   * opens the record itself. Escape or Close shuts the preview.
   */
  bindSimilarPreview(handler) {
    this.container.addEventListener("click", (event) => {
      const open = event.target.closest("button[data-similar-preview]");
      if (open) {
        handler(open.dataset.similarPreview);
        return;
      }
      if (event.target.closest("[data-similar-close]")) this.closeSimilarPreview();
    });
    this.container.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.#preview() && !this.#preview().hidden) {
        event.preventDefault();
        this.closeSimilarPreview();
      }
    });
  }

  render(record) {
    this.#forgetThumbnails();
    this.container.innerHTML = recordPanelsTemplate(record);
  }

  clear() {
    this.#forgetThumbnails();
    this.container.innerHTML = "";
  }

  renderExplanation(explanation, record) {
    this.#fill("explanation", explanationTemplate(explanation, record));
  }

  /** The map cannot be had (e.g. a model without explanations): say why. */
  renderExplanationUnavailable(message) {
    this.#fill("explanation", panelMessageTemplate(message));
  }

  renderSimilar(answer) {
    this.#forgetThumbnails();
    this.cases = new Map((answer?.data ?? []).map((item) => [String(item.record.id), item]));
    this.#fill("similar-cases", similarCasesTemplate(answer));
  }

  renderSimilarMessage(message) {
    this.#fill("similar-cases", panelMessageTemplate(message));
  }

  /** A case's image, once fetched: its thumbnail, and the preview's picture if it is open. */
  showSimilarThumbnail(id, blob) {
    const key = String(id);
    const slot = this.container.querySelector(
      `[data-testid='similar-case'][data-record-id='${CSS.escape(key)}'] .similar-thumb`,
    );
    if (!slot || this.thumbnails.has(key)) return;
    const url = URL.createObjectURL(blob);
    this.thumbnails.set(key, url);
    const image = this.container.ownerDocument.createElement("img");
    image.src = url;
    image.alt = "";
    image.dataset.testid = "similar-thumb-image";
    slot.replaceChildren(image);
    const card = this.#preview()?.querySelector(`[data-record-id='${CSS.escape(key)}']`);
    if (card) this.showSimilarPreview(key);
  }

  /** The side preview of case `id`; the record on screen stays as it is. */
  showSimilarPreview(id) {
    const key = String(id);
    const item = this.cases.get(key);
    const preview = this.#preview();
    if (!item || !preview) return;
    preview.innerHTML = similarPreviewTemplate(item, { imageSrc: this.thumbnails.get(key) ?? "" });
    preview.hidden = false;
    for (const button of this.container.querySelectorAll("button[data-similar-preview]")) {
      button.setAttribute("aria-expanded", String(button.dataset.similarPreview === key));
    }
  }

  closeSimilarPreview() {
    const preview = this.#preview();
    if (!preview || preview.hidden) return;
    const open = this.container.querySelector("button[data-similar-preview][aria-expanded='true']");
    preview.hidden = true;
    preview.innerHTML = "";
    open?.setAttribute("aria-expanded", "false");
    open?.focus();
  }

  #preview() {
    return this.container.querySelector("[data-testid='similar-preview']");
  }

  #forgetThumbnails() {
    for (const url of this.thumbnails.values()) URL.revokeObjectURL(url);
    this.thumbnails = new Map();
  }

  #fill(testId, html) {
    const slot = this.container.querySelector(`[data-testid='${testId}']`);
    if (slot) slot.innerHTML = html;
  }
}
