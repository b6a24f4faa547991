"""Model cards: which models are installed, which one serves, and what each was made from.

Installed models are the directories beside the serving one (`models/brain-tumor-cnn/<v>/`),
each with its `metadata.json` card.
"""

import json
import logging
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ClassifierDep, SettingsDep, get_actor
from api.errors import problem_responses
from ml.artifact import METADATA_FILE
from ml.labels import CLASSES, KIND_NAMES

logger = logging.getLogger(__name__)

MODEL_CARD_EXAMPLE = {
    "name": "brain-tumor-cnn",
    "version": "0.12.0",
    "classes": list(CLASSES),
    "kinds": list(KIND_NAMES),
    "finding_thresholds": {"no_tumour_below": 0.08, "tumour_suspected_from": 0.5},
    "intended_use": "Research and education only. Not a medical device.",
    "metrics": {"test": {"accuracy": 0.81, "macro_f1": 0.79}},
}


class ModelSummary(BaseModel):
    name: str | None = Field(default=None, description="The model's name.")
    version: str = Field(description="Its version; GET /models/{version} has its card.")
    serving: bool = Field(description="Whether this model classifies new uploads now.")


class ModelsPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data": [{"name": "brain-tumor-cnn", "version": "0.1.0", "serving": True}],
                    "count": 1,
                }
            ]
        }
    )

    data: list[ModelSummary]
    count: int


class ModelCard(BaseModel):
    """The model's `metadata.json`: the fields below, and everything else it records."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [MODEL_CARD_EXAMPLE]})

    name: str | None = None
    version: str
    classes: list[str] = Field(
        default_factory=list,
        description="The tumour classes it answers (four before 0.7.0, `other_tumour` since).",
    )
    intended_use: str | None = None


ModelVersion = Annotated[str, PathParam(max_length=64, description="A version from GET /models.")]

router = APIRouter(
    prefix="/models",
    tags=["models"],
    dependencies=[Depends(get_actor)],
    responses=problem_responses(401),
)


@router.get("", response_model=ModelsPublic, summary="Installed models, the serving one marked")
def read_models(settings: SettingsDep, classifier: ClassifierDep) -> Any:
    cards = installed_cards(settings.model_dir, classifier.metadata)
    summaries = [
        ModelSummary(name=card.get("name"), version=version, serving=version == classifier.version)
        for version, card in cards.items()
    ]
    return ModelsPublic(data=summaries, count=len(summaries))


@router.get(
    "/{version}",
    response_model=ModelCard,
    summary="One model's card: classes, input, metrics, training data, intended use",
    responses=problem_responses(404, 422),
)
def read_model(settings: SettingsDep, classifier: ClassifierDep, version: ModelVersion) -> Any:
    card = installed_cards(settings.model_dir, classifier.metadata).get(version)
    if card is None:
        raise HTTPException(
            HTTPStatus.NOT_FOUND,
            f"No model {version} is installed; GET /models lists the versions there are.",
        )
    return card


def installed_cards(serving_dir: Path, serving_card: dict[str, Any]) -> dict[str, dict]:
    """Cards by version: the serving model's as loaded, then its siblings' from disk."""
    cards = {str(serving_card["version"]): serving_card}
    for card in map(_read_card, _sibling_card_files(serving_dir)):
        if card is not None:
            cards.setdefault(str(card["version"]), card)
    return dict(sorted(cards.items(), key=lambda item: _version_order(item[0])))


def _version_order(version: str) -> tuple:
    """0.9.0 before 0.10.0, as releases and not as text; a version that is not a release
    number (a test model's, say) after them, by its text."""
    try:
        return (0, Version(version), "")
    except InvalidVersion:
        return (1, None, version)


def _sibling_card_files(serving_dir: Path) -> list[Path]:
    # The parent as configured, not as resolved: the serving directory may be a link.
    serving = serving_dir.resolve()
    return sorted(
        directory / METADATA_FILE
        for directory in serving_dir.parent.iterdir()
        if directory.resolve() != serving and (directory / METADATA_FILE).is_file()
    )


def _read_card(path: Path) -> dict | None:
    # A broken card hides that one model from the list; it must not break the endpoint.
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("Ignoring unreadable model card %s", path)
        return None
    if not isinstance(card, dict) or "version" not in card:
        logger.warning("Ignoring model card without a version: %s", path)
        return None
    return card
