"""Training augmentation: the recipes do what their cards say."""

import numpy as np
import tensorflow as tf

from ml.augment import (
    RECIPES,
    random_bias_field,
    random_contrast_curve,
    random_intensity,
    random_network,
)


def head_batch(n: int = 8) -> tf.Tensor:
    images = np.zeros((n, 32, 32, 1), np.float32)
    images[:, 8:24, 8:24, 0] = np.linspace(0.2, 1.0, 16, dtype=np.float32)
    return tf.constant(images)


def test_every_recipe_keeps_pixels_in_the_unit_range_and_the_shape():
    images = head_batch()
    for recipe in RECIPES.values():
        out = random_intensity(images, tf.constant(7, tf.int64), recipe).numpy()
        assert out.shape == images.shape
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_a_contrast_curve_keeps_air_black_and_can_reorder_tissue_brightness():
    images = head_batch(64)
    curved = random_contrast_curve(images, tf.constant([3, 0], tf.int64), probability=1.0).numpy()
    assert np.all(curved[:, :8, :8] == 0.0), "background stays background"
    tissue = curved[:, 16, 8:24, 0]  # a row from dark to bright tissue
    assert np.any(np.diff(tissue, axis=1) < -1e-3), "some curves invert the tissue order"


def test_the_sequence_steps_change_nothing_when_their_probability_is_zero():
    images = head_batch()
    seed = tf.constant([5, 0], tf.int64)
    np.testing.assert_array_equal(random_contrast_curve(images, seed, 0.0).numpy(), images)
    np.testing.assert_array_equal(random_bias_field(images, seed, 0.0).numpy(), images)


def test_only_the_sequence_recipe_varies_sequence_and_zooms_in_past_a_tight_crop():
    assert not RECIPES["scanner"].varies_sequence
    assert RECIPES["sequence"].varies_sequence
    assert RECIPES["sequence"].zoom[0] < RECIPES["scanner"].zoom[0]
    assert RECIPES["scanner"].card()["name"] == "scanner"


def test_the_contrast_recipe_is_the_scanner_recipe_plus_contrast_curves_only():
    contrast, scanner = RECIPES["contrast"], RECIPES["scanner"]
    assert contrast.varies_sequence
    assert contrast.zoom == scanner.zoom
    assert contrast.contrast_curve_probability > 0 and contrast.bias_field_probability == 0


def test_a_random_network_keeps_air_black_and_gives_each_image_new_contrasts():
    images = head_batch(16)
    textured = random_network(images, tf.constant([2, 1], tf.int64), probability=1.0).numpy()
    assert np.all(textured[:, :3, :3] == 0.0), "air beyond the networks' reach stays black"
    assert textured.min() >= 0.0 and textured.max() <= 1.0
    changed = np.abs(textured - images.numpy()).max(axis=(1, 2, 3)) > 1e-3
    assert changed.sum() >= 12, "nearly every image is mixed with its network's output"
    assert not np.allclose(textured[0], textured[1]), "each image draws its own network"


def test_a_random_network_changes_nothing_when_its_probability_is_zero():
    images = head_batch()
    unchanged = random_network(images, tf.constant([2, 1], tf.int64), probability=0.0)
    np.testing.assert_array_equal(unchanged.numpy(), images.numpy())
