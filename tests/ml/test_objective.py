"""Training's loss, weights and calibration on small made-up batches."""

import numpy as np
import pytest
import tensorflow as tf

from ml.cache import NO_CLASS, UNKNOWN_TYPE
from ml.labels import CLASSES, KIND_NAMES
from ml.objective import (
    Targets,
    TumourAndKindLoss,
    allowed_classes,
    calibrated_probabilities,
    encode_targets,
    fit_calibration,
    kind_weights,
    set_nll,
    tumour_weights,
)

GLIOMA, NO_TUMOR = CLASSES.index("glioma"), CLASSES.index("no_tumor")


def _targets(labels, kinds, origins) -> Targets:
    return Targets(np.array(labels), np.array(kinds), np.array(origins), np.array([], int))


def test_a_tumour_of_unknown_type_allows_every_class_but_no_tumour():
    allowed = allowed_classes(np.array([GLIOMA, UNKNOWN_TYPE, NO_CLASS]))
    assert allowed[0].tolist() == [1, 0, 0, 0, 0]
    assert allowed[1].sum() == len(CLASSES) - 1 and allowed[1, NO_TUMOR] == 0
    assert allowed[2].sum() == 0


def test_the_loss_of_an_unknown_type_tumour_is_minus_log_of_the_tumour_probability():
    targets = _targets([UNKNOWN_TYPE], [0], ["br35h"])
    encoded = encode_targets(targets, np.ones(1, np.float32), np.zeros(1, np.float32))
    logits = np.array([[0.5, -1.0, 2.0, 0.0, 0.3] + [0.0] * len(KIND_NAMES)], np.float32)
    loss = TumourAndKindLoss().call(tf.constant(encoded), tf.constant(logits)).numpy()[0]
    p = tf.nn.softmax(logits[0, : len(CLASSES)]).numpy()
    assert loss == pytest.approx(-np.log(1.0 - p[NO_TUMOR]), rel=1e-5)


def test_an_image_of_another_kind_adds_only_the_recognisers_loss():
    targets = _targets([NO_CLASS], [3], ["busi"])
    encoded = encode_targets(targets, np.zeros(1, np.float32), np.ones(1, np.float32))
    logits = np.zeros((1, len(CLASSES) + len(KIND_NAMES)), np.float32)
    loss = TumourAndKindLoss(kind_weight=2.0).call(tf.constant(encoded), tf.constant(logits))
    assert loss.numpy()[0] == pytest.approx(2.0 * np.log(len(KIND_NAMES)), rel=1e-5)


def test_every_class_weighs_the_same_in_all_whatever_its_sources_counts():
    labels = [GLIOMA] * 90 + [GLIOMA] * 10 + [NO_TUMOR] * 20
    origins = ["a"] * 90 + ["b"] * 10 + ["a"] * 20
    targets = _targets(labels, [0] * 120, origins)
    weights = tumour_weights(targets, np.arange(120))
    glioma, normal = weights[:100].sum(), weights[100:].sum()
    assert glioma == pytest.approx(normal, rel=1e-5)
    # Within glioma, source b (10 images) gets sqrt(10) / (sqrt(90) + sqrt(10)) of it.
    assert weights[90:100].sum() / glioma == pytest.approx(
        np.sqrt(10) / (np.sqrt(90) + np.sqrt(10))
    )


def test_with_origin_power_zero_every_origin_of_a_class_gets_the_same_share():
    labels = [GLIOMA] * 90 + [GLIOMA] * 10 + [NO_TUMOR] * 20
    origins = ["a"] * 90 + ["b"] * 10 + ["a"] * 20
    targets = _targets(labels, [0] * 120, origins)
    weights = tumour_weights(targets, np.arange(120), origin_power=0.0)
    assert weights[:90].sum() == pytest.approx(weights[90:100].sum(), rel=1e-5)
    assert weights[:100].sum() == pytest.approx(weights[100:].sum(), rel=1e-5)


def test_kind_weights_are_zero_outside_training_and_average_one_inside():
    kinds = np.array([0] * 100 + [1] * 4)
    weights = kind_weights(kinds, np.arange(100, dtype=int)[::2].tolist() + [100, 101])
    assert weights.mean() > 0 and weights[1] == 0
    trained = weights[weights > 0]
    assert trained.mean() == pytest.approx(1.0)


def test_calibration_lowers_the_set_valued_likelihood_it_was_fitted_on():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(CLASSES), 400)
    logits = rng.normal(0, 1, (400, len(CLASSES))) * 4
    logits[np.arange(400), labels] += 3.0  # right, but overconfident
    kinds = rng.integers(0, len(KIND_NAMES), 400)
    kind_logits = rng.normal(0, 1, (400, len(KIND_NAMES)))
    calibration = fit_calibration(logits, labels, kind_logits, kinds)
    before = set_nll(logits, labels, 1.0, np.zeros(len(CLASSES)))
    after = set_nll(logits, labels, calibration.temperature, np.array(calibration.bias))
    assert after < before and calibration.temperature > 1.0
    assert calibrated_probabilities(calibration, logits).sum(axis=1) == pytest.approx(1.0)
