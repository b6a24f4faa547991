// The heatmap's colour map: a perceptual, colour-blind-safe ramp (viridis, from dark blue
// through green to yellow), whose lightness rises with the weight. Pure arithmetic on
// pixel arrays; no DOM here (view.js draws the result).

// Viridis at nine even steps (matplotlib's values, rounded to bytes).
export const VIRIDIS_STOPS = Object.freeze([
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
]);

// Weights below this stay transparent: the slice shows through where the model did not look.
export const HEATMAP_FLOOR = 0.15;

/** The viridis colour [r, g, b] of a weight in [0, 1], interpolated between the stops. */
export function viridis(weight) {
  const t = Math.min(1, Math.max(0, Number(weight) || 0)) * (VIRIDIS_STOPS.length - 1);
  const low = Math.floor(t);
  const high = Math.min(VIRIDIS_STOPS.length - 1, low + 1);
  const f = t - low;
  return VIRIDIS_STOPS[low].map((value, i) => Math.round(value + (VIRIDIS_STOPS[high][i] - value) * f));
}

/**
 * RGBA pixels of the map over the slice: the map's weight (the red channel of its greyscale
 * RGBA pixels, 0-255) in viridis, with an alpha that grows with the weight up to `opacity`
 * (0-1), and none below HEATMAP_FLOOR. The slice itself is not in it: it stays the image
 * underneath, so window/level still applies to it.
 */
export function colouriseHeatmap(greyRgba, opacity) {
  const strength = Math.min(1, Math.max(0, Number(opacity) || 0));
  const out = new Uint8ClampedArray(greyRgba.length);
  const lut = Array.from({ length: 256 }, (_, v) => viridis(v / 255));
  for (let i = 0; i < greyRgba.length; i += 4) {
    const value = greyRgba[i];
    const weight = value / 255;
    const [r, g, b] = lut[value];
    out[i] = r;
    out[i + 1] = g;
    out[i + 2] = b;
    const visible = weight < HEATMAP_FLOOR ? 0 : (weight - HEATMAP_FLOOR) / (1 - HEATMAP_FLOOR);
    out[i + 3] = Math.round(255 * strength * Math.sqrt(visible));
  }
  return out;
}
