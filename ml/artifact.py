"""The names an exported model directory and its SavedModel signatures go by.

Shared by the exporter and the server; kept free of TensorFlow and Keras so that importing
them costs the server nothing.
"""

import json
from pathlib import Path

METADATA_FILE = "metadata.json"
# Batches images of different sizes (padded, with their true sizes); see ml.export.ServingModule.
PADDED_SIGNATURE = "serve_padded"
# Grad-CAM of the predicted class for one image, on its own pixel grid; see ml/explain.py.
EXPLAIN_SIGNATURE = "explain"


def read_card(model_dir: Path) -> dict:
    """A model directory's metadata.json (its card)."""
    return json.loads((Path(model_dir) / METADATA_FILE).read_text())


def write_card(model_dir: Path, card: dict) -> None:
    """The one writer of cards: each is checked against ml.card.ModelCard first."""
    from ml.card import ModelCard  # pydantic only; imported when a card is written

    ModelCard.model_validate(card)
    (Path(model_dir) / METADATA_FILE).write_text(json.dumps(card, indent=2) + "\n")
