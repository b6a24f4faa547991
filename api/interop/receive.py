"""One instance received by C-STORE in, one record out, through the upload's own ingest path.

The instance is checked first (an image, an MR of the brain, within the upload size limit),
then classified, de-identified and stored by `api.services.ingest` exactly as an uploaded
DICOM file is. Idempotent by SOP Instance UID: an instance that already has a record (by its
salted hash, from any source) is not classified again. A refused instance raises
`RefusedError`, whose reason and comment name no value of the file that could identify anyone.

Each record keeps the instance's filing context (api/interop/filing.py), so that its results
can be sent back into its own study after the quiet period, after a restart, or after a
review; a record that had none (made before contexts were kept, or uploaded without one)
gets the context of the instance that arrived.
"""

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus

from fastapi import HTTPException
from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.deidentify import salted_uid_hash
from api.interop.filing import keep_filing_context
from api.interop.pull import MR_MODALITY, MR_SOP_CLASSES
from api.models import Record
from api.services.ingest import (
    DICOM_MEDIA_TYPE,
    IngestContext,
    Upload,
    blob_discarder,
    ingest,
    save_records,
)
from api.storage import BlobStore
from ml.inference import Classifier
from ml.ood import Suitability, header_cue

PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# What the input gate reads of a DICOM header (ml.ood.header_cue).
HEADER_KEYWORDS = ("Modality", "BodyPartExamined")


class RefusalReason(StrEnum):
    """Why an instance was refused: the label of the refusal counter, so a short fixed set."""

    NOT_AN_IMAGE = "not_an_image"
    NOT_MR_BRAIN = "not_mr_brain"
    TOO_LARGE = "too_large"
    UNDECODABLE = "undecodable"
    BUSY = "busy"
    # Not raised here: the listener's label for an unexpected error while storing.
    FAILED = "failed"


class RefusedError(Exception):
    def __init__(self, reason: RefusalReason, comment: str):
        super().__init__(comment)
        self.reason = reason
        self.comment = comment


class Outcome(StrEnum):
    STORED = "stored"
    EXISTING = "existing"


@dataclass(frozen=True)
class Received:
    outcome: Outcome
    record_id: int
    # Salted hashes, not the UIDs: the listener follows studies by them, and the results are
    # made from the stored image and its filing context.
    study_uid_hash: str | None
    sop_uid_hash: str


@dataclass(frozen=True)
class ReceiveContext:
    engine: Engine
    blob_store: BlobStore
    classifier: Classifier
    max_image_pixels: int
    max_bytes: int
    uid_hash_salt: str


class InstanceLocks:
    """One lock per SOP Instance: the same instance on two associations at once is
    classified once, while different instances are classified side by side."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def holding(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


def receive_instance(
    data: bytes, calling_ae: str, context: ReceiveContext, locks: InstanceLocks
) -> Received:
    """`data`: the instance as a Part-10 file. Raises RefusedError."""
    if len(data) > context.max_bytes:
        raise RefusedError(
            RefusalReason.TOO_LARGE, f"instance over the {context.max_bytes}-byte limit"
        )
    dataset = parse(data)
    refuse_unless_mr_brain_image(dataset)
    sop_uid_hash = salted_uid_hash(str(dataset.SOPInstanceUID), context.uid_hash_salt)
    study_uid = str(dataset.get("StudyInstanceUID") or "")
    study_uid_hash = salted_uid_hash(study_uid, context.uid_hash_salt) if study_uid else None
    with locks.holding(sop_uid_hash), Session(context.engine) as session:
        existing = existing_record_id(session, sop_uid_hash)
        if existing is not None:
            keep_filing_context(session, existing, dataset)
            session.commit()
            return Received(Outcome.EXISTING, existing, study_uid_hash, sop_uid_hash)
        # Ends the lookup's transaction: no pooled connection is held while the model works.
        session.commit()
        record_id = classify_and_store(data, calling_ae, context, session)
    return Received(Outcome.STORED, record_id, study_uid_hash, sop_uid_hash)


def parse(data: bytes) -> Dataset:
    try:
        dataset = dcmread(io.BytesIO(data))
        sop_instance_uid = dataset.get("SOPInstanceUID")
    except (InvalidDicomError, ValueError, TypeError, EOFError, OSError) as error:
        raise RefusedError(RefusalReason.UNDECODABLE, "not a readable DICOM data set") from error
    if not sop_instance_uid:
        raise RefusedError(RefusalReason.UNDECODABLE, "no SOP Instance UID")
    return dataset


def refuse_unless_mr_brain_image(dataset: Dataset) -> None:
    if not any(keyword in dataset for keyword in PIXEL_DATA_KEYWORDS):
        raise RefusedError(RefusalReason.NOT_AN_IMAGE, "not an image: no pixel data")
    # The input gate's own header rule (ml/ood.py), so the listener refuses exactly the
    # headers that would make an upload out of distribution; its reason quotes only the
    # (shortened) Modality and Body Part Examined.
    header = {keyword: str(dataset.get(keyword) or "") for keyword in HEADER_KEYWORDS}
    cue = header_cue(header)
    if cue is not None and cue.suitability == Suitability.OUT_OF_DISTRIBUTION:
        raise RefusedError(RefusalReason.NOT_MR_BRAIN, cue.reason)
    if not header["Modality"] and str(dataset.get("SOPClassUID", "")) not in MR_SOP_CLASSES:
        raise RefusedError(
            RefusalReason.NOT_MR_BRAIN, f"no Modality and not an {MR_MODALITY} SOP class"
        )


def existing_record_id(session: Session, sop_uid_hash: str) -> int | None:
    statement = select(Record.id).where(col(Record.sop_uid_hash) == sop_uid_hash)
    return session.exec(statement.order_by(col(Record.id)).limit(1)).first()


def classify_and_store(
    data: bytes, calling_ae: str, context: ReceiveContext, session: Session
) -> int:
    ingest_context = IngestContext(
        classifier=context.classifier,
        blob_store=context.blob_store,
        max_image_pixels=context.max_image_pixels,
        uid_hash_salt=context.uid_hash_salt,
        created_by_key_id=None,  # no API key sent it: only admins and radiologists see it
        source_system=calling_ae,
        discard_blob=blob_discarder(session, context.blob_store),
        keep_filing_context=True,  # its results go back into its own study
    )
    try:
        ingested = ingest(Upload(None, data, DICOM_MEDIA_TYPE), ingest_context)
    except HTTPException as error:
        raise refusal_for(error) from error
    (record,) = save_records(session, context.blob_store, [ingested])
    return record.id


def refusal_for(error: HTTPException) -> RefusedError:
    # The upload path's 4xx and 503, as the listener's reasons. The detail goes back to the
    # sender only (as an upload's does), in the ErrorComment; the log gets the reason.
    if error.status_code == HTTPStatus.SERVICE_UNAVAILABLE:
        return RefusedError(RefusalReason.BUSY, "the model's queue is full; send again later")
    if error.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
        return RefusedError(RefusalReason.TOO_LARGE, str(error.detail))
    return RefusedError(RefusalReason.UNDECODABLE, str(error.detail))
