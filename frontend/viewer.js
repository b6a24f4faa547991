// Zoom, pan and window/level for the record's image. Owns only the .viewer it is given;
// the numbers come from imaging.js. Styles are set through the CSSOM (the CSP forbids
// inline style attributes) and the window/level through the page's SVG filter.
import {
  DEFAULT_LEVEL,
  DEFAULT_WINDOW,
  ZOOM_MIN,
  clampPan,
  stepZoom,
  windowLevelTransfer,
} from "./imaging.js";

export class ImageViewer {
  constructor(viewer, document) {
    this.viewer = viewer;
    this.frame = viewer.querySelector(".viewer-frame");
    this.zoomText = viewer.querySelector(".viewer-zoom");
    this.windowInput = viewer.querySelector("[data-viewer='window']");
    this.levelInput = viewer.querySelector("[data-viewer='level']");
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
    this.windowInput.value = String(DEFAULT_WINDOW);
    this.levelInput.value = String(DEFAULT_LEVEL);
    this.applyWindowLevel();
    this.applyTransform();
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
    const { slope, intercept } = windowLevelTransfer(this.windowInput.value, this.levelInput.value);
    for (const func of this.transfer) {
      func.setAttribute("slope", String(slope));
      func.setAttribute("intercept", String(intercept));
    }
  }

  #bindControls() {
    this.viewer.addEventListener("click", (event) => {
      const control = event.target.closest("button[data-viewer]")?.dataset.viewer;
      if (control === "zoom-in") this.zoom(1);
      if (control === "zoom-out") this.zoom(-1);
      if (control === "reset") this.reset();
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
    let last = null;
    this.frame.addEventListener("pointerdown", (event) => {
      last = { x: event.clientX, y: event.clientY };
      this.frame.setPointerCapture(event.pointerId);
    });
    this.frame.addEventListener("pointermove", (event) => {
      if (!last) return;
      this.pan = { x: this.pan.x + event.clientX - last.x, y: this.pan.y + event.clientY - last.y };
      last = { x: event.clientX, y: event.clientY };
      this.applyTransform();
    });
    const stop = () => {
      last = null;
    };
    this.frame.addEventListener("pointerup", stop);
    this.frame.addEventListener("pointercancel", stop);
  }
}
