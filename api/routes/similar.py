"""Similar past cases: the stored records whose images the model sees as closest."""

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import File, HTTPException, Query, UploadFile
from pydantic import BaseModel, Field

from api.deps import (
    ActorDep,
    BlobStoreDep,
    ClassifierDep,
    SessionDep,
    SettingsDep,
    SimilarIndexDep,
)
from api.errors import problem_responses
from api.models import RecordPublic
from api.routing import RecordId, explanations_router
from api.services.ingest import read_upload_within_limit
from api.services.records import get_visible_record_or_404
from api.services.similar import (
    SimilarRecord,
    record_embedding,
    similar_records,
    upload_embedding,
)

MAX_K = 50
DEFAULT_K = 5

router = explanations_router()


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
    "/records/{record_id}/similar",
    response_model=SimilarCasesPublic,
    summary="The stored records most similar to this one, with their final labels",
    responses=problem_responses(404, 422, 503),
)
def read_similar_records(
    session: SessionDep,
    actor: ActorDep,
    blob_store: BlobStoreDep,
    settings: SettingsDep,
    classifier: ClassifierDep,
    index: SimilarIndexDep,
    record_id: RecordId,
    k: KQuery = DEFAULT_K,
) -> Any:
    record = get_visible_record_or_404(session, actor, record_id)
    embedding = record_embedding(record, classifier, blob_store, settings.max_image_pixels)
    similar = similar_records(session, index, actor, embedding, k, record)
    return SimilarCasesPublic(
        model_version=classifier.version,
        query_record_id=record_id,
        data=[similar_case(found) for found in similar],
    )


@router.post(
    "/similar",
    response_model=SimilarCasesPublic,
    summary="The stored records most similar to an uploaded slice (nothing is stored)",
    responses=problem_responses(400, 413, 415, 422, 503),
)
def search_similar_upload(
    file: Annotated[UploadFile, File(description="One PNG, JPEG or DICOM brain-MRI slice.")],
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    classifier: ClassifierDep,
    index: SimilarIndexDep,
    k: KQuery = DEFAULT_K,
) -> Any:
    data = read_upload_within_limit(file.file, settings.max_upload_bytes)
    if not data:
        raise HTTPException(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "The uploaded file is empty. Choose a PNG, JPEG or DICOM image.",
        )
    embedding = upload_embedding(classifier, data, settings.max_image_pixels)
    similar = similar_records(session, index, actor, embedding, k, None)
    return SimilarCasesPublic(
        model_version=classifier.version,
        query_record_id=None,
        data=[similar_case(found) for found in similar],
    )


def similar_case(found: SimilarRecord) -> SimilarCase:
    return SimilarCase(
        record=RecordPublic.model_validate(found.record),
        similarity=found.similarity,
        near_duplicate=found.near_duplicate,
        reviewed=found.reviewed,
    )
