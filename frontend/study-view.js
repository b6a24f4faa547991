// The DOM of the study strip (#study-strip): the other slices of the open record's DICOM
// study beside its image. Part of the view (view.js creates it); it renders what the
// controller hands it and reports the reader's choices through callbacks. The strip lies
// outside the re-rendered result, so its thumbnails stay while slices of one study open.
import { neighbourSlice } from "./study.js";
import { studyLeadTemplate, studyMessageTemplate, studyStripTemplate } from "./study-templates.js";

export class StudyStripView {
  constructor(strip) {
    this.strip = strip;
    this.study = null; // the study hash shown, or null
    this.records = []; // its slices, as listed
    this.thumbnails = new Map(); // record id → blob: URL of its image
    this.asked = new Set(); // record ids whose thumbnail was asked for
    this.onThumbnailNeeded = () => {};
    // Thumbnails are fetched as they scroll into sight: a study may have hundreds of slices.
    this.observer =
      typeof IntersectionObserver === "function"
        ? new IntersectionObserver((entries) => this.#sighted(entries), { rootMargin: "160px" })
        : null;
  }

  /** handler(id) when a slice's thumbnail comes into sight and has no picture yet. */
  bindThumbnailNeeded(handler) {
    this.onThumbnailNeeded = handler;
  }

  /** Does the strip show `study`, with record `id` among its slices? */
  shows(study, id) {
    if (!study || this.strip.hidden || this.study !== study) return false;
    return id === undefined || Boolean(this.#link(id));
  }

  /** records: every slice of `study` (arrival order); count: how many the API holds. */
  render({ study, records, count, currentId }) {
    const kept = this.study === study ? this.thumbnails : new Map();
    if (kept !== this.thumbnails) this.#forgetThumbnails();
    this.study = study;
    this.records = records;
    this.observer?.disconnect();
    this.asked = new Set();
    this.strip.innerHTML = studyStripTemplate({ records, count, currentId });
    this.strip.hidden = false;
    this.thumbnails = new Map();
    for (const slot of this.strip.querySelectorAll("[data-study-thumb]")) {
      const id = slot.dataset.studyThumb;
      const url = kept.get(id);
      if (url) {
        this.thumbnails.set(id, url);
        slot.replaceChildren(this.#image(url));
      } else if (this.observer) this.observer.observe(slot);
      else this.#ask(id);
    }
    // Pictures of slices that left the study (deleted) are no longer needed.
    for (const [id, url] of kept) if (!this.thumbnails.has(id)) URL.revokeObjectURL(url);
    this.#reveal(currentId);
  }

  /**
   * The slice on screen is marked (and scrolled into the strip's sight), the others not; the
   * study-level result says whether its slice is the one on screen. The rest stays as it is
   * (thumbnails, the strip's scroll).
   */
  markCurrent(id) {
    const lead = this.strip.querySelector("[data-testid='study-lead']");
    if (lead) lead.outerHTML = studyLeadTemplate(this.records, id);
    for (const link of this.strip.querySelectorAll("a[data-testid='study-slice']")) {
      const current = link.dataset.recordId === String(id);
      link.classList.toggle("is-current", current);
      if (current) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    }
    this.#reveal(id);
  }

  /** A slice's image, once fetched; ignored when the strip has moved to another study. */
  showThumbnail(id, blob) {
    const key = String(id);
    const slot = this.strip.querySelector(`[data-study-thumb='${CSS.escape(key)}']`);
    if (!slot || this.thumbnails.has(key)) return;
    const url = URL.createObjectURL(blob);
    this.thumbnails.set(key, url);
    slot.replaceChildren(this.#image(url));
  }

  /** The slice `step` places from `id` in the strip's order (-1 before, 1 after), or null. */
  neighbour(id, step) {
    const links = [...this.strip.querySelectorAll("a[data-testid='study-slice']")];
    const found = neighbourSlice(
      links.map((link) => ({ id: link.dataset.recordId })),
      id,
      step,
    );
    return found?.id ?? null;
  }

  renderMessage(study, message) {
    this.clear();
    this.study = study;
    this.strip.innerHTML = studyMessageTemplate(message);
    this.strip.hidden = false;
  }

  /** No study: the strip goes (a record without one, or none on screen). */
  clear() {
    this.observer?.disconnect();
    this.#forgetThumbnails();
    this.study = null;
    this.records = [];
    this.asked = new Set();
    this.strip.hidden = true;
    this.strip.innerHTML = "";
  }

  #link(id) {
    return this.strip.querySelector(`a[data-testid='study-slice'][data-record-id='${CSS.escape(String(id))}']`);
  }

  #sighted(entries) {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      this.observer.unobserve(entry.target);
      this.#ask(entry.target.dataset.studyThumb);
    }
  }

  #ask(id) {
    if (this.asked.has(id) || this.thumbnails.has(id)) return;
    this.asked.add(id);
    this.onThumbnailNeeded(id);
  }

  #image(url) {
    const image = this.strip.ownerDocument.createElement("img");
    image.src = url;
    image.alt = "";
    image.draggable = false;
    image.dataset.testid = "study-thumb-image";
    return image;
  }

  // Scroll the strip itself (never the page) so that the slice on screen is in its sight.
  #reveal(id) {
    const link = this.#link(id);
    if (!link) return;
    const lists = this.strip.querySelector(".study-lists");
    if (!lists) return;
    // .study-lists is positioned (styles.css): the link's offsets are within it.
    const top = link.offsetTop;
    const left = link.offsetLeft;
    if (top < lists.scrollTop || top + link.offsetHeight > lists.scrollTop + lists.clientHeight) {
      lists.scrollTop = Math.max(0, top - (lists.clientHeight - link.offsetHeight) / 2);
    }
    if (left < lists.scrollLeft || left + link.offsetWidth > lists.scrollLeft + lists.clientWidth) {
      lists.scrollLeft = Math.max(0, left - (lists.clientWidth - link.offsetWidth) / 2);
    }
  }

  #forgetThumbnails() {
    for (const url of this.thumbnails.values()) URL.revokeObjectURL(url);
    this.thumbnails = new Map();
  }
}
