"""Load an exported model once and classify decoded pixels with it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from ml.export import METADATA_FILE


@dataclass(frozen=True)
class Prediction:
    label: str
    probabilities: dict[str, float]
    embedding: tuple[float, ...] = ()


class Classifier:
    def __init__(self, loaded: tf.Module, metadata: dict):
        self._serve = loaded.signatures["serving_default"]
        self._loaded = loaded  # keep the SavedModel's variables alive
        self.metadata = metadata
        self.version = str(metadata["version"])
        self.classes = tuple(metadata["classes"])

    @classmethod
    def load(cls, model_dir: Path) -> Classifier:
        model_dir = Path(model_dir)
        metadata = json.loads((model_dir / METADATA_FILE).read_text())
        return cls(tf.saved_model.load(str(model_dir)), metadata)

    def predict(self, pixels: np.ndarray) -> Prediction:
        return self.predict_batch([pixels])[0]

    def predict_batch(self, images: list[np.ndarray]) -> list[Prediction]:
        """Images of different sizes run one by one; the signature needs one shape a call."""
        return [self._predict_one(pixels) for pixels in images]

    def _predict_one(self, pixels: np.ndarray) -> Prediction:
        batch = tf.constant(pixels[np.newaxis, :, :, np.newaxis], dtype=tf.uint8)
        outputs = self._serve(image=batch)
        probabilities = outputs["probabilities"].numpy()[0].astype(float)
        label = self.classes[int(np.argmax(probabilities))]
        return Prediction(
            label=label,
            probabilities={
                name: float(p) for name, p in zip(self.classes, probabilities, strict=True)
            },
            embedding=tuple(float(v) for v in outputs["embedding"].numpy()[0]),
        )
