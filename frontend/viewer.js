// Zoom, pan and window/level for the record's image. Owns only the .viewer it is given;
// the numbers come from imaging.js. Styles are set through the CSSOM (the CSP forbids
// inline style attributes) and the window/level through the page's SVG filter, which acts
// on the slice only: a heatmap layer above it keeps its colours while the window changes.
// A drag sets window/level (as in a PACS viewer); Shift+drag, or the middle button, pans.
import {
  DEFAULT_LEVEL,
  DEFAULT_WINDOW,
  WINDOW_PRESETS,
  ZOOM_MIN,
  clampPan,
  clampWindowLevel,
  clampZoom,
  dragWindowLevel,
  stepZoom,
  windowLevelText,
  windowLevelTransfer,
} from "./imaging.js";

export class ImageViewer {
  constructor(viewer, document) {
    this.viewer = viewer;
    this.frame = viewer.querySelector(".viewer-frame");
    this.zoomText = viewer.querySelector(".viewer-zoom");
    this.windowInput = viewer.querySelector("[data-viewer='window']");
    this.levelInput = viewer.querySelector("[data-viewer='level']");
    this.valuesText = viewer.querySelector("[data-testid='viewer-wl-values']");
    this.transfer = [...document.querySelectorAll("#window-level feComponentTransfer > *")];
    this.scale = ZOOM_MIN;
    this.pan = { x: 0, y: 0 };
    this.#bindControls();
    this.#bindWheel();
    this.#bindDrag();
    this.applyWindowLevel();
    this.applyTransform();
  }

  reset() {
    this.scale = ZOOM_MIN;
    this.pan = { x: 0, y: 0 };
    this.setWindowLevel({ window: DEFAULT_WINDOW, level: DEFAULT_LEVEL });
    this.applyTransform();
  }

  /**
   * What the reader has set: {window, level, scale, pan}. The view hands it to the viewer of
   * the next render (the same record re-rendered, or another slice of its study) so that a
   * saved review or a slice step keeps the window the reader chose.
   */
  state() {
    return { ...this.windowLevel(), scale: this.scale, pan: { ...this.pan } };
  }

  /** Put back a state(); scale and pan default to the whole image. */
  restore({ window, level, scale = ZOOM_MIN, pan = { x: 0, y: 0 } }) {
    this.scale = clampZoom(scale);
    this.pan = { x: Number(pan.x) || 0, y: Number(pan.y) || 0 };
    this.setWindowLevel({ window, level });
    this.applyTransform();
  }

  /** {window, level} as the sliders stand. */
  windowLevel() {
    return { window: Number(this.windowInput.value), level: Number(this.levelInput.value) };
  }

  setWindowLevel(values) {
    const { window, level } = clampWindowLevel(values);
    this.windowInput.value = String(window);
    this.levelInput.value = String(level);
    this.applyWindowLevel();
  }

  zoom(direction) {
    this.scale = stepZoom(this.scale, direction);
    this.applyTransform();
  }

  applyTransform() {
    const size = { width: this.frame.clientWidth, height: this.frame.clientHeight };
    this.pan = clampPan(this.pan, this.scale, size);
    this.frame.style.setProperty("--zoom", String(this.scale));
    this.frame.style.setProperty("--pan-x", `${this.pan.x}px`);
    this.frame.style.setProperty("--pan-y", `${this.pan.y}px`);
    this.frame.dataset.zoomed = String(this.scale > ZOOM_MIN);
    this.zoomText.value = `${Math.round(this.scale * 100)}%`;
  }

  applyWindowLevel() {
    const values = this.windowLevel();
    const { slope, intercept } = windowLevelTransfer(values.window, values.level);
    for (const func of this.transfer) {
      func.setAttribute("slope", String(slope));
      func.setAttribute("intercept", String(intercept));
    }
    if (this.valuesText) this.valuesText.value = windowLevelText(values);
    // The preset whose numbers these are is shown pressed; none after a drag elsewhere.
    for (const button of this.viewer.querySelectorAll("button[data-viewer-preset]")) {
      const preset = WINDOW_PRESETS[button.dataset.viewerPreset];
      const pressed = preset && preset.window === values.window && preset.level === values.level;
      button.setAttribute("aria-pressed", String(Boolean(pressed)));
    }
  }

  #bindControls() {
    this.viewer.addEventListener("click", (event) => {
      const control = event.target.closest("button[data-viewer]")?.dataset.viewer;
      if (control === "zoom-in") this.zoom(1);
      if (control === "zoom-out") this.zoom(-1);
      if (control === "reset") this.reset();
      const preset = WINDOW_PRESETS[event.target.closest("button[data-viewer-preset]")?.dataset.viewerPreset];
      if (preset) this.setWindowLevel(preset);
    });
    this.viewer.addEventListener("input", (event) => {
      if (event.target === this.windowInput || event.target === this.levelInput) {
        this.applyWindowLevel();
      }
    });
  }

  #bindWheel() {
    this.frame.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault(); // the page must not scroll while zooming the image
        this.zoom(event.deltaY < 0 ? 1 : -1);
      },
      { passive: false },
    );
  }

  #bindDrag() {
    // {x, y}: where the drag started; start: window/level then; pan: whether it pans.
    let drag = null;
    this.frame.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 && event.button !== 1) return;
      event.preventDefault();
      const pan = event.shiftKey || event.button === 1;
      drag = { x: event.clientX, y: event.clientY, start: this.windowLevel(), pan };
      this.frame.dataset.dragging = pan ? "pan" : "window-level";
      this.frame.setPointerCapture(event.pointerId);
    });
    this.frame.addEventListener("pointermove", (event) => {
      if (!drag) return;
      if (drag.pan) {
        this.pan = { x: this.pan.x + event.clientX - drag.x, y: this.pan.y + event.clientY - drag.y };
        drag.x = event.clientX;
        drag.y = event.clientY;
        this.applyTransform();
      } else {
        // From where the drag began, so that sub-pixel steps do not add up rounding.
        this.setWindowLevel(dragWindowLevel(drag.start, event.clientX - drag.x, event.clientY - drag.y));
      }
    });
    const stop = () => {
      drag = null;
      delete this.frame.dataset.dragging;
    };
    this.frame.addEventListener("pointerup", stop);
    this.frame.addEventListener("pointercancel", stop);
  }
}
