"""A tiny, untrained model exported through the real `ml.export.export_model`: it loads in
a fraction of a second, so API tests serve a real SavedModel without training one."""

from pathlib import Path

import keras
import pytest

import ml.model
from ml.export import export_model
from ml.labels import KIND_NAMES

# Thresholds on tumour_probability for the untrained model: real models carry the ones
# chosen on their validation split (ml.finding).
TINY_MODEL_FINDING = {"no_tumour_below": 0.3, "tumour_suspected_from": 0.6}
# Added to one kind's logit of the untrained recogniser: about 0.85 for that kind whatever the
# image (untrained, the eleven kinds get about 0.09 each, below any brain-MRI limit).
KIND_LOGIT_BIAS = 4.0


def export_tiny_model(out_dir: Path) -> Path:
    """An untrained, tiny model through the real export path: fast API tests."""
    keras.utils.set_random_seed(0)
    # Looked up on the module at call time, so export_tiny_model_reading can swap it.
    model = ml.model.build_model(image_size=32, width=4)
    metadata = {
        "version": "0.0.0-test",
        "name": "tiny-untrained",
        "finding_thresholds": TINY_MODEL_FINDING,
    }
    return export_model(model, out_dir, metadata)


def export_tiny_model_reading(kind: str, out_dir: Path) -> Path:
    """`export_tiny_model`, with its recogniser reading every image as `kind`, as a trained
    one reads an image of that kind: the tumour model answers or is refused by what the
    recogniser says, and the header and colour cues still apply."""
    build = ml.model.build_model

    def build_reading_kind(*args, **kwargs):
        model = build(*args, **kwargs)
        layer = model.get_layer("kind_logits")
        kernel, bias = layer.get_weights()
        bias[KIND_NAMES.index(kind)] += KIND_LOGIT_BIAS
        layer.set_weights([kernel, bias])
        return model

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ml.model, "build_model", build_reading_kind)
        return export_tiny_model(out_dir)
