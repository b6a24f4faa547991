// Full screen for the record view: the Fullscreen API on the result panel, which holds the
// image viewer with the study's slices and the review beside it. The panel goes full screen,
// not the .viewer inside it: the viewer is re-rendered for every record shown (a slice
// opened, a review saved), and an element that leaves the page leaves full screen with it.
// The buttons that switch it (button[data-viewer='fullscreen']) are re-rendered too, so
// their state is synced from here after each render and on every change.

export class FullScreen {
  /** element: what goes full screen; onRefused(message) when the browser says no. */
  constructor(element, document, { onRefused = () => {} } = {}) {
    this.element = element;
    this.document = document;
    this.onRefused = onRefused;
    this.onChange = () => {};
    document.addEventListener("fullscreenchange", () => {
      this.sync();
      this.onChange(this.isOn());
    });
    // A browser leaves full screen on Esc by itself; where it hands the key to the page
    // instead (headless, or a kiosk), the page does what the reader expects.
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.isOn()) {
        event.preventDefault();
        this.exit();
      }
    });
  }

  /** handler(on) after each change, once the element has its new size. */
  bindChange(handler) {
    this.onChange = handler;
  }

  isOn() {
    return this.document.fullscreenElement === this.element;
  }

  available() {
    return Boolean(this.document.fullscreenEnabled) && typeof this.element.requestFullscreen === "function";
  }

  async toggle() {
    if (this.isOn()) {
      await this.exit();
      return;
    }
    if (!this.available()) {
      this.onRefused("Full screen is not available in this browser.");
      return;
    }
    try {
      await this.element.requestFullscreen({ navigationUI: "hide" });
    } catch (error) {
      this.onRefused(`Full screen was refused: ${error?.message ?? error}.`);
    }
  }

  async exit() {
    if (!this.isOn()) return;
    try {
      await this.document.exitFullscreen();
    } catch {
      // Already left (Esc raced the button): nothing to undo.
    }
  }

  /** The switches say (pressed) whether full screen is on, and are off where it cannot be had. */
  sync() {
    const on = this.isOn();
    for (const button of this.element.querySelectorAll("button[data-viewer='fullscreen']")) {
      button.setAttribute("aria-pressed", String(on));
      button.disabled = !this.available();
    }
  }
}
