"""Load an exported model once and classify decoded pixels with it."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from ml.artifact import EXPLAIN_SIGNATURE, PADDED_SIGNATURE, read_card
from ml.finding import Finding, FindingThresholds
from ml.kinds import DEFAULT_BRAIN_MRI_LIMIT, KindEstimate
from ml.labels import BRAIN_MRI, NO_TUMOR
from ml.ood import FeatureDensity


@dataclass(frozen=True)
class Prediction:
    label: str
    probabilities: dict[str, float]
    embedding: tuple[float, ...] = ()
    # What the input gate measures (ml.ood).
    gate_features: tuple[float, ...] = ()
    # Calibrated probability that any tumour is present, and the answer it gives.
    tumour_probability: float | None = None
    finding: Finding | None = None
    kind: KindEstimate | None = None


@dataclass(frozen=True)
class Explanation:
    label: str
    probabilities: dict[str, float]
    embedding: np.ndarray  # float32 [dim]
    gate_features: np.ndarray  # float32 [gate dim], as Prediction.gate_features
    heatmap: np.ndarray  # float32 [H, W] in [0, 1], on the input pixels' grid
    kind: KindEstimate | None = None


class Classifier:
    def __init__(self, loaded: tf.Module, metadata: dict, density: FeatureDensity | None = None):
        self._serve = loaded.signatures["serving_default"]
        self._serve_padded = loaded.signatures[PADDED_SIGNATURE]
        self._loaded = loaded  # keep the SavedModel's variables alive
        self.metadata = metadata
        self.version = str(metadata["version"])
        self.classes = tuple(metadata["classes"])
        self.kinds = tuple(metadata["kinds"])
        self.finding_thresholds = FindingThresholds.from_card(metadata)
        self.brain_mri_limit = float(
            metadata.get("recogniser", {}).get("brain_mri_limit", DEFAULT_BRAIN_MRI_LIMIT)
        )
        self._explain = loaded.signatures[EXPLAIN_SIGNATURE]
        self.density = density
        self.same_weights = frozenset({self.version})

    @classmethod
    def load(cls, model_dir: Path) -> Classifier:
        model_dir = Path(model_dir)
        metadata = read_card(model_dir)
        return cls(tf.saved_model.load(str(model_dir)), metadata, FeatureDensity.load(model_dir))

    @property
    def can_explain(self) -> bool:
        return True

    def explain(self, pixels: np.ndarray) -> Explanation:
        """Grad-CAM of the predicted class, on the image's own pixel grid."""
        outputs = self._explain(image=tf.constant(pixels[np.newaxis, :, :, np.newaxis]))
        probabilities = outputs["probabilities"].numpy()[0].astype(float)
        return Explanation(
            label=answered_class(self.classes, probabilities, self.finding_thresholds),
            probabilities=dict(zip(self.classes, probabilities.tolist(), strict=True)),
            embedding=outputs["embedding"].numpy()[0],
            gate_features=outputs["gate_features"].numpy()[0],
            heatmap=outputs["heatmap"].numpy(),
            kind=self._kind(outputs["kind_probabilities"].numpy()[0]),
        )

    def predict(self, pixels: np.ndarray) -> Prediction:
        return self.predict_batch([pixels])[0]

    def submit(self, pixels: np.ndarray) -> Future:
        """api.batching.DynamicBatcher's interface, without a queue: the image is classified
        now and the future comes back finished, so callers need not tell the two apart."""
        future: Future = Future()
        try:
            future.set_result(self.predict(pixels))
        except Exception as error:  # handed to the caller, as the batcher's futures do
            future.set_exception(error)
        return future

    def predict_batch(self, images: list[np.ndarray]) -> list[Prediction]:
        """One model call for the whole list: images of one size go in as they are, mixed
        sizes zero-padded with their true sizes."""
        by_shape = _indices_by_shape(images)
        if len(by_shape) > 1:
            padded, sizes = _pad_to_largest(images)
            return self._predictions(self._serve_padded(image=padded, size=sizes))
        predictions: list[Prediction] = [None] * len(images)  # type: ignore[list-item]
        for indices in by_shape.values():
            batch = np.stack([images[i] for i in indices])[..., np.newaxis]
            outputs = self._serve(image=tf.constant(batch, dtype=tf.uint8))
            for index, prediction in zip(indices, self._predictions(outputs), strict=True):
                predictions[index] = prediction
        return predictions

    def _predictions(self, outputs: dict[str, tf.Tensor]) -> list[Prediction]:
        columns = zip(
            outputs["probabilities"].numpy().astype(float),
            outputs["tumour_probability"].numpy().astype(float),
            outputs["kind_probabilities"].numpy().astype(float),
            outputs["embedding"].numpy().astype(float),
            outputs["gate_features"].numpy().astype(float),
            strict=True,
        )
        return [
            self._prediction(row, float(tumour), kinds, embedding, features)
            for row, tumour, kinds, embedding, features in columns
        ]

    def _prediction(self, row, tumour, kinds, embedding, features) -> Prediction:
        finding = self._finding(tumour)
        return Prediction(
            label=answered_class(self.classes, row, self.finding_thresholds),
            probabilities=dict(zip(self.classes, row.tolist(), strict=True)),
            embedding=tuple(embedding.tolist()),
            gate_features=tuple(features.tolist()),
            tumour_probability=tumour,
            finding=finding,
            kind=self._kind(kinds),
        )

    def _finding(self, tumour_probability: float) -> Finding | None:
        if self.finding_thresholds is None:
            return None
        return self.finding_thresholds.finding(tumour_probability)

    def _kind(self, probabilities: np.ndarray) -> KindEstimate:
        best = int(np.argmax(probabilities))
        return KindEstimate(
            kind=self.kinds[best],
            probability=float(probabilities[best]),
            brain_mri_probability=float(probabilities[self.kinds.index(BRAIN_MRI)]),
            probabilities=dict(zip(self.kinds, probabilities.astype(float).tolist(), strict=True)),
            brain_mri_limit=self.brain_mri_limit,
        )


def answered_class(
    classes: tuple[str, ...], probabilities: np.ndarray, thresholds: FindingThresholds | None
) -> str:
    """The class a record answers: no_tumor when the thresholds' label leans that way (never
    when the finding is tumour_suspected, always when it is no_tumour), else the most
    probable tumour class. Without thresholds, the most probable class."""
    if thresholds is None:
        return classes[int(np.argmax(probabilities))]
    if thresholds.labels_no_tumor(1.0 - float(probabilities[classes.index(NO_TUMOR)])):
        return NO_TUMOR
    tumour = [k for k, name in enumerate(classes) if name != NO_TUMOR]
    return classes[tumour[int(np.argmax(probabilities[tumour]))]]


def _indices_by_shape(images: list[np.ndarray]) -> dict[tuple[int, ...], list[int]]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, pixels in enumerate(images):
        groups.setdefault(pixels.shape, []).append(index)
    return groups


def _pad_to_largest(images: list[np.ndarray]) -> tuple[tf.Tensor, tf.Tensor]:
    """uint8 [N, Hmax, Wmax, 1] with each image top-left, and int32 [N, 2] true sizes."""
    height = max(pixels.shape[0] for pixels in images)
    width = max(pixels.shape[1] for pixels in images)
    padded = np.zeros((len(images), height, width, 1), np.uint8)
    for slot, pixels in zip(padded, images, strict=True):
        slot[: pixels.shape[0], : pixels.shape[1], 0] = pixels
    sizes = np.array([pixels.shape[:2] for pixels in images], np.int32)
    return tf.constant(padded), tf.constant(sizes)
