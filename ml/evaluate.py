"""Score an exported model on held-out folders, through the SavedModel itself.

Images are decoded from their files by `ml.decode` and classified by `ml.inference`,
exactly as the API does, so the reported figures are the served model's figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml.datasets import Sample
from ml.decode import decode_image
from ml.inference import Classifier
from ml.labels import CLASSES
from ml.metrics import calibrated, classification_metrics
from ml.splits import Splits


def predict_files(classifier: Classifier, samples: list[Sample]) -> np.ndarray:
    """Calibrated probabilities [N, classes] for each file."""
    rows = []
    for sample in samples:
        prediction = classifier.predict(decode_image(sample.path.read_bytes()).pixels)
        rows.append([prediction.probabilities[name] for name in CLASSES])
    return np.array(rows)


def score(probabilities: np.ndarray, samples: list[Sample], temperature: float) -> dict:
    """Metrics after calibration, and the calibration error before it."""
    y_true = np.array([CLASSES.index(s.label) for s in samples])
    uncalibrated = calibrated(temperature * np.log(np.clip(probabilities, 1e-12, 1.0)), 1.0)
    metrics = classification_metrics(y_true, probabilities, CLASSES)
    metrics["ece_before_calibration"] = classification_metrics(y_true, uncalibrated, CLASSES)["ece"]
    return metrics


# Nickparvar images scored by a model trained without any: a source it never saw.
UNSEEN_SOURCE_SET = "nickparvar_unseen_source"


def held_out_sets(samples: list[Sample], splits: Splits, train_sources) -> dict[str, np.ndarray]:
    sets = {"sartaj_testing": splits.test, "sartaj_testing_leak_free": splits.test_leak_free}
    if "nickparvar" not in train_sources:
        unseen = [i for i, s in enumerate(samples) if s.source == "nickparvar"]
        sets[UNSEEN_SOURCE_SET] = np.setdiff1d(unseen, splits.excluded)
    return sets


def evaluate_exported(
    model_dir: Path,
    samples: list[Sample],
    splits: Splits,
    train_sources,
    extra_sets: dict[str, np.ndarray] | None = None,
) -> dict:
    """The held-out folders' figures, and those of `extra_sets` that the run held out."""
    classifier = Classifier.load(model_dir)
    temperature = float(classifier.metadata.get("temperature", 1.0))
    sets = {**held_out_sets(samples, splits, train_sources), **(extra_sets or {})}
    results = {}
    for name, indices in sets.items():
        chosen = [samples[i] for i in indices]
        probabilities = predict_files(classifier, chosen)
        results[name] = {
            "metrics": score(probabilities, chosen, temperature),
            "probabilities": probabilities,
            "labels": np.array([CLASSES.index(s.label) for s in chosen]),
        }
    return results
