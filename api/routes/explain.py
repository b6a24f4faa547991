"""What lets a reader check a result: Grad-CAM heatmaps and similar past cases."""

from http import HTTPStatus
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from api.deps import ActorDep, BlobStoreDep, ClassifierDep, SessionDep, SettingsDep, get_actor
from api.errors import problem_responses
from api.ingest import classify, decode_upload, read_upload_within_limit
from api.models import Record, RecordPublic, ReviewStatus, has_tumour_answer
from api.routes.classify import UploadSizeLimitedRoute
from api.routes.records import (
    Actor,
    RecordId,
    can_see,
    get_visible_record_or_404,
    read_image_or_404,
    stored_file_response,
)
from ml.decode import decode_image
from ml.explain import DEFAULT_OPACITY, check_heatmap, render_overlay
from ml.inference import Classifier, Explanation
from ml.render import encode_png
from ml.similar import (
    NEAR_DUPLICATE_SIMILARITY,
    EmbeddingIndex,
    embedding_from_bytes,
)

MAX_K = 50
DEFAULT_K = 5
# Candidates fetched per wanted neighbour: some are filtered out (rejected, not visible).
OVERFETCH = 10
# A reviewed case this much less similar still ranks above an unreviewed one.
REVIEWED_BONUS = 0.02
# Records commit slightly out of id order; re-reading this many ids back catches them.
REFRESH_OVERLAP = 1000

router = APIRouter(
    tags=["explanations"],
    route_class=UploadSizeLimitedRoute,
    dependencies=[Depends(get_actor)],
    responses=problem_responses(401, 403),
)


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
        description="Share of the map's mass on the brain mask computed from the image, 0-1."
    )
    implausible: bool = Field(description="True when the map does not point at the brain.")
    reason: str = Field(description="The check's verdict, for a person.")


class SimilarCase(BaseModel):
    record: RecordPublic
    similarity: float = Field(description="Cosine similarity of the model's embeddings, ≤ 1.")
    near_duplicate: bool = Field(
        description="The same image, or one so close it adds no independent evidence."
    )
    reviewed: bool = Field(description="A radiologist confirmed or corrected its label.")


class SimilarCasesPublic(BaseModel):
    model_version: str
    query_record_id: int | None = Field(description="The record asked about; null for uploads.")
    data: list[SimilarCase] = Field(
        description="Most similar first; radiologist-reviewed cases are preferred."
    )


KQuery = Annotated[int, Query(ge=1, le=MAX_K, description="How many similar cases to return.")]


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
    format: Annotated[Literal["overlay", "raw"], Query()] = "overlay",
) -> Response:
    _record, pixels, explanation = _explain_record(
        session, actor, blob_store, settings, classifier, record_id
    )
    if format == "raw":
        raw = np.rint(np.clip(explanation.heatmap, 0.0, 1.0) * 65535).astype(np.uint16)
        png = encode_png(raw)
    else:
        overlay = render_overlay(pixels, explanation.heatmap, opacity)
        png = encode_png(cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    return stored_file_response(png, "image/png", f"record-{record_id}-heatmap-{format}.png")


@router.get(
    "/records/{record_id}/explanation",
    response_model=ExplanationPublic,
    summary="How much of the heatmap lies on the brain, and whether it is plausible",
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
    record, pixels, explanation = _explain_record(
        session, actor, blob_store, settings, classifier, record_id
    )
    check = check_heatmap(pixels, explanation.heatmap)
    return ExplanationPublic(
        record_id=record_id,
        model_version=classifier.version,
        label=explanation.label if has_tumour_answer(record.suitability) else None,
        mass_inside_brain=check.mass_inside_brain,
        implausible=check.implausible,
        reason=check.reason,
    )


def _explain_record(
    session, actor, blob_store, settings, classifier: Classifier, record_id: int
) -> tuple[Record, np.ndarray, Explanation]:
    record = get_visible_record_or_404(session, actor, record_id)
    stored = read_image_or_404(blob_store, record)
    pixels = decode_image(stored, max_pixels=settings.max_image_pixels).pixels
    return record, pixels, classifier.explain(pixels)


@router.get(
    "/records/{record_id}/similar",
    response_model=SimilarCasesPublic,
    summary="The stored records most similar to this one, with their final labels",
    responses=problem_responses(404, 422, 503),
)
def read_similar_records(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    blob_store: BlobStoreDep,
    settings: SettingsDep,
    classifier: ClassifierDep,
    record_id: RecordId,
    k: KQuery = DEFAULT_K,
) -> Any:
    record = get_visible_record_or_404(session, actor, record_id)
    embedding = _record_embedding(record, classifier, blob_store, settings.max_image_pixels)
    cases = _similar_cases(request, session, actor, classifier, embedding, k, record)
    return SimilarCasesPublic(
        model_version=classifier.version, query_record_id=record_id, data=cases
    )


@router.post(
    "/similar",
    response_model=SimilarCasesPublic,
    summary="The stored records most similar to an uploaded slice (nothing is stored)",
    responses=problem_responses(400, 413, 415, 422, 503),
)
def search_similar_upload(
    request: Request,
    file: Annotated[UploadFile, File(description="One PNG, JPEG or DICOM brain-MRI slice.")],
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    classifier: ClassifierDep,
    k: KQuery = DEFAULT_K,
) -> Any:
    data = read_upload_within_limit(file.file, settings.max_upload_bytes)
    if not data:
        raise HTTPException(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "The uploaded file is empty. Choose a PNG, JPEG or DICOM image.",
        )
    pixels = decode_upload(data, settings.max_image_pixels).pixels
    embedding = np.asarray(classify(classifier, pixels).embedding, dtype=np.float32)
    cases = _similar_cases(request, session, actor, classifier, embedding, k, None)
    return SimilarCasesPublic(model_version=classifier.version, query_record_id=None, data=cases)


def _record_embedding(
    record: Record, classifier: Classifier, blob_store, max_pixels: int
) -> np.ndarray:
    """The stored embedding when these weights made it; else computed again from the image."""
    if record.embedding is not None and record.model_version in classifier.same_weights:
        return embedding_from_bytes(record.embedding)
    pixels = decode_image(read_image_or_404(blob_store, record), max_pixels=max_pixels).pixels
    return np.asarray(classify(classifier, pixels).embedding, dtype=np.float32)


def _similar_cases(
    request: Request,
    session: Session,
    actor: Actor,
    classifier: Classifier,
    embedding: np.ndarray,
    k: int,
    query: Record | None,
) -> list[SimilarCase]:
    index = _current_index(request, session, classifier, len(embedding))
    neighbours = index.search(embedding, k * OVERFETCH + 1)
    records = _records_by_id(session, [n.id for n in neighbours])
    cases = []
    for neighbour in neighbours:
        record = records.get(neighbour.id)
        if record is None or not _usable(record, actor, query):
            continue
        near = neighbour.similarity >= NEAR_DUPLICATE_SIMILARITY or (
            query is not None and record.image_sha256 == query.image_sha256
        )
        cases.append(
            SimilarCase(
                record=RecordPublic.model_validate(record),
                similarity=neighbour.similarity,
                near_duplicate=near,
                reviewed=record.review_status in (ReviewStatus.CONFIRMED, ReviewStatus.CORRECTED),
            )
        )
    cases.sort(key=lambda case: case.similarity + REVIEWED_BONUS * case.reviewed, reverse=True)
    return cases[:k]


def _usable(record: Record, actor: Actor, query: Record | None) -> bool:
    # A case without a final label (rejected, or out of distribution) teaches nothing.
    if query is not None and record.id == query.id:
        return False
    return can_see(actor, record) and record.final_label is not None


def _records_by_id(session: Session, ids: list[int]) -> dict[int, Record]:
    if not ids:
        return {}
    rows = session.exec(select(Record).where(col(Record.id).in_(ids)))
    return {record.id: record for record in rows}


def _current_index(
    request: Request, session: Session, classifier: Classifier, dim: int
) -> EmbeddingIndex:
    """The app's index for the serving model, brought up to date with new records."""
    state = request.app.state
    index = getattr(state, "similar_index", None)
    if index is None or getattr(state, "similar_index_version", None) != classifier.version:
        index = EmbeddingIndex(dim)
        state.similar_index, state.similar_index_version = index, classifier.version
    rows = session.exec(
        select(Record.id, Record.embedding).where(
            col(Record.id) > index.max_id - REFRESH_OVERLAP,
            col(Record.model_version).in_(classifier.same_weights),
            col(Record.embedding).is_not(None),
        )
    ).all()
    fresh = [(i, e) for i, e in rows if i not in index]
    if fresh:
        index.add([i for i, _ in fresh], np.stack([embedding_from_bytes(e) for _, e in fresh]))
    return index
