"""Export a trained Keras model as a TensorFlow SavedModel that does its own preprocessing.

The serving signature takes decoded pixels (uint8 [N, H, W, 1]) and returns calibrated
class probabilities, the calibrated probability that any tumour is present, the kind of
image (modality and body part) with its probabilities, raw logits (each head's averaged over
the slice and its mirror, as calibration saw them), the embedding and the input gate's
features, so the API never resizes or scales.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

from ml.artifact import EXPLAIN_SIGNATURE, PADDED_SIGNATURE, write_card
from ml.explain import explain_image, gate_features
from ml.labels import CLASSES, KIND_NAMES, NO_TUMOR
from ml.mirror import mirror_averaged_logits
from ml.model import GATE_STAGE
from ml.preprocess import preprocess, preprocess_batch

INTENDED_USE = (
    "Research and education only. Not a medical device; not for diagnosis or treatment decisions."
)
OUTPUTS = (
    "probabilities",
    "tumour_probability",
    "kind_probabilities",
    "logits",
    "kind_logits",
    "embedding",
    "gate_features",
)


@dataclass(frozen=True)
class Calibration:
    """Bias-corrected temperature scaling of the class logits (Alexandari et al., 2020) and
    temperature scaling of the kind logits, each fitted on validation images."""

    temperature: float = 1.0
    bias: tuple[float, ...] = field(default_factory=lambda: (0.0,) * len(CLASSES))
    kind_temperature: float = 1.0

    def card(self) -> dict:
        return {
            "method": "bias-corrected temperature scaling (classes), temperature scaling "
            "(kinds), fitted on the validation split",
            "temperature": self.temperature,
            "bias": list(self.bias),
            "kind_temperature": self.kind_temperature,
        }


class ServingModule(tf.Module):
    def __init__(self, model: keras.Model, image_size: int, calibration: Calibration):
        super().__init__()
        earlier = keras.layers.GlobalAveragePooling2D()(model.get_layer(GATE_STAGE).output)
        logits, kind_logits = model.outputs
        embedding = model.get_layer("embedding")
        self.network = keras.Model(model.inputs, [embedding.output, earlier, logits, kind_logits])
        # The same layers, also handing out the last stage's feature maps for Grad-CAM.
        self.cam_network = keras.Model(
            model.inputs, [embedding.input, earlier, logits, kind_logits]
        )
        self.image_size = image_size
        self.temperature = tf.Variable(calibration.temperature, dtype=tf.float32, trainable=False)
        self.bias = tf.Variable(calibration.bias, dtype=tf.float32, trainable=False)
        self.kind_temperature = tf.Variable(
            calibration.kind_temperature, dtype=tf.float32, trainable=False
        )

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 1], tf.uint8, name="image")])
    def explain(self, image):
        return explain_image(self.cam_network, image[0], self.image_size, self.calibrate)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 1], tf.uint8, name="image")])
    def serve(self, image):
        return self._classify(preprocess_batch(image, self.image_size))

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, 1], tf.uint8, name="image"),
            tf.TensorSpec([None, 2], tf.int32, name="size"),
        ]
    )
    def serve_padded(self, image, size):
        """Images of different sizes in one call: each is zero-padded to the largest and
        `size` holds its true (height, width), which is cut out before preprocessing."""
        return self._classify(preprocess_padded_batch(image, size, self.image_size))

    def calibrate(self, logits, kind_logits) -> dict:
        probabilities = tf.nn.softmax(logits / self.temperature + self.bias)
        return {
            "probabilities": probabilities,
            "tumour_probability": 1.0 - probabilities[:, CLASSES.index(NO_TUMOR)],
            "kind_probabilities": tf.nn.softmax(kind_logits / self.kind_temperature),
        }

    def _classify(self, batch):
        embedding, earlier, logits, kind_logits = mirror_averaged_logits(self.network, batch)
        return {
            **self.calibrate(logits, kind_logits),
            "logits": logits,
            "kind_logits": kind_logits,
            "embedding": embedding,
            "gate_features": gate_features(earlier, embedding),
        }


def preprocess_padded_batch(images: tf.Tensor, sizes: tf.Tensor, image_size: int) -> tf.Tensor:
    """Zero-padded uint8 [N, Hmax, Wmax, 1] and true sizes int32 [N, 2] (height, width) →
    float32 [N, size, size, 1]: each image is cut to its true size, then preprocessed."""
    return tf.map_fn(
        lambda pair: preprocess(pair[0][: pair[1][0], : pair[1][1], :], image_size),
        (images, sizes),
        fn_output_signature=tf.TensorSpec([image_size, image_size, 1], tf.float32),
    )


def export_model(
    model: keras.Model, out_dir: Path, metadata: dict, calibration: Calibration = Calibration()
) -> Path:
    """The SavedModel and its card (the card's own fields first, then `metadata`)."""
    out_dir = Path(out_dir)
    image_size = int(model.inputs[0].shape[1])
    save_serving_module(ServingModule(model, image_size, calibration), out_dir)
    card = {**base_card(image_size, calibration), **metadata}
    write_card(out_dir, card)
    return out_dir


def base_card(image_size: int, calibration: Calibration = Calibration()) -> dict:
    """What every card says of its SavedModel: classes, kinds, input, outputs, calibration
    and intended use (ml.card.ModelCard); a trained model's run adds the rest."""
    return {
        "classes": list(CLASSES),
        "kinds": list(KIND_NAMES),
        "input": {
            "signature": "serving_default",
            "tensor": "image",
            "dtype": "uint8",
            "shape": [None, None, None, 1],
            "description": "Decoded greyscale slice(s), any size; the model crops, pads and "
            f"resizes to {image_size}x{image_size} itself.",
        },
        "outputs": list(OUTPUTS),
        "temperature": calibration.temperature,
        "calibration": calibration.card(),
        "intended_use": INTENDED_USE,
    }


def save_serving_module(module: ServingModule, out_dir: Path) -> None:
    """The SavedModel itself (graph and weights), without the card."""
    signatures = {
        "serving_default": module.serve,
        PADDED_SIGNATURE: module.serve_padded,
        EXPLAIN_SIGNATURE: module.explain,
    }
    tf.saved_model.save(module, str(out_dir), signatures=signatures)
