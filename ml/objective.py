"""What training minimises and how its outputs are calibrated.

One loss for both heads, read from one target row per image:
- the tumour head: −log Σ p(allowed classes), so a typed image (one allowed class) gets
  the usual cross-entropy and a tumour of unlabelled type (every tumour class allowed)
  learns only "not no_tumor" (Cour et al., 2011, learning from partial labels); images
  with no class (other kinds, non-tumour lesions, CT suspects) add nothing here;
- the recogniser head: cross-entropy of the image's kind.
Weights balance sources: every class (and the unlabelled tumours) weighs the same in all,
and within a class each origin's share grows with a power of its count (the square root by
default; the power 0 gives every origin of a class the same share), so that no class is
carried by one source's look. Kinds weigh by one over the square root of their
count: brain MRI outnumbers every other kind 60 to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from scipy.optimize import minimize
from scipy.special import log_softmax, logsumexp, softmax

from ml.cache import NO_CLASS, UNKNOWN_TYPE
from ml.export import Calibration
from ml.labels import CLASSES, KIND_NAMES, NO_TUMOR

NUM_CLASSES = len(CLASSES)
NO_TUMOR_INDEX = CLASSES.index(NO_TUMOR)
# The recogniser's brain-MRI limit: 0.5, unless more than this share of the validation
# brain MRI fall below it; then the limit that lets exactly that share through below.
RECOGNISER_VALIDATION_REFUSED = 0.01
DEFAULT_LIMIT = 0.5


@dataclass(frozen=True)
class Targets:
    labels: np.ndarray  # ml.cache.label_index values
    kinds: np.ndarray  # ml.labels.KIND_NAMES indices
    origins: np.ndarray  # ml.datasets.Sample.origin
    ct_suspects: np.ndarray  # indices moved from brain MRI to brain CT

    @staticmethod
    def is_tumour(labels: np.ndarray) -> np.ndarray:
        return (labels >= 0) & (labels != NO_TUMOR_INDEX)


def allowed_classes(labels: np.ndarray) -> np.ndarray:
    """[N, classes] of 0/1: the classes each image's label allows."""
    allowed = np.zeros((len(labels), NUM_CLASSES), np.float32)
    typed = (labels >= 0) & (labels < NUM_CLASSES)
    allowed[np.flatnonzero(typed), labels[typed]] = 1.0
    allowed[labels == UNKNOWN_TYPE] = 1.0
    allowed[labels == UNKNOWN_TYPE, NO_TUMOR_INDEX] = 0.0
    return allowed


def tumour_weights(targets: Targets, train: np.ndarray, origin_power: float = 0.5) -> np.ndarray:
    """Per image (0 outside `train` and for images without a class), mean 1 over those
    that have one; within a class each origin's share is its count to `origin_power`."""
    weights = np.zeros(len(targets.labels), np.float32)
    labelled = train[targets.labels[train] != NO_CLASS]
    for label in np.unique(targets.labels[labelled]):
        members = labelled[targets.labels[labelled] == label]
        origins, counts = np.unique(targets.origins[members], return_counts=True)
        grown = counts.astype(np.float64) ** origin_power
        shares = grown / grown.sum()
        for origin, count, share in zip(origins, counts, shares, strict=True):
            weights[members[targets.origins[members] == origin]] = share / count
    weights[labelled] *= len(labelled) / weights[labelled].sum()
    return weights


def kind_weights(kinds: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Per image (0 outside `train`): one over the square root of its kind's count, mean 1."""
    weights = np.zeros(len(kinds), np.float32)
    counts = np.bincount(kinds[train], minlength=len(KIND_NAMES)).astype(np.float32)
    weights[train] = 1.0 / np.sqrt(counts[kinds[train]])
    weights[train] *= len(train) / weights[train].sum()
    return weights


def encode_targets(targets: Targets, tumour: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """[N, classes + kinds]: the allowed classes times the tumour weight, then the kind's
    one-hot times the kind weight; TumourAndKindLoss reads them back."""
    kinds = np.zeros((len(targets.kinds), len(KIND_NAMES)), np.float32)
    kinds[np.arange(len(kinds)), targets.kinds] = 1.0
    return np.concatenate(
        [allowed_classes(targets.labels) * tumour[:, None], kinds * kind[:, None]], axis=1
    )


@keras.saving.register_keras_serializable(package="medimg")
class TumourAndKindLoss(keras.losses.Loss):
    def __init__(self, kind_weight: float = 1.0, name: str = "tumour_and_kind", **kwargs):
        super().__init__(name=name, **kwargs)
        self.kind_weight = kind_weight

    def call(self, y_true, y_pred):
        true_classes, true_kinds = y_true[:, :NUM_CLASSES], y_true[:, NUM_CLASSES:]
        logits, kind_logits = y_pred[:, :NUM_CLASSES], y_pred[:, NUM_CLASSES:]
        class_weight = tf.reduce_max(true_classes, axis=1)
        log_p = tf.nn.log_softmax(logits)
        allowed_log_p = tf.reduce_logsumexp(
            tf.where(true_classes > 0, log_p, tf.fill(tf.shape(log_p), -1e9)), axis=1
        )
        tumour_loss = tf.where(class_weight > 0, -class_weight * allowed_log_p, 0.0)
        kind_weight = tf.reduce_max(true_kinds, axis=1)
        kind_log_p = tf.nn.log_softmax(kind_logits)
        kind_loss = -tf.reduce_sum(tf.sign(true_kinds) * kind_log_p, axis=1) * kind_weight
        return tumour_loss + self.kind_weight * kind_loss

    def get_config(self):
        return {**super().get_config(), "kind_weight": self.kind_weight}


def set_nll(logits: np.ndarray, labels: np.ndarray, temperature: float, bias: np.ndarray):
    """Mean −log Σ p(allowed classes) of the calibrated logits."""
    log_p = log_softmax(logits / temperature + bias, axis=1)
    allowed = allowed_classes(labels) > 0
    return float(-logsumexp(np.where(allowed, log_p, -np.inf), axis=1).mean())


def fit_calibration(
    logits: np.ndarray, labels: np.ndarray, kind_logits: np.ndarray, kinds: np.ndarray
) -> Calibration:
    """Bias-corrected temperature scaling of the classes on the validation images that have
    a class (the unlabelled tumours by their allowed set), temperature scaling of kinds."""
    labelled = labels != NO_CLASS
    class_logits, class_labels = logits[labelled], labels[labelled]

    def class_loss(params: np.ndarray) -> float:
        return set_nll(class_logits, class_labels, np.exp(params[0]), params[1:])

    fitted = minimize(class_loss, np.zeros(NUM_CLASSES + 1), method="L-BFGS-B").x
    bias = fitted[1:] - fitted[1:].mean()  # only differences between classes matter

    def kind_loss(params: np.ndarray) -> float:
        log_p = log_softmax(kind_logits / np.exp(params[0]), axis=1)
        return float(-log_p[np.arange(len(kinds)), kinds].mean())

    kind_temperature = float(np.exp(minimize(kind_loss, np.zeros(1), method="L-BFGS-B").x[0]))
    return Calibration(
        temperature=float(np.exp(fitted[0])),
        bias=tuple(float(b) for b in bias),
        kind_temperature=kind_temperature,
    )


def calibrated_probabilities(calibration: Calibration, logits: np.ndarray) -> np.ndarray:
    return softmax(logits / calibration.temperature + np.array(calibration.bias), axis=1)


def calibrated_kinds(calibration: Calibration, kind_logits: np.ndarray) -> np.ndarray:
    return softmax(kind_logits / calibration.kind_temperature, axis=1)


def recogniser_limit(brain_mri_probability: np.ndarray) -> dict:
    """The brain-MRI limit from the validation brain MRI's calibrated probabilities."""
    refused_at_default = float(np.mean(brain_mri_probability < DEFAULT_LIMIT))
    limit = DEFAULT_LIMIT
    if refused_at_default > RECOGNISER_VALIDATION_REFUSED:
        limit = float(np.quantile(brain_mri_probability, RECOGNISER_VALIDATION_REFUSED))
    return {
        "brain_mri_limit": limit,
        "rule": f"{DEFAULT_LIMIT}, or lower if more than {RECOGNISER_VALIDATION_REFUSED:.0%} "
        "of the validation brain MRI fall below it",
        "validation_brain_mri_below_default": refused_at_default,
    }
