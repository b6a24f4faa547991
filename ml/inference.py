"""Load an exported model once and classify decoded pixels with it."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from ml.artifact import EXPLAIN_SIGNATURE, PADDED_SIGNATURE, read_card
from ml.ood import FeatureDensity


@dataclass(frozen=True)
class Prediction:
    label: str
    probabilities: dict[str, float]
    embedding: tuple[float, ...] = ()
    # What the input gate measures (ml.ood); the embedding alone for older models.
    gate_features: tuple[float, ...] = ()


@dataclass(frozen=True)
class Explanation:
    label: str
    probabilities: dict[str, float]
    embedding: np.ndarray  # float32 [dim]
    gate_features: np.ndarray  # float32 [gate dim], as Prediction.gate_features
    heatmap: np.ndarray  # float32 [H, W] in [0, 1], on the input pixels' grid


class Classifier:
    def __init__(self, loaded: tf.Module, metadata: dict, density: FeatureDensity | None = None):
        self._serve = loaded.signatures["serving_default"]
        self._serve_padded = loaded.signatures.get(PADDED_SIGNATURE)
        self._loaded = loaded  # keep the SavedModel's variables alive
        self.metadata = metadata
        self.version = str(metadata["version"])
        self.classes = tuple(metadata["classes"])
        # Models exported before explanations and the input gate have neither.
        self._explain = loaded.signatures.get(EXPLAIN_SIGNATURE)
        self.density = density
        # ml.reexport makes a version from another only around identical weights: records
        # of either share this model's embeddings, probabilities and heatmaps.
        source = metadata.get("derived_from", {}).get("version")
        self.same_weights = frozenset({self.version, *([str(source)] if source else [])})

    @classmethod
    def load(cls, model_dir: Path) -> Classifier:
        model_dir = Path(model_dir)
        metadata = read_card(model_dir)
        return cls(tf.saved_model.load(str(model_dir)), metadata, FeatureDensity.load(model_dir))

    @property
    def can_explain(self) -> bool:
        return self._explain is not None

    def explain(self, pixels: np.ndarray) -> Explanation:
        """Grad-CAM of the predicted class; raises LookupError for a model without it."""
        if self._explain is None:
            raise LookupError(f"Model {self.version} was exported without explanations.")
        outputs = self._explain(image=tf.constant(pixels[np.newaxis, :, :, np.newaxis]))
        probabilities = outputs["probabilities"].numpy()[0].astype(float)
        return Explanation(
            label=self.classes[int(outputs["class_index"].numpy())],
            probabilities=dict(zip(self.classes, probabilities.tolist(), strict=True)),
            embedding=outputs["embedding"].numpy()[0],
            gate_features=_gate_features(outputs)[0],
            heatmap=outputs["heatmap"].numpy(),
        )

    def predict(self, pixels: np.ndarray) -> Prediction:
        return self.predict_batch([pixels])[0]

    def submit(self, pixels: np.ndarray) -> Future:
        """ml.batching.DynamicBatcher's interface, without a queue: the image is classified
        now and the future comes back finished, so callers need not tell the two apart."""
        future: Future = Future()
        try:
            future.set_result(self.predict(pixels))
        except Exception as error:  # handed to the caller, as the batcher's futures do
            future.set_exception(error)
        return future

    def predict_batch(self, images: list[np.ndarray]) -> list[Prediction]:
        """One model call for the whole list: images of one size go in as they are, mixed
        sizes zero-padded with their true sizes (models exported before the padded
        signature existed get one call per distinct size instead)."""
        by_shape = _indices_by_shape(images)
        if len(by_shape) > 1 and self._serve_padded is not None:
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
        probabilities = outputs["probabilities"].numpy().astype(float)
        embeddings = outputs["embedding"].numpy().astype(float)
        gate = _gate_features(outputs).astype(float)
        return [
            Prediction(
                label=self.classes[int(np.argmax(row))],
                probabilities=dict(zip(self.classes, row.tolist(), strict=True)),
                embedding=tuple(embedding.tolist()),
                gate_features=tuple(features.tolist()),
            )
            for row, embedding, features in zip(probabilities, embeddings, gate, strict=True)
        ]


def _gate_features(outputs: dict[str, tf.Tensor]) -> np.ndarray:
    """Models exported before the gate measured an earlier stage give the embedding."""
    return outputs.get("gate_features", outputs["embedding"]).numpy()


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
