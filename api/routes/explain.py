"""What lets a reader check a result: Grad-CAM heatmaps and how plausible they are."""

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Query, Response
from pydantic import BaseModel, Field

from api.deps import ActorDep, BlobStoreDep, ClassifierDep, SessionDep, SettingsDep
from api.errors import problem_responses
from api.models import has_tumour_answer
from api.routing import RecordId, explanations_router, stored_file_response
from api.services.explanations import (
    HeatmapFormat,
    explain_record,
    heatmap_png,
    judge_explanation,
)
from ml.explain import DEFAULT_OPACITY

router = explanations_router()


class ExplanationPublic(BaseModel):
    record_id: int
    model_version: str = Field(description="The model that made the map (the serving one).")
    label: str | None = Field(
        description=(
            "The class the map explains: the model's prediction; null for a record the input "
            "gate found out of distribution, which has no tumour answer (the map then shows "
            "where the model looked, nothing more)."
        )
    )
    mass_inside_brain: float = Field(
        description="Share of the map's mass on the head, as masked from the image, 0-1."
    )
    implausible: bool = Field(
        description=(
            "True when the map does not point at the head, and for every record with no "
            "tumour answer (its map explains no finding)."
        )
    )
    reason: str = Field(description="The check's verdict, for a person.")


@router.get(
    "/records/{record_id}/heatmap",
    summary="Grad-CAM heatmap of the predicted class, over the record's image",
    description=(
        "`format=overlay` (default): the slice in grey with the map in colour, as PNG, "
        "blended with `opacity`. `format=raw`: the map itself as a 16-bit greyscale PNG on "
        "the image's own grid (value / 65535 = weight). The plausibility check is at "
        "`GET /records/{id}/explanation`."
    ),
    response_class=Response,
    responses={
        HTTPStatus.OK: {"description": "A PNG.", "content": {"image/png": {}}},
        **problem_responses(404, 422),
    },
)
def read_heatmap(
    session: SessionDep,
    actor: ActorDep,
    blob_store: BlobStoreDep,
    settings: SettingsDep,
    classifier: ClassifierDep,
    record_id: RecordId,
    opacity: Annotated[float, Query(ge=0.0, le=1.0)] = DEFAULT_OPACITY,
    format: Annotated[HeatmapFormat, Query()] = "overlay",
) -> Response:
    _record, pixels, explanation = explain_record(
        session, actor, blob_store, classifier, record_id, settings.max_image_pixels
    )
    png = heatmap_png(pixels, explanation.heatmap, format, opacity)
    return stored_file_response(png, "image/png", f"record-{record_id}-heatmap-{format}.png")


@router.get(
    "/records/{record_id}/explanation",
    response_model=ExplanationPublic,
    summary="How much of the heatmap lies on the head, and whether it is plausible",
    responses=problem_responses(404, 422),
)
def read_explanation(
    session: SessionDep,
    actor: ActorDep,
    blob_store: BlobStoreDep,
    settings: SettingsDep,
    classifier: ClassifierDep,
    record_id: RecordId,
) -> Any:
    record, pixels, explanation = explain_record(
        session, actor, blob_store, classifier, record_id, settings.max_image_pixels
    )
    check = judge_explanation(record, pixels, explanation)
    return ExplanationPublic(
        record_id=record_id,
        model_version=classifier.version,
        label=explanation.label if has_tumour_answer(record.suitability) else None,
        mass_inside_brain=check.mass_inside_brain,
        implausible=check.implausible,
        reason=check.reason,
    )
