"""One upload in, one record out: the pipeline behind POST /classify and /classify/batch.

Order matters: the upload is decoded (which validates it) before anything is written, a
DICOM file is de-identified before it is stored, and a record is committed only after its
blob is durably on disk. Nothing of a refused upload stays behind.
"""

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import PurePosixPath
from typing import BinaryIO

import numpy as np
import tensorflow as tf
from fastapi import HTTPException
from sqlmodel import Session, select

from api.admission import at_capacity
from api.batching import BatcherClosedError, BatchQueueFullError
from api.deidentify import deidentify_dicom, salted_uid_hash, strip_raster_metadata
from api.group_commit import group_committer
from api.models import FilingContext, Record
from api.storage import BlobStore, StoredBlob
from api.timing import StageTimer
from ml.decode import DecodedImage, decode_image, sniff_media_type
from ml.inference import Classifier, Prediction
from ml.kinds import KindEstimate
from ml.ood import GateResult, assess
from ml.pixels import (
    DecodeMemoryBusyError,
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageTypeError,
)
from ml.similar import embedding_to_bytes

UPLOAD_CHUNK_BYTES = 1024 * 1024
MAX_FILENAME_LENGTH = 255
DICOM_MEDIA_TYPE = "application/dicom"


def upload_too_large(max_bytes: int) -> HTTPException:
    return HTTPException(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        f"The file is larger than the {max_bytes:,}-byte upload limit. "
        "Send a single slice, not a series or an archive.",
    )


@dataclass(frozen=True)
class Upload:
    filename: str | None
    data: bytes
    # The part's Content-Type as the client declared it; None or generic: nothing declared.
    declared_type: str | None = None


@dataclass(frozen=True)
class IngestContext:
    """What every upload of one request shares."""

    classifier: Classifier
    blob_store: BlobStore
    max_image_pixels: int
    uid_hash_salt: str
    created_by_key_id: int | None
    source_system: str | None
    # Removes a blob this request stored whose record will not be made, unless another
    # record uses it (blob_discarder, below).
    discard_blob: Callable[[StoredBlob], None]
    timer: StageTimer = field(default_factory=StageTimer)
    # Keep the original study's identifiers of a DICOM file, apart from the de-identified
    # record, so that its results can be filed there (api/interop/filing.py).
    keep_filing_context: bool = False


@dataclass(frozen=True)
class Ingested:
    record: Record  # not yet committed
    blob: StoredBlob
    filing: FilingContext | None = None  # stored with the record, when kept


def read_upload_within_limit(file: BinaryIO, max_bytes: int) -> bytes:
    """Read in chunks and stop one byte past the limit, so memory stays bounded."""
    chunks: list[bytes] = []
    total = 0
    while chunk := file.read(min(UPLOAD_CHUNK_BYTES, max_bytes - total + 1)):
        total += len(chunk)
        if total > max_bytes:
            raise upload_too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def ingest(upload: Upload, context: IngestContext) -> Ingested:
    """Validate, classify, de-identify and store one upload; raises HTTPException (4xx)."""
    if not upload.data:
        raise HTTPException(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "The uploaded file is empty. Choose a PNG, JPEG or DICOM image.",
        )
    timer = context.timer
    with timer.stage("decode"):
        image = decode_upload(upload.data, context.max_image_pixels)
    refuse_mismatched_type(upload.declared_type, image.media_type)
    if context.keep_filing_context:
        require_dicom_to_keep_filing_context(image.media_type)
    # The model runs while this thread de-identifies and stores: the blob's fsync is
    # waiting on the disk, which costs a request nothing when the model has it waiting anyway.
    pending = submit(context.classifier, image.pixels)
    with timer.stage("deidentify"):
        stored_bytes, uid_hashes, filing = _bytes_to_store(
            upload.data, image, context.uid_hash_salt, context.keep_filing_context
        )
    with timer.stage("storage"):
        blob = context.blob_store.write(stored_bytes)
    try:
        prediction, gate = _prediction_and_gate(pending, upload, image, context)
    except BaseException:
        # No record will be made: the blob goes again, unless another record uses it.
        context.discard_blob(blob)
        raise
    record = Record(
        # Kept even when the gate refuses the image; RecordPublic then sends none of it.
        finding=prediction.finding,
        tumour_probability=prediction.tumour_probability,
        label=prediction.label,
        # float(): a numpy scalar would not survive the JSON column.
        probabilities={name: float(p) for name, p in prediction.probabilities.items()},
        model_version=context.classifier.version,
        filename=kept_filename(upload),
        media_type=image.media_type,
        image_sha256=blob.sha256,
        width=image.width,
        height=image.height,
        source_system=context.source_system,
        created_by_key_id=context.created_by_key_id,  # integration keys read only their own
        suitability=gate.suitability,
        suitability_score=gate.score,
        suitability_reason=gate.reason,
        **kind_fields(prediction.kind),
        embedding=embedding_to_bytes(prediction.embedding),
        **uid_hashes,
    )
    return Ingested(
        record=record, blob=blob, filing=FilingContext(**filing) if filing is not None else None
    )


def require_dicom_to_keep_filing_context(media_type: str) -> None:
    if media_type != DICOM_MEDIA_TYPE:
        raise HTTPException(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            f"keep_filing_context is for DICOM files; this one is {media_type}, which "
            "belongs to no study. Send it without keep_filing_context.",
        )


def kind_fields(kind: KindEstimate | None) -> dict[str, str | float | None]:
    """What the recogniser says the image is, as the record's columns (none without it)."""
    if kind is None:
        return {}
    return {
        "modality": kind.modality,
        "body_part": kind.body_part,
        "kind": kind.kind,
        "kind_probability": kind.probability,
    }


# Declared types that name one of the formats we read, as clients spell them.
DECLARED_IMAGE_TYPES = {
    "image/png": "image/png",
    "image/x-png": "image/png",
    "image/jpeg": "image/jpeg",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/dicom": "application/dicom",
}


def refuse_mismatched_type(declared_type: str | None, media_type: str) -> None:
    """A file declared as one image format whose bytes are another is refused (415).

    A mislabelled file is a sign of a confused or hostile sender (a polyglot); generic or
    missing types (application/octet-stream) leave the decision to the bytes.
    """
    declared = (declared_type or "").split(";")[0].strip().lower()
    expected = DECLARED_IMAGE_TYPES.get(declared)
    if expected is not None and expected != media_type:
        raise HTTPException(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"The file was sent as {declared} but its bytes are {media_type}. Send it with "
            "its real type, or as application/octet-stream to let the service tell.",
        )


def classify(classifier: Classifier, pixels: np.ndarray) -> Prediction:
    return _result_or_503(submit(classifier, pixels))


def submit(classifier: Classifier, pixels: np.ndarray) -> Future:
    """The image, on its way to the model; a full queue is refused (503) at once."""
    try:
        return classifier.submit(pixels)
    except (BatchQueueFullError, BatcherClosedError) as error:
        raise at_capacity(str(error)) from error


def _result_or_503(pending: Future) -> Prediction:
    try:
        return pending.result()
    except BatcherClosedError as error:
        raise at_capacity(str(error)) from error
    except tf.errors.InvalidArgumentError as error:
        # The model's own preprocessing refused this image (e.g. its bright part is one line
        # thick, so the head crop scales to no pixel): the input's fault, not the server's.
        # The batcher retries a failed batch image by image, so only this upload gets it.
        raise HTTPException(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "The model cannot read this image: it shows no head-sized bright region "
            "(for example only a thin line). Send a slice of the head itself.",
        ) from error


def _prediction_and_gate(
    pending: Future, upload: Upload, image: DecodedImage, context: IngestContext
) -> tuple[Prediction, GateResult]:
    with context.timer.stage("model"):  # what is left of the wait for the batcher
        prediction = _result_or_503(pending)
    with context.timer.stage("gate"):
        # Out-of-distribution results are stored too, marked, for a reviewer to see.
        gate = assess(
            upload.data,
            prediction.gate_features,
            context.classifier.density,
            image,
            kind=prediction.kind,
            finding=prediction.finding,
            tumour_probability=prediction.tumour_probability,
        )
    return prediction, gate


def decode_upload(data: bytes, max_pixels: int) -> DecodedImage:
    # Decoding lives in ml.decode only, so serving sees exactly what training saw.
    try:
        return decode_image(data, max_pixels=max_pixels)
    except ImageDecodeError as error:
        raise HTTPException(_status_for_decode_error(error), str(error)) from error
    except DecodeMemoryBusyError as error:
        raise at_capacity(str(error)) from error


def _status_for_decode_error(error: ImageDecodeError) -> HTTPStatus:
    if isinstance(error, UnsupportedImageTypeError):
        return HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    if isinstance(error, ImageTooLargeError):
        return HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    return HTTPStatus.UNPROCESSABLE_ENTITY


def _bytes_to_store(
    data: bytes, image: DecodedImage, salt: str, keep_filing_identifiers: bool = False
) -> tuple[bytes, dict[str, str | None], dict[str, str | None] | None]:
    """PNG/JPEG without text, comments or EXIF; DICOM de-identified, its UIDs kept only as
    salted hashes, and its filing identifiers (for a FilingContext) when asked for."""
    try:
        if image.media_type != DICOM_MEDIA_TYPE:
            return strip_raster_metadata(data, image.media_type), {}, None
        deidentified = deidentify_dicom(
            data, uid_salt=salt, keep_filing_identifiers=keep_filing_identifiers
        )
    except ImageDecodeError as error:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY, str(error)) from error
    uids = {
        "study_uid_hash": deidentified.study_instance_uid,
        "series_uid_hash": deidentified.series_instance_uid,
        "sop_uid_hash": deidentified.sop_instance_uid,
    }
    hashes = {column: uid and salted_uid_hash(uid, salt) for column, uid in uids.items()}
    return deidentified.data, hashes, deidentified.filing_identifiers


def kept_filename(upload: Upload) -> str | None:
    """The name to keep and show; none for DICOM: exports are often named after the patient."""
    if sniff_media_type(upload.data) == DICOM_MEDIA_TYPE:
        return None
    return display_filename(upload.filename)


def display_filename(filename: str | None) -> str | None:
    # Some browsers send a full client path; only the last part is the file's name.
    if not filename:
        return None
    name = PurePosixPath(filename.replace("\\", "/")).name
    return name[:MAX_FILENAME_LENGTH] or None


def save_records(
    session: Session,
    blob_store: BlobStore,
    ingested: list[Ingested],
    before_commit: Callable[[Session], None] = lambda session: None,
    *,
    grouped: bool = False,
) -> list[Record]:
    """Either every record (and whatever `before_commit` adds) is stored, or none is.

    `before_commit` runs once the records have their ids, inside the same transaction, and
    adds to the session it is given. `grouped`: on an SQLite file the records may share a
    transaction with other requests' (api/group_commit.py), so before_commit must not wait on
    anything slow, such as a network call.
    """
    records = [item.record for item in ingested]
    before_commit = _with_filing_contexts(ingested, before_commit)
    committer = group_committer(session.get_bind()) if grouped else None
    try:
        if committer is None:
            _commit(session, records, before_commit)
        else:
            committer.save(records, before_commit, lambda: _commit(session, records, before_commit))
    except Exception:
        session.rollback()
        discard_unreferenced_blobs(session, blob_store, [item.blob for item in ingested])
        raise
    # No refresh: an attribute read after the commit loads the row again by itself, and
    # callers that answer at once take what they need in `before_commit`.
    return records


def _with_filing_contexts(
    ingested: list[Ingested], before_commit: Callable[[Session], None]
) -> Callable[[Session], None]:
    """`before_commit`, after the filing contexts (which need their records' ids) are added."""
    contexts = [item for item in ingested if item.filing is not None]
    if not contexts:
        return before_commit

    def add_then(session: Session) -> None:
        for item in contexts:
            # Set on every try: a failed group commit numbers its records afresh.
            item.filing.record_id = item.record.id
            session.add(item.filing)
        session.flush()  # readable in before_commit (a push builds results from them)
        before_commit(session)

    return add_then


def _commit(
    session: Session, records: list[Record], before_commit: Callable[[Session], None]
) -> None:
    session.add_all(records)
    session.flush()
    before_commit(session)
    session.commit()


def blob_discarder(session: Session, blob_store: BlobStore) -> Callable[[StoredBlob], None]:
    return lambda blob: discard_unreferenced_blobs(session, blob_store, [blob])


def discard_unreferenced_blobs(
    session: Session, blob_store: BlobStore, blobs: list[StoredBlob]
) -> None:
    # Only a blob this request created may go, and only if no committed record uses it:
    # a concurrent request with the same bytes may have found it and committed a record.
    for blob in blobs:
        if blob.created and not _is_referenced(session, blob.sha256):
            blob_store.delete(blob.sha256)


def _is_referenced(session: Session, sha256: str) -> bool:
    statement = select(Record.id).where(Record.image_sha256 == sha256).limit(1)
    return session.exec(statement).first() is not None
