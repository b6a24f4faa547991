// Unit tests for the viewer's arithmetic (window/level drag and presets) and the heatmap's
// perceptual colour map.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { HEATMAP_FLOOR, VIRIDIS_STOPS, colouriseHeatmap, viridis } from "../../frontend/colormap.js";
import {
  WINDOW_PRESETS,
  clampWindowLevel,
  dragWindowLevel,
  windowLevelText,
  windowLevelTransfer,
} from "../../frontend/imaging.js";
import { resultTemplate } from "../../frontend/templates.js";

// Relative luminance (sRGB, WCAG's formula) of an [r, g, b] colour.
function luminance([r, g, b]) {
  const lin = (c) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

describe("window/level by mouse drag and presets", () => {
  test("a drag right widens the window, a drag up raises the level", () => {
    assert.deepEqual(dragWindowLevel({ window: 100, level: 100 }, 20, 0), { window: 120, level: 100 });
    assert.deepEqual(dragWindowLevel({ window: 100, level: 100 }, 0, -30), { window: 100, level: 130 });
  });

  test("values stay within the sliders' ranges", () => {
    assert.deepEqual(dragWindowLevel({ window: 5, level: 250 }, -50, -50), { window: 1, level: 255 });
    assert.deepEqual(clampWindowLevel({ window: "abc", level: null }), { window: 255, level: 0 });
  });

  test("presets include the full range and a brain window, each a valid transfer", () => {
    assert.deepEqual(
      { window: WINDOW_PRESETS.full.window, level: WINDOW_PRESETS.full.level },
      { window: 255, level: 128 },
    );
    assert.ok(WINDOW_PRESETS.brain.window < 255);
    for (const preset of Object.values(WINDOW_PRESETS)) {
      assert.deepEqual(clampWindowLevel(preset), { window: preset.window, level: preset.level });
      assert.ok(windowLevelTransfer(preset.window, preset.level).slope >= 1);
    }
  });

  test("the numbers are shown as W and L", () => {
    assert.equal(windowLevelText({ window: 160, level: 96 }), "W 160 · L 96");
  });

  test("the viewer offers the presets and shows the numbers beside the image", () => {
    const html = resultTemplate({ id: 3, label: "glioma", filename: "a.png" }, { imageSrc: "blob:x" });
    for (const key of Object.keys(WINDOW_PRESETS)) assert.match(html, new RegExp(`data-viewer-preset="${key}"`));
    assert.match(html, /data-testid="viewer-wl-values"[^>]*>W 255 · L 128</);
  });
});

describe("the heatmap's colour map", () => {
  test("is viridis: lightness rises monotonically from the lowest to the highest weight", () => {
    assert.deepEqual(viridis(0), VIRIDIS_STOPS[0]);
    assert.deepEqual(viridis(1), VIRIDIS_STOPS.at(-1));
    let last = -1;
    for (let step = 0; step <= 20; step += 1) {
      const value = luminance(viridis(step / 20));
      assert.ok(value > last, `luminance falls at ${step / 20}`);
      last = value;
    }
  });

  test("leaves weak weights transparent and scales the alpha by the opacity", () => {
    const grey = new Uint8ClampedArray([0, 0, 0, 255, 255, 255, 255, 255, Math.floor(HEATMAP_FLOOR * 255) - 1, 0, 0, 255]);
    const half = colouriseHeatmap(grey, 0.5);
    assert.equal(half[3], 0);
    assert.equal(half[11], 0);
    assert.deepEqual([...half.slice(4, 7)], VIRIDIS_STOPS.at(-1));
    assert.equal(half[7], 128);
    assert.equal(colouriseHeatmap(grey, 1)[7], 255);
    assert.equal(colouriseHeatmap(grey, 0)[7], 0);
  });
});
