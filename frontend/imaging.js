// Pure arithmetic for the image viewer: window/level and zoom. No DOM here.

export const ZOOM_MIN = 1;
export const ZOOM_MAX = 8;
export const DEFAULT_WINDOW = 255;
export const DEFAULT_LEVEL = 128;

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
