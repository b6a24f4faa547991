"""Grad-CAM explanations, mapped back onto the pixels the user sent, and their plausibility.

The TensorFlow half runs inside the exported model (`ServingModule.explain`): Grad-CAM on
the last convolutional stage (Selvaraju et al., 2017), then the map is carried back through
the preprocessing — un-pad, un-resize, un-crop — so it lies on the input image's own grid.
The NumPy half judges the map against a brain mask computed from the image and draws it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import tensorflow as tf

from ml.mirror import mirror_averaged_logits
from ml.preprocess import head_box, preprocess

# A map with less than this share of its mass on the brain points at background, skull
# edges or burnt-in text: a radiologist should not trust it.
MIN_MASS_INSIDE_BRAIN = 0.5
DEFAULT_OPACITY = 0.45
# The head is what is brighter than this share of the Otsu threshold (and than this grey
# level): low enough to keep dark brain tissue, high enough to leave out background noise.
HEAD_SHARE_OF_OTSU = 0.4
MIN_HEAD_LEVEL = 5


def padded_region(height: tf.Tensor, width: tf.Tensor, size: int) -> tf.Tensor:
    """[top, left, rows, cols] the crop occupies in the square, as tf.image.resize_with_pad."""
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    ratio = tf.maximum(w / size, h / size)
    rows = tf.cast(tf.floor(h / ratio), tf.int32)
    cols = tf.cast(tf.floor(w / ratio), tf.int32)
    top = tf.maximum(tf.cast(tf.floor((size - h / ratio) / 2), tf.int32), 0)
    left = tf.maximum(tf.cast(tf.floor((size - w / ratio) / 2), tf.int32), 0)
    return tf.stack([top, left, rows, cols])


def square_to_input(square: tf.Tensor, image: tf.Tensor, size: int) -> tf.Tensor:
    """A [size, size] map over the model's input → a [H, W] map over the original uint8
    image [H, W, 1]."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    top, bottom, left, right = tf.unstack(head_box(image))
    pad_top, pad_left, rows, cols = tf.unstack(padded_region(bottom - top, right - left, size))
    inner = square[pad_top : pad_top + rows, pad_left : pad_left + cols]
    crop = tf.image.resize(inner[:, :, tf.newaxis], tf.stack([bottom - top, right - left]))
    # Outside the head box the model saw nothing, so the map is zero there.
    return tf.pad(crop[:, :, 0], [[top, height - bottom], [left, width - right]])


def gate_features(earlier: tf.Tensor, embedding: tf.Tensor) -> tf.Tensor:
    """What the input gate measures (ml.ood): ml.model.GATE_STAGE averaged over the image,
    then the embedding. Here rather than in ml.model, which the server must not import
    (Keras costs start-up time and memory; the SavedModel needs none of it)."""
    return tf.concat([earlier, embedding], axis=-1)


def grad_cam(cam_network, batch: tf.Tensor, class_index: tf.Tensor) -> dict[str, tf.Tensor]:
    """Grad-CAM of class `class_index`; `cam_network` maps input → (last stage, the gate's
    earlier stage averaged, class logits, kind logits)."""
    with tf.GradientTape() as tape:
        features, earlier, logits, _ = cam_network(batch, training=False)
        target = logits[0, class_index]
    gradients = tape.gradient(target, features)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))[0]
    cam = cam / tf.maximum(tf.reduce_max(cam), 1e-12)
    return {
        "cam": cam,
        # The embedding layer is global average pooling of this same stage.
        "embedding": tf.reduce_mean(features, axis=(1, 2)),
        "earlier": earlier,
    }


def explain_image(cam_network, image: tf.Tensor, size: int, calibrate) -> dict:
    """One uint8 [H, W, 1] image → probabilities, embedding and a [H, W] map in [0, 1];
    `calibrate` maps (class logits, kind logits) to the served probabilities."""
    batch = preprocess(image, size)[tf.newaxis]
    # The class and probabilities the classify signature gives (mirror-averaged); the map is
    # the unmirrored slice's, so it sits where the radiologist sees the slice.
    *_, logits, kind_logits = mirror_averaged_logits(cam_network, batch)
    class_index = tf.argmax(logits[0], output_type=tf.int32)
    result = grad_cam(cam_network, batch, class_index)
    square = tf.image.resize(result["cam"][:, :, tf.newaxis], [size, size])[:, :, 0]
    return {
        **calibrate(logits, kind_logits),
        "logits": logits,
        "embedding": result["embedding"],
        "gate_features": gate_features(result["earlier"], result["embedding"]),
        "class_index": class_index,
        "heatmap": square_to_input(square, image, size),
    }


def brain_mask(pixels: np.ndarray) -> np.ndarray:
    """The head on the slice: the convex hull of the largest region brighter than background.

    The threshold is a fraction of Otsu's: Otsu alone splits bright tissue from dark tissue
    and, on T1 or on a slice with a bright tumour, keeps only the scalp ring or the tumour,
    so a map sitting on the brain read as "only 10 % on the brain". The hull closes the
    dark CSF, lesions and broken scalp rings inside the head."""
    blurred = cv2.GaussianBlur(pixels, (5, 5), 0)
    otsu, _ = cv2.threshold(blurred, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    foreground = (blurred > max(HEAD_SHARE_OF_OTSU * otsu, MIN_HEAD_LEVEL)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
    if count <= 1:
        return np.zeros(pixels.shape, dtype=bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    hull = cv2.convexHull(cv2.findNonZero((labels == largest).astype(np.uint8)))
    mask = np.zeros(pixels.shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


@dataclass(frozen=True)
class HeatmapCheck:
    mass_inside_brain: float  # share of the map's total mass on the brain mask, 0..1
    implausible: bool
    reason: str


def check_heatmap(pixels: np.ndarray, heatmap: np.ndarray) -> HeatmapCheck:
    total = float(heatmap.sum())
    if total <= 0.0:
        return HeatmapCheck(0.0, True, "The map is empty: no region supports the prediction.")
    inside = float(heatmap[brain_mask(pixels)].sum()) / total
    if inside < MIN_MASS_INSIDE_BRAIN:
        return HeatmapCheck(
            inside,
            True,
            f"Only {inside:.0%} of the map lies on the head: the model looked elsewhere.",
        )
    return HeatmapCheck(inside, False, f"{inside:.0%} of the map lies on the head.")


def render_overlay(
    pixels: np.ndarray, heatmap: np.ndarray, opacity: float = DEFAULT_OPACITY
) -> np.ndarray:
    """The slice in grey with the map in the 'jet' colour map on top: RGB uint8 [H, W, 3]."""
    grey = np.repeat(pixels[:, :, np.newaxis], 3, axis=2).astype(np.float32)
    heat = np.clip(heatmap * 255.0, 0, 255).astype(np.uint8)
    colour = cv2.cvtColor(cv2.applyColorMap(heat, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    blended = (1.0 - opacity) * grey + opacity * colour.astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
