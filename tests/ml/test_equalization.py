"""ForegroundEqualization: the network sees the order of tissue intensities, not their scale."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from ml.export import export_model
from ml.inference import Classifier
from ml.labels import CLASSES
from ml.model import ForegroundEqualization, build_model
from ml.preprocess import preprocess


def _head_on_air(seed: int = 5) -> np.ndarray:
    """A [1, 32, 32, 1] image: tissue between 0.2 and 0.9 inside, air (0) around it."""
    rng = np.random.default_rng(seed)
    image = np.zeros((32, 32), np.float32)
    image[6:26, 4:28] = rng.uniform(0.2, 0.9, size=(20, 24))
    return image[None, :, :, None]


def test_a_monotone_change_of_brightness_leaves_the_equalised_image_unchanged():
    image = _head_on_air()
    rewindowed = 0.3 + 0.6 * image**2.5  # another gamma, gain and offset for the tissue
    rewindowed[image == 0] = 0.0

    layer = ForegroundEqualization()

    np.testing.assert_allclose(layer(rewindowed), layer(image), atol=1e-6)


def test_air_stays_black_and_the_tissue_spreads_over_zero_to_one():
    image = _head_on_air()

    equalised = ForegroundEqualization()(image).numpy()

    assert (equalised[image == 0] == 0).all()
    tissue = equalised[image > 0]
    assert tissue.max() == pytest.approx(1.0)
    assert tissue.min() == pytest.approx(1 / tissue.size, rel=1e-3)
    # Ranks: the tissue's shares are spread evenly, whatever its histogram was.
    assert np.median(tissue) == pytest.approx(0.5, abs=0.01)


def test_a_blank_image_stays_blank():
    blank = np.zeros((1, 16, 16, 1), np.float32)

    np.testing.assert_array_equal(ForegroundEqualization()(blank), blank)


def test_the_exported_model_equalises_as_the_trained_network_does(tmp_path: Path):
    keras.utils.set_random_seed(7)
    model = build_model(image_size=32, width=4, intensity="equalize")
    classifier = Classifier.load(
        export_model(model, tmp_path / "m", {"name": "equalize-test", "version": "eq"})
    )
    pixels = (np.clip(_head_on_air()[0, :, :, 0], 0, 1) * 255).astype(np.uint8)

    training_input = preprocess(tf.constant(pixels[:, :, None]), 32)[None]
    mirrored = training_input[:, :, ::-1, :]
    logits = (model(training_input, training=False)[0] + model(mirrored, training=False)[0]) / 2
    expected = tf.nn.softmax(logits).numpy()[0]

    served = classifier.predict(pixels).probabilities
    np.testing.assert_allclose([served[c] for c in CLASSES], expected, atol=1e-5)


def test_both_gives_the_network_the_standardised_and_the_equalised_image_as_two_channels():
    model = build_model(image_size=32, width=4, intensity="both")
    image = _head_on_air()

    both = keras.Model(model.inputs, model.get_layer("both_intensities").output)(image).numpy()

    standardised = build_model(image_size=32, width=4).get_layer("standardize")(image).numpy()
    equalised_model = build_model(image_size=32, width=4, intensity="equalize")
    equalised = keras.Model(equalised_model.inputs, equalised_model.get_layer("standardize").output)
    np.testing.assert_allclose(both[..., :1], standardised, atol=1e-5)
    np.testing.assert_allclose(both[..., 1:], equalised(image).numpy(), atol=1e-5)


def test_an_unknown_intensity_normalisation_is_refused_by_name():
    with pytest.raises(ValueError, match="intensity"):
        build_model(image_size=32, width=4, intensity="clahe")
