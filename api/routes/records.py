"""Stored classification records: list, read one, fetch its image, delete it."""

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from api.deps import ActorDep, BlobStoreDep, SessionDep, SettingsDep, get_actor, require_roles
from api.errors import problem_responses
from api.models import RecordPublic, RecordsPublic, Role
from api.render import render_png
from api.routing import RecordId, stored_file_response
from api.services.records import (
    RecordQuery,
    delete_record_and_image,
    get_visible_record_or_404,
    list_records,
    read_image_or_404,
)

# Extensions for the download name; the media type was sniffed from the bytes at upload.
FILE_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "application/dicom": "dcm"}

router = APIRouter(
    prefix="/records",
    tags=["records"],
    dependencies=[Depends(get_actor)],
    responses=problem_responses(401, 403),
)


@router.get(
    "",
    response_model=RecordsPublic,
    summary="List classification records, newest first unless sorted otherwise",
    description=(
        "Page with `limit` and the `next_cursor` of the previous page (stable while records "
        "are added), or with `offset`. `count` is the number of records matching the filters. "
        "`sort=suspicion` is the triage order (suspected tumours first, by "
        "`tumour_probability`; then indeterminate, no tumour, and records without a finding) "
        "and pages with `offset` only: it hands out no `next_cursor` and refuses a `cursor` "
        "(422)."
    ),
    responses=problem_responses(422),
)
def read_records(
    session: SessionDep, actor: ActorDep, query: Annotated[RecordQuery, Query()]
) -> Any:
    return list_records(session, actor, query)


@router.get(
    "/{record_id}",
    response_model=RecordPublic,
    summary="Read one classification record",
    responses=problem_responses(404, 422),
)
def read_record(session: SessionDep, actor: ActorDep, record_id: RecordId) -> Any:
    return get_visible_record_or_404(session, actor, record_id)


@router.get(
    "/{record_id}/image",
    summary="The image a record was made from, as PNG",
    description=(
        "A PNG rendering of the stored image, whatever its type (DICOM included): the "
        "greyscale pixels the model classified (for multi-frame DICOM, the middle frame)."
    ),
    response_class=Response,
    responses={
        HTTPStatus.OK: {"description": "A PNG rendering.", "content": {"image/png": {}}},
        **problem_responses(404, 422),
    },
)
def read_record_image(
    session: SessionDep,
    actor: ActorDep,
    blob_store: BlobStoreDep,
    settings: SettingsDep,
    record_id: RecordId,
) -> Response:
    record = get_visible_record_or_404(session, actor, record_id)
    stored = read_image_or_404(blob_store, record)
    png = render_png(stored, max_pixels=settings.max_image_pixels)
    return stored_file_response(png, "image/png", f"record-{record.id}.png")


@router.get(
    "/{record_id}/original",
    summary="Download the stored file a record was made from",
    description=(
        "The stored bytes: PNG and JPEG as uploaded, DICOM as de-identified on upload "
        "(PS3.15 Basic Profile). `image_sha256` is the SHA-256 of exactly these bytes."
    ),
    response_class=Response,
    responses={
        HTTPStatus.OK: {
            "description": "The stored file.",
            "content": {media_type: {} for media_type in FILE_EXTENSIONS},
        },
        **problem_responses(404, 422),
    },
)
def read_record_original(
    session: SessionDep, actor: ActorDep, blob_store: BlobStoreDep, record_id: RecordId
) -> Response:
    record = get_visible_record_or_404(session, actor, record_id)
    extension = FILE_EXTENSIONS.get(record.media_type, "bin")
    stored = read_image_or_404(blob_store, record)
    return stored_file_response(stored, record.media_type, f"record-{record.id}.{extension}")


@router.delete(
    "/{record_id}",
    status_code=HTTPStatus.NO_CONTENT,
    dependencies=[Depends(require_roles(Role.ADMIN))],
    summary="Delete a record, its reviews, and its image unless another record shares it",
    responses=problem_responses(404, 422),
)
def delete_record(session: SessionDep, blob_store: BlobStoreDep, record_id: RecordId) -> None:
    delete_record_and_image(session, blob_store, record_id)
