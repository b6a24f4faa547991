"""Serving cannot drift from training: the SavedModel preprocesses exactly as training does."""

from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf

from ml.datasets import list_samples
from ml.decode import decode_image
from ml.export import Calibration, ServingModule, export_model
from ml.inference import Classifier
from ml.labels import CLASSES
from ml.model import GATE_STAGE, build_model
from ml.preprocess import CROP_MARGIN, HEAD_THRESHOLD, crop_to_head, preprocess
from ml.train import predict_logits


def _slice(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(height * width)
    image = np.zeros((height, width), np.uint8)
    cv2.ellipse(image, (width // 2, height // 2), (width // 3, height // 3), 0, 0, 360, 150, -1)
    noise = rng.integers(0, 60, size=image.shape)
    return np.clip(image + noise * (image > 0), 0, 255).astype(np.uint8)


def _card(version: str) -> dict:
    return {"name": "parity-test", "version": version}


def test_the_exported_model_equals_training_preprocessing_plus_the_mirror_averaged_model(
    tmp_path: Path,
):
    keras.utils.set_random_seed(3)
    model = build_model(image_size=32, width=4)
    bias = (0.1, -0.2, 0.3, 0.0, -0.2)
    calibration = Calibration(temperature=1.7, bias=bias)
    model_dir = export_model(model, tmp_path / "m", _card("parity"), calibration)
    classifier = Classifier.load(model_dir)
    for shape in [(64, 64), (120, 90), (37, 200)]:
        pixels = _slice(*shape)
        training_input = preprocess(tf.constant(pixels[:, :, None]), 32)[None]
        mirrored_input = training_input[:, :, ::-1, :]
        logits = (model(training_input, training=False)[0] + model(mirrored_input)[0]) / 2
        expected = tf.nn.softmax(logits.numpy()[0] / 1.7 + np.array(bias, np.float32)).numpy()
        served = classifier.predict(pixels).probabilities
        np.testing.assert_allclose([served[c] for c in CLASSES], expected, atol=1e-5)
        # Training calibrates on the same mirror-averaged logits (ml.train.predict_logits).
        cached = np.round(training_input.numpy()[..., 0] * 255).astype(np.uint8)
        calibrated_on = predict_logits(model, cached)[0][0]
        np.testing.assert_allclose(calibrated_on, logits.numpy()[0], atol=0.05)


def test_the_gate_features_are_the_third_stage_averaged_then_the_embedding(tmp_path: Path):
    keras.utils.set_random_seed(4)
    model = build_model(image_size=32, width=4)
    classifier = Classifier.load(export_model(model, tmp_path / "m", _card("gate")))
    pixels = _slice(120, 90)
    training_input = preprocess(tf.constant(pixels[:, :, None]), 32)[None]
    stage = keras.Model(model.inputs, model.get_layer(GATE_STAGE).output)
    expected_earlier = stage(training_input, training=False).numpy().mean(axis=(1, 2))[0]

    prediction = classifier.predict(pixels)
    features = np.array(prediction.gate_features)
    width = len(prediction.embedding)
    np.testing.assert_allclose(features[-width:], prediction.embedding, atol=1e-6)
    np.testing.assert_allclose(features[:-width], expected_earlier, atol=1e-5)
    # Grad-CAM's signature reports the same features for the same image.
    np.testing.assert_allclose(classifier.explain(pixels).gate_features, features, atol=1e-5)


def test_the_model_card_holds_version_classes_input_spec_and_intended_use(tmp_path: Path):
    model_dir = export_model(build_model(image_size=32, width=4), tmp_path / "m", _card("9"))
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


def crop_as_first_written(pixels: np.ndarray) -> np.ndarray:
    """The crop's definition, pixel by pixel: every pixel scaled to [0, 1] and compared
    with HEAD_THRESHOLD of the brightest, in float32 as TensorFlow computes it."""
    scaled = pixels.astype(np.float32) / np.float32(255.0)
    mask = scaled > np.float32(HEAD_THRESHOLD) * scaled.max()
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return pixels
    top, left = max(rows[0] - CROP_MARGIN, 0), max(cols[0] - CROP_MARGIN, 0)
    return pixels[top : rows[-1] + CROP_MARGIN + 1, left : cols[-1] + CROP_MARGIN + 1]


def _near_threshold_images() -> list[np.ndarray]:
    """Brightest 255 and 13 (thresholds 20.4 and 1.04): rows whose maximum sits one grey
    level either side of the threshold, where a rounding difference would show."""
    images = [np.zeros((40, 60), np.uint8), np.full((30, 30), 200, np.uint8)]
    for brightest, edge in ((255, 20), (255, 21), (13, 1), (13, 2)):
        image = np.zeros((50, 70), np.uint8)
        image[25, 35] = brightest
        image[5, 10] = image[45, 60] = edge
        images.append(image)
    return images + [_slice(90, 130)]


def test_the_crop_keeps_exactly_the_pixels_brighter_than_the_threshold_share():
    for pixels in _near_threshold_images():
        cropped = crop_to_head(tf.constant(pixels[:, :, None])).numpy()[:, :, 0]
        np.testing.assert_array_equal(cropped, crop_as_first_written(pixels))


def test_the_crop_matches_its_definition_on_real_slices_of_both_sources(dataset_dir: Path):
    samples = list_samples(dataset_dir)
    for sample in samples[:: len(samples) // 60]:
        pixels = decode_image(sample.path.read_bytes()).pixels
        cropped = crop_to_head(tf.constant(pixels[:, :, None])).numpy()[:, :, 0]
        np.testing.assert_array_equal(cropped, crop_as_first_written(pixels))


def test_a_blank_image_is_kept_whole_rather_than_cropped_to_nothing():
    out = preprocess(tf.zeros([50, 70, 1], tf.uint8), 32).numpy()
    assert out.shape == (32, 32, 1) and not np.isnan(out).any()


def test_the_serving_signature_takes_any_size_of_uint8_greyscale():
    module = ServingModule(build_model(image_size=32, width=4), 32, Calibration())
    spec = module.serve.input_signature[0]
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, None, None, 1]
