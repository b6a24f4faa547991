"""Stored classification records: list, read one, and fetch the image it was made from."""

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from sqlmodel import Session, col, func, select

from api.deps import BlobStoreDep, SessionDep
from api.errors import problem_responses
from api.models import Record, RecordPublic, RecordsPublic

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

# Extensions for the download name; the media type was sniffed from the bytes at upload.
FILE_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "application/dicom": "dcm"}

RecordId = Annotated[int, Path(description="Record id, as returned by POST /classify.")]

router = APIRouter(prefix="/records", tags=["records"])


@router.get(
    "",
    response_model=RecordsPublic,
    summary="List classification records, newest first",
    responses=problem_responses(422),
)
def read_records(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, description="Records to skip.")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Records per page.")
    ] = DEFAULT_PAGE_SIZE,
) -> Any:
    count = session.exec(select(func.count()).select_from(Record)).one()
    # id breaks ties between records created within the same clock tick.
    newest_first = (col(Record.created_at).desc(), col(Record.id).desc())
    records = session.exec(select(Record).order_by(*newest_first).offset(offset).limit(limit))
    return RecordsPublic(data=list(records), count=count)


@router.get(
    "/{record_id}",
    response_model=RecordPublic,
    summary="Read one classification record",
    responses=problem_responses(404, 422),
)
def read_record(session: SessionDep, record_id: RecordId) -> Any:
    return get_record_or_404(session, record_id)


@router.get(
    "/{record_id}/image",
    summary="Download the image a record was made from",
    response_class=Response,
    responses={
        HTTPStatus.OK: {
            "description": "The uploaded bytes, unchanged.",
            "content": {media_type: {} for media_type in FILE_EXTENSIONS},
        },
        **problem_responses(404, 422),
    },
)
def read_record_image(
    session: SessionDep, blob_store: BlobStoreDep, record_id: RecordId
) -> Response:
    record = get_record_or_404(session, record_id)
    extension = FILE_EXTENSIONS.get(record.media_type, "bin")
    return Response(
        content=blob_store.read(record.image_sha256),
        media_type=record.media_type,
        headers={
            # The bytes are user uploads: the browser must not guess another type (e.g. HTML).
            "X-Content-Type-Options": "nosniff",
            # Our own name, never the uploaded one, so no header injection through it.
            "Content-Disposition": f'inline; filename="record-{record.id}.{extension}"',
        },
    )


def get_record_or_404(session: Session, record_id: int) -> Record:
    record = session.get(Record, record_id)
    if record is None:
        raise HTTPException(HTTPStatus.NOT_FOUND, f"Record {record_id} does not exist.")
    return record
