"""StyleMixing (MixStyle): new looks in training, nothing at inference."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ml.model import StyleMixing, build_model


def _features_of_many_looks() -> tf.Tensor:
    tf.random.set_seed(3)
    spread = tf.random.uniform([16, 1, 1, 4], 0.5, 3.0)
    mean = tf.random.uniform([16, 1, 1, 4], -2.0, 2.0)
    return tf.random.normal([16, 8, 8, 4]) * spread + mean


def test_style_mixing_is_the_identity_at_inference():
    features = _features_of_many_looks()

    np.testing.assert_array_equal(StyleMixing(1.0)(features, training=False), features)


def test_style_mixing_moves_each_images_feature_statistics_in_training():
    features = _features_of_many_looks()

    mixed = StyleMixing(1.0)(features, training=True).numpy()

    assert mixed.shape == features.shape and np.isfinite(mixed).all()
    before = features.numpy().mean(axis=(1, 2))
    after = mixed.mean(axis=(1, 2))
    assert np.abs(after - before).max() > 0.1


def test_style_mixing_keeps_each_images_normalised_content():
    features = _features_of_many_looks()

    mixed = StyleMixing(1.0)(features, training=True).numpy()

    def normalised(x):
        return (x - x.mean(axis=(1, 2), keepdims=True)) / x.std(axis=(1, 2), keepdims=True)

    np.testing.assert_allclose(normalised(mixed), normalised(features.numpy()), atol=1e-3)


def test_a_network_with_style_mixing_has_the_same_weights_as_one_without():
    with_mixing = build_model(image_size=32, width=4, style_mixing=0.5)
    without = build_model(image_size=32, width=4)

    assert [w.shape for w in with_mixing.weights] == [w.shape for w in without.weights]
