"""Classification and calibration metrics, from probabilities and true labels."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

ECE_BINS = 15


def classification_metrics(y_true: np.ndarray, probs: np.ndarray, classes: tuple) -> dict:
    y_pred = probs.argmax(axis=1)
    labels = list(range(len(classes)))
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    per_class = {}
    for k, name in enumerate(classes):
        negatives = matrix.sum() - matrix[k].sum()
        false_positives = matrix[:, k].sum() - matrix[k, k]
        per_class[name] = {
            "sensitivity": float(recall[k]),
            "specificity": float((negatives - false_positives) / negatives) if negatives else None,
            "precision": float(precision[k]),
            "f1": float(f1[k]),
            "roc_auc": _one_vs_rest_auc(y_true == k, probs[:, k]),
            "support": int(support[k]),
        }
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "ece": expected_calibration_error(y_true, probs),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def _one_vs_rest_auc(is_class: np.ndarray, scores: np.ndarray) -> float | None:
    if is_class.all() or not is_class.any():
        return None
    return float(roc_auc_score(is_class, scores))


def reliability_bins(y_true: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS):
    """Per confidence bin: (mean confidence, accuracy, count)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        members = which == b
        if members.any():
            rows.append(
                (
                    float(confidence[members].mean()),
                    float(correct[members].mean()),
                    int(members.sum()),
                )
            )
    return rows


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray) -> float:
    rows = reliability_bins(y_true, probs)
    total = sum(count for _, _, count in rows)
    return float(sum(count * abs(conf - acc) for conf, acc, count in rows) / total)


def fit_temperature(logits: np.ndarray, y_true: np.ndarray) -> float:
    """The temperature that minimises the held-out negative log-likelihood."""

    def nll(temperature: float) -> float:
        return float(
            -log_softmax(logits / temperature, axis=1)[np.arange(len(y_true)), y_true].mean()
        )

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def calibrated(logits: np.ndarray, temperature: float) -> np.ndarray:
    return softmax(logits / temperature, axis=1)
