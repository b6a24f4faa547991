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
    cropped = to_unit_range(crop_to_head(image))
    square = tf.image.resize_with_pad(cropped, image_size, image_size, antialias=True)
    return tf.clip_by_value(square, 0.0, 1.0)


def to_unit_range(pixels: tf.Tensor) -> tf.Tensor:
    return tf.cast(pixels, tf.float32) / 255.0


def crop_to_head(image: tf.Tensor) -> tf.Tensor:
    """The head's bounding box (see head_box) cut out of a uint8 image [H, W, 1]."""
    top, bottom, left, right = tf.unstack(head_box(image))
    return image[top:bottom, left:right, :]


def head_box(image: tf.Tensor) -> tf.Tensor:
    """[top, bottom, left, right) of the pixels brighter than HEAD_THRESHOLD of the
    brightest, with a margin; the whole image when it is blank.

    A row holds such a pixel exactly when its brightest pixel is one, and scaling to
    [0, 1] keeps the order of values: so the box comes from the rows' and columns' maxima,
    compared as the scaled values they are, and no other pixel is converted to float.
    """
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    row_max = tf.reduce_max(image[:, :, 0], axis=1)
    col_max = tf.reduce_max(image[:, :, 0], axis=0)
    threshold = HEAD_THRESHOLD * to_unit_range(tf.reduce_max(row_max))
    rows = tf.cast(tf.where(to_unit_range(row_max) > threshold)[:, 0], tf.int32)
    cols = tf.cast(tf.where(to_unit_range(col_max) > threshold)[:, 0], tf.int32)

    def box() -> tf.Tensor:
        return tf.stack(
            [
                tf.maximum(rows[0] - CROP_MARGIN, 0),
                tf.minimum(rows[-1] + CROP_MARGIN + 1, height),
                tf.maximum(cols[0] - CROP_MARGIN, 0),
                tf.minimum(cols[-1] + CROP_MARGIN + 1, width),
            ]
        )

    # A blank image has no head: keep it whole rather than crop to nothing.
    return tf.cond(tf.size(rows) > 0, box, lambda: tf.stack([0, height, 0, width]))


def preprocess_batch(images: tf.Tensor, image_size: int = IMAGE_SIZE) -> tf.Tensor:
    """uint8 [N, H, W, 1] → float32 [N, size, size, 1]; each image is cropped on its own."""
    return tf.map_fn(
        lambda image: preprocess(image, image_size),
        images,
        fn_output_signature=tf.TensorSpec([image_size, image_size, 1], tf.float32),
    )
