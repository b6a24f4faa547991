"""The CNN: a compact residual network trained from scratch on greyscale images, with two
heads on one embedding: the tumour classes, and the recogniser of what kind of image it is
(modality and body part), so one decode and one network call feed both.

Per-image standardisation is the model's first layer: it removes each scanner's
global brightness and contrast, which otherwise becomes a shortcut (Sartaj's
training gliomas share one scanner's dark look).
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf
from keras import layers

from ml.labels import CLASSES, KIND_NAMES
from ml.preprocess import IMAGE_SIZE

# The input gate (ml/ood.py) also measures this earlier stage, averaged over the image: its
# texture statistics tell a cropped MRI slice from a photo or radiograph better than the
# last stage alone, which has learnt tumour classes rather than what an MRI looks like.
GATE_STAGE = "stage_3"


@keras.saving.register_keras_serializable(package="medimg")
class PerImageStandardization(layers.Layer):
    def call(self, inputs):
        mean = keras.ops.mean(inputs, axis=(1, 2, 3), keepdims=True)
        std = keras.ops.std(inputs, axis=(1, 2, 3), keepdims=True)
        return (inputs - mean) / keras.ops.maximum(std, 1e-3)


@keras.saving.register_keras_serializable(package="medimg")
class ForegroundEqualization(layers.Layer):
    """Histogram equalisation of each image's foreground: a pixel brighter than `air` becomes
    the share of the foreground at or below its value, air becomes 0. Any monotone change of
    brightness (a scanner's windowing, gamma, gain) gives the same output, so the network
    sees the order of tissue intensities, not a site's scale for them (intensity
    normalisation across acquisitions: Sun et al., BioMed Eng OnLine 2015; Reinhold et al.,
    SPIE 2019). It counts pixels and has no weights."""

    def __init__(self, air: float = 0.04, **kwargs):
        super().__init__(**kwargs)
        self.air = air

    def call(self, inputs):
        shape = tf.shape(inputs)
        flat = tf.reshape(inputs, [shape[0], -1])
        at_or_below = tf.cast(
            tf.searchsorted(tf.sort(flat, axis=1), flat, side="right"), tf.float32
        )
        foreground = flat > self.air
        air_count = tf.reduce_sum(tf.cast(~foreground, tf.float32), axis=1, keepdims=True)
        total = tf.cast(tf.shape(flat)[1], tf.float32)
        share = tf.math.divide_no_nan(at_or_below - air_count, total - air_count)
        return tf.reshape(tf.where(foreground, share, 0.0), shape)

    def get_config(self):
        return {**super().get_config(), "air": self.air}


# How the first layer evens out each image's brightness (TrainConfig.intensity): "both"
# gives the network the standardised and the equalised image as two channels.
INTENSITY_NORMALISATIONS = ("standardize", "equalize", "both")


@keras.saving.register_keras_serializable(package="medimg")
class StyleMixing(layers.Layer):
    """MixStyle (Zhou et al., ICLR 2021), in training only: with probability `probability`
    per batch, each image's per-channel feature mean and spread are mixed with another
    image's of the same batch, in a Beta(alpha, alpha) share. Early feature statistics carry
    a scanner's and a sequence's look; mixing them shows the later layers new looks on the
    same anatomy. At inference it is the identity, so the served graph has no trace of it.
    """

    def __init__(self, probability: float = 0.5, alpha: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.probability = probability
        self.alpha = alpha

    def call(self, inputs, training=None):
        if not training or self.probability <= 0:
            return inputs
        mixed = _mixed_styles(inputs, self.alpha)
        return tf.cond(tf.random.uniform([]) < self.probability, lambda: mixed, lambda: inputs)

    def get_config(self):
        return {**super().get_config(), "probability": self.probability, "alpha": self.alpha}


def _mixed_styles(features: tf.Tensor, alpha: float, epsilon: float = 1e-6) -> tf.Tensor:
    mean = tf.stop_gradient(tf.reduce_mean(features, axis=(1, 2), keepdims=True))
    spread = tf.stop_gradient(
        tf.sqrt(tf.math.reduce_variance(features, axis=(1, 2), keepdims=True) + epsilon)
    )
    normalised = (features - mean) / spread
    batch = tf.shape(features)[0]
    # Beta(alpha, alpha) from two Gamma draws; both can underflow to 0 at small alpha.
    first = tf.random.gamma([batch, 1, 1, 1], alpha)
    second = tf.random.gamma([batch, 1, 1, 1], alpha)
    share = tf.math.divide_no_nan(first, first + second)
    partner = tf.random.shuffle(tf.range(batch))
    mixed_mean = share * mean + (1.0 - share) * tf.gather(mean, partner)
    mixed_spread = share * spread + (1.0 - share) * tf.gather(spread, partner)
    return normalised * mixed_spread + mixed_mean


def _normalised_intensity(inputs, intensity: str):
    equalised = ForegroundEqualization(name="equalize") if intensity != "standardize" else None
    if intensity != "both":
        x = equalised(inputs) if equalised else inputs
        return PerImageStandardization(name="standardize")(x)
    return layers.Concatenate(name="both_intensities")(
        [
            PerImageStandardization(name="standardize")(inputs),
            PerImageStandardization(name="standardize_equalized")(equalised(inputs)),
        ]
    )


def _conv_bn_relu(x, filters: int, strides: int = 1, name: str | None = None):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU(name=name)(x)


def _residual_stage(x, filters: int, downsample: bool, name: str):
    shortcut = x
    x = _conv_bn_relu(x, filters, strides=2 if downsample else 1)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    if downsample or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=2 if downsample else 1, use_bias=False)(
            shortcut
        )
        shortcut = layers.BatchNormalization()(shortcut)
    return layers.ReLU(name=name)(layers.Add()([x, shortcut]))


def build_model(
    image_size: int = IMAGE_SIZE,
    width: int = 24,
    num_classes: int = len(CLASSES),
    dropout: float = 0.3,
    num_kinds: int = len(KIND_NAMES),
    style_mixing: float = 0.0,
    intensity: str = "standardize",
) -> keras.Model:
    """[class logits, kind logits] out; the penultimate layer is named 'embedding' for
    similar-case search. `style_mixing` > 0 puts StyleMixing after the first two residual
    stages, where the MixStyle paper puts it. `intensity` "equalize" puts
    ForegroundEqualization before the standardisation; "both" feeds the stem the standardised
    and the equalised image as two channels."""
    if intensity not in INTENSITY_NORMALISATIONS:
        raise ValueError(f"intensity must be one of {INTENSITY_NORMALISATIONS}, not {intensity!r}")
    inputs = keras.Input((image_size, image_size, 1), name="image")
    x = _normalised_intensity(inputs, intensity)
    x = _conv_bn_relu(x, width, strides=2, name="stem")
    stages = ((1, False), (2, True), (4, True), (8, True))
    for number, (multiplier, downsample) in enumerate(stages, start=1):
        x = _residual_stage(x, width * multiplier, downsample, name=f"stage_{number}")
        if style_mixing > 0 and number <= 2:
            x = StyleMixing(style_mixing, name=f"style_mixing_{number}")(x)
    embedding = layers.GlobalAveragePooling2D(name="embedding")(x)
    x = layers.Dropout(dropout)(embedding)
    logits = layers.Dense(num_classes, name="logits")(x)
    kind_logits = layers.Dense(num_kinds, name="kind_logits")(x)
    return keras.Model(inputs, [logits, kind_logits], name="medimg_cnn")


def build_model_for(config: Mapping, image_size: int = IMAGE_SIZE) -> keras.Model:
    """The untrained network a card's training config describes (its width and first layer),
    so a rebuilt model can take the exported weights."""
    return build_model(
        image_size=int(config.get("image_size", image_size)),
        width=int(config.get("width", 16)),
        intensity=str(config.get("intensity", "standardize")),
    )
