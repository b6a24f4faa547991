"""Training-time augmentation on preprocessed [0, 1] images.

Geometry varies the slice's position and orientation; intensity varies what differs
between scanners and sequences (gamma, noise, blur) so the model cannot learn one
scanner's look in place of the tumour.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers


def build_augmenter(seed: int) -> keras.Sequential:
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.06, fill_mode="constant", seed=seed + 1),
            layers.RandomZoom((-0.15, 0.15), fill_mode="constant", seed=seed + 2),
            layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=seed + 3),
        ],
        name="augment_geometry",
    )


def random_intensity(images: tf.Tensor, seed: int) -> tf.Tensor:
    """Per-image gamma, blur and noise, with stateless randomness for reproducibility."""
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.stack([seed, tf.constant(0, tf.int64)]), 4)
    gamma = tf.exp(tf.random.stateless_uniform([batch, 1, 1, 1], seeds[0], -0.5, 0.5))
    images = tf.pow(tf.clip_by_value(images, 1e-6, 1.0), gamma)
    blurred = tf.nn.avg_pool2d(images, 3, 1, "SAME")
    blur_amount = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[1], 0.0, 1.0)
    blur_amount *= tf.cast(
        tf.random.stateless_uniform([batch, 1, 1, 1], seeds[2]) < 0.3, tf.float32
    )
    images = images * (1.0 - blur_amount) + blurred * blur_amount
    noise_sd = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[3], 0.0, 0.04)
    noise = tf.random.stateless_normal(tf.shape(images), seeds[3] + 1) * noise_sd
    return tf.clip_by_value(images + noise, 0.0, 1.0)
