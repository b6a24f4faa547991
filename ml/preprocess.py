"""Preprocessing, written once in TensorFlow and baked into the exported model.

Decoded greyscale pixels (uint8, any size) → a square float image in [0, 1]:
crop to the head's bounding box (so the scanner's field of view and black borders
do not matter), pad to a square keeping the aspect ratio, resize. Training runs the
same function, so serving cannot drift from what the model learned.
"""

from __future__ import annotations

import tensorflow as tf

IMAGE_SIZE = 128
# A pixel brighter than this share of the image's maximum counts as head, not air.
HEAD_THRESHOLD = 0.08
CROP_MARGIN = 4


def preprocess(image: tf.Tensor, image_size: int = IMAGE_SIZE) -> tf.Tensor:
    """One uint8 image [H, W, 1] → float32 [size, size, 1] in [0, 1]."""
    pixels = tf.cast(image, tf.float32) / 255.0
    cropped = crop_to_head(pixels)
    square = tf.image.resize_with_pad(cropped, image_size, image_size, antialias=True)
    return tf.clip_by_value(square, 0.0, 1.0)


def crop_to_head(pixels: tf.Tensor) -> tf.Tensor:
    """The bounding box of pixels above the threshold, with a small margin."""
    height, width = tf.shape(pixels)[0], tf.shape(pixels)[1]
    mask = pixels[:, :, 0] > HEAD_THRESHOLD * tf.reduce_max(pixels)
    rows = tf.where(tf.reduce_any(mask, axis=1))[:, 0]
    cols = tf.where(tf.reduce_any(mask, axis=0))[:, 0]

    def crop() -> tf.Tensor:
        top = tf.maximum(tf.cast(rows[0], tf.int32) - CROP_MARGIN, 0)
        bottom = tf.minimum(tf.cast(rows[-1], tf.int32) + CROP_MARGIN + 1, height)
        left = tf.maximum(tf.cast(cols[0], tf.int32) - CROP_MARGIN, 0)
        right = tf.minimum(tf.cast(cols[-1], tf.int32) + CROP_MARGIN + 1, width)
        return pixels[top:bottom, left:right, :]

    # A blank image has no head: keep it whole rather than crop to nothing.
    return tf.cond(tf.size(rows) > 0, crop, lambda: pixels)


def preprocess_batch(images: tf.Tensor, image_size: int = IMAGE_SIZE) -> tf.Tensor:
    """uint8 [N, H, W, 1] → float32 [N, size, size, 1]; each image is cropped on its own."""
    return tf.map_fn(
        lambda image: preprocess(image, image_size),
        images,
        fn_output_signature=tf.TensorSpec([image_size, image_size, 1], tf.float32),
    )
