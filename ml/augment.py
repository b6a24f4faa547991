"""Training-time augmentation on preprocessed [0, 1] images, in two recipes.

"scanner" (the served model's): geometry varies the slice's position, orientation and
framing; gamma, blur and noise vary what differs between scanners.

"contrast" (an experiment) is "scanner" with the random tissue-contrast curve below on
half the images, and nothing else of "sequence".

"network" (an experiment) is "scanner" with a random shallow convolutional network's output
mixed into half the images (global intensity non-linear augmentation, Ouyang et al., 2021):
each image gets new, spatially local tissue contrasts, as another sequence would give it,
while its shapes stay where they are.

"sources" (the served model's since 0.7.0) is "scanner" with a wider zoom, a smooth bias
field on some images, and a lower resolution on some (downscaled, then scaled back up), as
sources that publish small or re-encoded images send.

"sources_network" (an experiment) is "sources" with the random network of "network" on half
the images.

"sources_contrast" (an experiment) is "sources" with the random tissue-contrast curve of
"contrast" on half the images.

"sequence" (an experiment) adds what differs between sequences
and sources:
- zooming in as far as a tight crop that cuts into the skull, as some sources send;
- a random tissue-contrast curve (air stays black): T1, T2 and FLAIR order the same
  tissues differently, so the curve need not be monotone;
- a smooth bias field, for coil inhomogeneity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import keras
import tensorflow as tf
from keras import layers

CURVE_KNOTS = 4
NETWORK_LAYERS = 4
NETWORK_WIDTH = 4
BIAS_FIELD_STRENGTH = 0.3
LOW_RESOLUTION_SCALE = (0.3, 0.8)


@dataclass(frozen=True)
class Recipe:
    name: str
    zoom: tuple[float, float]  # RandomZoom's range: negative zooms in
    contrast_curve_probability: float = 0.0
    bias_field_probability: float = 0.0
    random_network_probability: float = 0.0
    low_resolution_probability: float = 0.0

    @property
    def varies_sequence(self) -> bool:
        return self.contrast_curve_probability > 0 or self.bias_field_probability > 0

    @property
    def varies_texture(self) -> bool:
        return self.random_network_probability > 0

    def card(self) -> dict:
        """What the model card records about how its model was trained."""
        return {
            **asdict(self),
            "geometry": "horizontal flip, rotation ±0.06 turn, zoom as above, translation ±8 %",
            "bias_field_strength": BIAS_FIELD_STRENGTH if self.bias_field_probability else 0,
            "random_network": (
                f"{NETWORK_LAYERS} layers of 3x3, {NETWORK_WIDTH} channels, mixed in U(0, 1)"
                if self.varies_texture
                else None
            ),
            "low_resolution": (
                f"down to U({LOW_RESOLUTION_SCALE[0]}, {LOW_RESOLUTION_SCALE[1]}) of the size "
                "and back up"
                if self.low_resolution_probability
                else None
            ),
            "gamma": "exp(U(-0.5, 0.5))",
            "blur_probability": 0.3,
            "noise_sd": "U(0, 0.04)",
        }


RECIPES = {
    "scanner": Recipe("scanner", zoom=(-0.15, 0.15)),
    "contrast": Recipe("contrast", zoom=(-0.15, 0.15), contrast_curve_probability=0.5),
    "network": Recipe("network", zoom=(-0.15, 0.15), random_network_probability=0.5),
    "sources": Recipe(
        "sources", zoom=(-0.25, 0.15), bias_field_probability=0.2, low_resolution_probability=0.3
    ),
    "sequence": Recipe(
        "sequence", zoom=(-0.35, 0.15), contrast_curve_probability=0.4, bias_field_probability=0.3
    ),
}
# The served recipe with one more change each, as experiments.
RECIPES["sources_network"] = replace(
    RECIPES["sources"], name="sources_network", random_network_probability=0.5
)
RECIPES["sources_contrast"] = replace(
    RECIPES["sources"], name="sources_contrast", contrast_curve_probability=0.5
)


def build_augmenter(seed: int, recipe: Recipe) -> keras.Sequential:
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.06, fill_mode="constant", seed=seed + 1),
            layers.RandomZoom(recipe.zoom, fill_mode="constant", seed=seed + 2),
            layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=seed + 3),
        ],
        name="augment_geometry",
    )


def random_intensity(images: tf.Tensor, seed: tf.Tensor, recipe: Recipe) -> tf.Tensor:
    """Per-image intensity changes, stateless given `seed`.

    The scanner recipe draws its four random streams as it did when the served model was
    trained. That does not make training bit-reproducible: a rerun with the same seed gave
    other weights (bench/training.md). ml.train draws each batch's `seed` with a stateful
    op inside a parallel tf.data map, and the Keras geometry layers keep state too, so which
    batch gets which draw can change from run to run.
    """
    key = tf.stack([seed, tf.constant(0, tf.int64)])
    if recipe.varies_texture:
        # A key of its own, so that the other recipes' streams stay as they were drawn.
        network_key = tf.stack([seed, tf.constant(1, tf.int64)])
        images = random_network(images, network_key, recipe.random_network_probability)
    if recipe.low_resolution_probability:
        resolution_key = tf.stack([seed, tf.constant(2, tf.int64)])
        images = random_low_resolution(images, resolution_key, recipe.low_resolution_probability)
    if not recipe.varies_sequence:
        return _scanner_intensity(images, tf.random.experimental.stateless_split(key, 4))
    seeds = tf.random.experimental.stateless_split(key, 6)
    images = random_contrast_curve(images, seeds[4], recipe.contrast_curve_probability)
    images = random_bias_field(images, seeds[5], recipe.bias_field_probability)
    return _scanner_intensity(images, seeds)


def _scanner_intensity(images: tf.Tensor, seeds: tf.Tensor) -> tf.Tensor:
    """Gamma, blur and noise."""
    batch = tf.shape(images)[0]
    gamma = tf.exp(tf.random.stateless_uniform([batch, 1, 1, 1], seeds[0], -0.5, 0.5))
    images = tf.pow(tf.clip_by_value(images, 1e-6, 1.0), gamma)
    blurred = tf.nn.avg_pool2d(images, 3, 1, "SAME")
    blur_amount = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[1], 0.0, 1.0)
    blur_amount *= _chosen(batch, seeds[2], 0.3)
    images = images * (1.0 - blur_amount) + blurred * blur_amount
    noise_sd = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[3], 0.0, 0.04)
    noise = tf.random.stateless_normal(tf.shape(images), seeds[3] + 1) * noise_sd
    return tf.clip_by_value(images + noise, 0.0, 1.0)


def random_low_resolution(images: tf.Tensor, seed: tf.Tensor, probability: float) -> tf.Tensor:
    """The chosen images of the batch downscaled by one random factor and scaled back up."""
    batch, size = tf.shape(images)[0], tf.shape(images)[1]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    scale = tf.random.stateless_uniform([], seeds[0], *LOW_RESOLUTION_SCALE)
    small = tf.cast(tf.cast(size, tf.float32) * scale, tf.int32)
    blurred = tf.image.resize(tf.image.resize(images, [small, small], antialias=True), [size, size])
    chosen = _chosen(batch, seeds[1], probability)
    return chosen * tf.clip_by_value(blurred, 0.0, 1.0) + (1.0 - chosen) * images


def random_contrast_curve(images: tf.Tensor, seed: tf.Tensor, probability: float) -> tf.Tensor:
    """A piecewise-linear intensity map per image through (0, 0) and random knots."""
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    knots = tf.random.stateless_uniform([batch, CURVE_KNOTS], seeds[0], 0.05, 1.0)
    levels = tf.concat([tf.zeros([batch, 1]), knots], axis=1)  # [N, K + 1]
    scaled = tf.clip_by_value(images, 0.0, 1.0) * CURVE_KNOTS
    lower = tf.minimum(tf.floor(scaled), CURVE_KNOTS - 1)
    fraction = scaled - lower
    flat_index = tf.reshape(tf.cast(lower, tf.int32), [batch, -1])
    start = tf.reshape(tf.gather(levels, flat_index, batch_dims=1), tf.shape(images))
    end = tf.reshape(tf.gather(levels, flat_index + 1, batch_dims=1), tf.shape(images))
    curved = start + (end - start) * fraction
    chosen = _chosen(batch, seeds[1], probability)
    return chosen * curved + (1.0 - chosen) * images


def random_bias_field(images: tf.Tensor, seed: tf.Tensor, probability: float) -> tf.Tensor:
    """Multiply by a linear ramp in a random direction: brighter on one side, as near a coil."""
    batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    seeds = tf.random.experimental.stateless_split(seed, 3)
    angle = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[0], 0.0, 6.2832)
    strength = tf.random.stateless_uniform(
        [batch, 1, 1, 1], seeds[1], 0.0, BIAS_FIELD_STRENGTH
    ) * _chosen(batch, seeds[2], probability)
    rows = tf.reshape(tf.linspace(-1.0, 1.0, height), [1, -1, 1, 1])
    cols = tf.reshape(tf.linspace(-1.0, 1.0, width), [1, 1, -1, 1])
    ramp = tf.cos(angle) * cols + tf.sin(angle) * rows
    return tf.clip_by_value(images * (1.0 + strength * ramp), 0.0, 1.0)


def random_network(images: tf.Tensor, seed: tf.Tensor, probability: float) -> tf.Tensor:
    """Mix each chosen image with the output of its own random network, in a random share.

    The network is NETWORK_LAYERS 3x3 convolutions without bias and with leaky ReLUs
    between them, its weights drawn anew for each image; the output's magnitude, scaled to
    a maximum of 1, replaces intensities by local, non-monotone functions of the
    neighbourhood. Without bias, air (zero) stays black.
    """
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, 3)
    image_seeds = tf.random.stateless_uniform(
        [batch, 2], seeds[0], minval=None, maxval=None, dtype=tf.int64
    )
    textured = tf.map_fn(
        lambda args: _random_network_output(*args),
        (images, image_seeds),
        fn_output_signature=tf.TensorSpec(images.shape[1:], tf.float32),
    )
    share = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[1]) * _chosen(
        batch, seeds[2], probability
    )
    return share * textured + (1.0 - share) * images


def _random_network_output(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """One image [H, W, 1] through a freshly drawn random network; [H, W, 1] in [0, 1]."""
    seeds = tf.random.experimental.stateless_split(seed, NETWORK_LAYERS)
    x = image[tf.newaxis]
    channels = 1
    for layer in range(NETWORK_LAYERS):
        last = layer == NETWORK_LAYERS - 1
        out = 1 if last else NETWORK_WIDTH
        kernel = tf.random.stateless_normal([3, 3, channels, out], seeds[layer])
        x = tf.nn.conv2d(x, kernel, 1, "SAME")
        if not last:
            x = tf.nn.leaky_relu(x, 0.2)
        channels = out
    magnitude = tf.abs(x[0])
    return magnitude / tf.maximum(tf.reduce_max(magnitude), 1e-6)


def _chosen(batch: tf.Tensor, seed: tf.Tensor, probability: float) -> tf.Tensor:
    """1.0 for the images an augmentation applies to, else 0.0: [N, 1, 1, 1]."""
    draws = tf.random.stateless_uniform([batch, 1, 1, 1], seed)
    return tf.cast(draws < probability, tf.float32)
