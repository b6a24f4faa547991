// Pure arithmetic for the image viewer: window/level and zoom. No DOM here.

export const ZOOM_MIN = 1;
export const ZOOM_MAX = 8;
export const DEFAULT_WINDOW = 255;
export const DEFAULT_LEVEL = 128;
export const WINDOW_MIN = 1;
export const WINDOW_MAX = 255;
export const LEVEL_MIN = 0;
export const LEVEL_MAX = 255;

/**
 * Window/level presets for the 8-bit slices the service stores (PNG renderings: grey 0-255,
 * not Hounsfield units). "Full range" shows every grey; "Brain" narrows to the soft-tissue
 * greys of a T1/T2 slice; "High contrast" narrows further for subtle edges.
 */
export const WINDOW_PRESETS = Object.freeze({
  full: Object.freeze({ name: "Full range", window: 255, level: 128 }),
  brain: Object.freeze({ name: "Brain", window: 160, level: 96 }),
  contrast: Object.freeze({ name: "High contrast", window: 80, level: 110 }),
});

// Grey levels per pixel of mouse drag.
const DRAG_GAIN = 1;

/** Clamp a window/level pair into the sliders' ranges (integers). */
export function clampWindowLevel({ window, level }) {
  const clamp = (value, low, high, fallback) => {
    const number = Math.round(Number(value));
    return Number.isFinite(number) ? Math.min(high, Math.max(low, number)) : fallback;
  };
  return {
    window: clamp(window, WINDOW_MIN, WINDOW_MAX, DEFAULT_WINDOW),
    level: clamp(level, LEVEL_MIN, LEVEL_MAX, DEFAULT_LEVEL),
  };
}

/**
 * The window/level after a mouse drag of (dx, dy) pixels, as PACS viewers do it: right
 * widens the window (less contrast), left narrows it; up raises the level (the image
 * darkens), down lowers it (it brightens).
 */
export function dragWindowLevel({ window, level }, dx, dy) {
  return clampWindowLevel({
    window: Number(window) + dx * DRAG_GAIN,
    level: Number(level) - dy * DRAG_GAIN,
  });
}

/** "W 255 · L 128": the numbers a radiologist reads beside the image. */
export function windowLevelText({ window, level }) {
  return `W ${Math.round(window)} · L ${Math.round(level)}`;
}

/**
 * Window/level on 8-bit grey as a linear transfer on [0, 1] (what SVG's feFuncX
 * type="linear" applies): values inside [level - window/2, level + window/2] are
 * stretched over the whole display range, values outside clip to black or white.
 */
export function windowLevelTransfer(window, level) {
  const width = Math.max(1, Number(window) || DEFAULT_WINDOW);
  const centre = Number.isFinite(Number(level)) ? Number(level) : DEFAULT_LEVEL;
  const slope = 255 / width;
  const intercept = 0.5 - centre / width;
  return { slope: round(slope), intercept: round(intercept) };
}

function round(value) {
  return Math.round(value * 1e6) / 1e6;
}

export function clampZoom(scale) {
  const value = Number(scale);
  if (!Number.isFinite(value)) return ZOOM_MIN;
  return Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, value));
}

/** The next zoom step in or out (factor 1.25), within the allowed range. */
export function stepZoom(scale, direction) {
  return clampZoom(direction > 0 ? scale * 1.25 : scale / 1.25);
}

/**
 * Keep a pan offset so the zoomed image still covers its frame: at scale s, the image
 * (frame-sized at s = 1, scaled about its centre) may move at most (s - 1) / 2 frames.
 */
export function clampPan({ x, y }, scale, { width, height }) {
  const limitX = ((scale - 1) * width) / 2;
  const limitY = ((scale - 1) * height) / 2;
  const clamp = (value, limit) => Math.min(limit, Math.max(-limit, value));
  return { x: clamp(x, limitX), y: clamp(y, limitY) };
}
