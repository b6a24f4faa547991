"""Serving cannot drift from training: the SavedModel preprocesses exactly as training does."""

from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf

from ml.export import ServingModule, export_model
from ml.inference import Classifier
from ml.labels import CLASSES
from ml.model import build_model
from ml.preprocess import preprocess


def _slice(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(height * width)
    image = np.zeros((height, width), np.uint8)
    cv2.ellipse(image, (width // 2, height // 2), (width // 3, height // 3), 0, 0, 360, 150, -1)
    noise = rng.integers(0, 60, size=image.shape)
    return np.clip(image + noise * (image > 0), 0, 255).astype(np.uint8)


def test_the_exported_model_equals_training_preprocessing_plus_the_keras_model(tmp_path: Path):
    keras.utils.set_random_seed(3)
    model = build_model(image_size=32, width=4)
    model_dir = export_model(model, tmp_path / "m", {"version": "parity"}, temperature=1.7)
    classifier = Classifier.load(model_dir)
    for shape in [(64, 64), (120, 90), (37, 200)]:
        pixels = _slice(*shape)
        training_input = preprocess(tf.constant(pixels[:, :, None]), 32)[None]
        logits = model(training_input, training=False).numpy()[0]
        expected = tf.nn.softmax(logits / 1.7).numpy()
        served = classifier.predict(pixels).probabilities
        np.testing.assert_allclose([served[c] for c in CLASSES], expected, atol=1e-5)


def test_the_model_card_holds_version_classes_input_spec_and_intended_use(tmp_path: Path):
    model_dir = export_model(build_model(image_size=32, width=4), tmp_path / "m", {"version": "9"})
    card = Classifier.load(model_dir).metadata
    assert card["version"] == "9"
    assert card["classes"] == list(CLASSES)
    assert card["input"]["dtype"] == "uint8"
    assert "not for diagnosis" in card["intended_use"]


def test_preprocessing_crops_away_empty_borders():
    head = _slice(80, 80)
    framed = np.zeros((300, 500), np.uint8)
    framed[100:180, 300:380] = head
    a = preprocess(tf.constant(head[:, :, None]), 64).numpy()
    b = preprocess(tf.constant(framed[:, :, None]), 64).numpy()
    assert np.abs(a - b).mean() < 0.02


def test_a_blank_image_is_kept_whole_rather_than_cropped_to_nothing():
    out = preprocess(tf.zeros([50, 70, 1], tf.uint8), 32).numpy()
    assert out.shape == (32, 32, 1) and not np.isnan(out).any()


def test_the_serving_signature_takes_any_size_of_uint8_greyscale():
    module = ServingModule(build_model(image_size=32, width=4), 32, 1.0)
    spec = module.serve.input_signature[0]
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, None, None, 1]
