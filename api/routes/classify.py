"""POST /classify: an uploaded slice in, a stored classification record out."""

from collections.abc import Callable, Coroutine
from http import HTTPStatus
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Request, Response, UploadFile
from fastapi.routing import APIRoute
from sqlmodel import Session
from starlette.types import Message, Receive

from api.deps import BlobStoreDep, ClassifierDep, SessionDep, SettingsDep, get_app_settings
from api.errors import problem_responses
from api.models import Record, RecordPublic
from api.storage import BlobStore, StoredBlob
from ml.decode import (
    DecodedImage,
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageTypeError,
    decode_image,
)
from ml.inference import Prediction

UPLOAD_CHUNK_BYTES = 1024 * 1024
MAX_FILENAME_LENGTH = 255
# Room for the multipart boundary and part headers around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def upload_too_large(max_bytes: int) -> HTTPException:
    return HTTPException(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        f"The file is larger than the {max_bytes:,}-byte upload limit. "
        "Send a single slice, not a series or an archive.",
    )


class UploadSizeLimitedRoute(APIRoute):
    """Refuses an oversized request body before and while it streams in.

    FastAPI parses (and spools to disk) the whole multipart body before the route runs, so
    without this a huge upload would fill the disk before `read_upload_within_limit` saw it.
    Errors raised here go through the app's problem+json handlers, unlike Starlette's own
    body limit, which answers a too-large Content-Length in text/plain.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_within_limit(request: Request) -> Response:
            # Runs before FastAPI's dependency injection, which needs the body parsed.
            max_upload_bytes = get_app_settings(request).max_upload_bytes
            max_body_bytes = max_upload_bytes + MULTIPART_OVERHEAD_BYTES
            if _declared_content_length(request) > max_body_bytes:
                raise upload_too_large(max_upload_bytes)
            receive = _receive_at_most(request.receive, max_body_bytes, max_upload_bytes)
            return await handle(Request(request.scope, receive))

        return handle_within_limit


def _declared_content_length(request: Request) -> int:
    try:
        return int(request.headers.get("content-length", 0))
    except ValueError:
        return 0  # unparseable: the streaming count below still applies


def _receive_at_most(receive: Receive, max_body_bytes: int, max_upload_bytes: int) -> Receive:
    """Counts body bytes as they arrive (chunked uploads declare no length)."""
    received = 0

    async def receive_within_limit() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_body_bytes:
                raise upload_too_large(max_upload_bytes)
        return message

    return receive_within_limit


router = APIRouter(tags=["classification"], route_class=UploadSizeLimitedRoute)


# A plain `def` route: FastAPI runs it on the thread pool, so decoding and inference
# (CPU-bound) and the blocking database and disk writes never stall the event loop.
@router.post(
    "/classify",
    status_code=HTTPStatus.CREATED,
    response_model=RecordPublic,
    summary="Classify a brain-MRI slice and store the result",
    description=(
        "Upload one PNG, JPEG or DICOM slice as the multipart field `file`. The image is "
        "classified, stored, and returned as a new record. Research use, not diagnosis."
    ),
    responses=problem_responses(413, 415, 422),
)
def create_classification(
    file: Annotated[UploadFile, File(description="One PNG, JPEG or DICOM brain-MRI slice.")],
    settings: SettingsDep,
    session: SessionDep,
    classifier: ClassifierDep,
    blob_store: BlobStoreDep,
) -> Any:
    data = read_upload_within_limit(file, settings.max_upload_bytes)
    image = decode_upload(data, settings.max_image_pixels)
    prediction = classifier.predict(image.pixels)
    stored = blob_store.write(data)
    record = build_record(
        prediction, image, stored, model_version=classifier.version, filename=file.filename
    )
    return commit_record_or_discard_blob(session, blob_store, record, stored)


def read_upload_within_limit(upload: UploadFile, max_bytes: int) -> bytes:
    """Read in chunks and stop one byte past the limit, so memory stays bounded."""
    chunks: list[bytes] = []
    total = 0
    while chunk := upload.file.read(min(UPLOAD_CHUNK_BYTES, max_bytes - total + 1)):
        total += len(chunk)
        if total > max_bytes:
            raise upload_too_large(max_bytes)
        chunks.append(chunk)
    if total == 0:
        raise HTTPException(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "The uploaded file is empty. Choose a PNG, JPEG or DICOM image.",
        )
    return b"".join(chunks)


def decode_upload(data: bytes, max_pixels: int) -> DecodedImage:
    # Decoding lives in ml.decode only, so serving sees exactly what training saw.
    try:
        return decode_image(data, max_pixels=max_pixels)
    except ImageDecodeError as error:
        raise HTTPException(_status_for_decode_error(error), str(error)) from error


def _status_for_decode_error(error: ImageDecodeError) -> HTTPStatus:
    if isinstance(error, UnsupportedImageTypeError):
        return HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    if isinstance(error, ImageTooLargeError):
        return HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    return HTTPStatus.UNPROCESSABLE_ENTITY


def build_record(
    prediction: Prediction,
    image: DecodedImage,
    stored: StoredBlob,
    *,
    model_version: str,
    filename: str | None,
) -> Record:
    return Record(
        label=prediction.label,
        # float(): a numpy scalar would not survive the JSON column.
        probabilities={name: float(p) for name, p in prediction.probabilities.items()},
        model_version=model_version,
        filename=_display_filename(filename),
        media_type=image.media_type,
        image_sha256=stored.sha256,
        width=image.width,
        height=image.height,
    )


def _display_filename(filename: str | None) -> str | None:
    # Some browsers send a full client path; only the last part is the file's name.
    if not filename:
        return None
    name = PurePosixPath(filename.replace("\\", "/")).name
    return name[:MAX_FILENAME_LENGTH] or None


def commit_record_or_discard_blob(
    session: Session, blob_store: BlobStore, record: Record, stored: StoredBlob
) -> Record:
    """Either the record and its image are both stored, or neither stays behind."""
    session.add(record)
    try:
        session.commit()
    except Exception:
        if stored.created:
            # Only a blob this request created may go: an existing one backs older records.
            blob_store.delete(stored.sha256)
        session.rollback()
        raise
    session.refresh(record)
    return record
