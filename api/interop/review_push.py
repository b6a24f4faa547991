"""A review's SR revision, pushed where the record came from, after the review is committed.

A record pulled from the PACS gets the revision stored back by STOW-RS (with the PACS
client's silent-drop checks); a record the DICOM listener received gets it sent by C-STORE to
the configured result destination. Only records with a filing context are pushed: without
one the SR would land in the PACS as a study of its own. The push runs as a background task
of the review's request: the review is already committed and answered, so a PACS that is
down or slow never fails or delays it; each outcome is counted
(`medimg_review_result_pushes_total{destination,outcome}`) and logged by record id only.
"""

import logging
from dataclasses import dataclass
from enum import StrEnum

from pydicom import Dataset
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.interop import model_device, structured_report
from api.interop.filing import result_source
from api.interop.listener import result_destination
from api.interop.pacs import PacsError, pacs_client_from_settings
from api.interop.scu import DicomSendError, send_instances
from api.metrics import Metrics
from api.models import Record
from api.services.reviews import reviews_of
from api.settings import Settings
from api.storage import BlobStore
from ml.inference import Classifier

logger = logging.getLogger(__name__)


class Destination(StrEnum):
    PACS = "pacs"  # STOW-RS to MEDIMG_PACS_URL
    DICOM = "dicom"  # C-STORE to MEDIMG_DICOM_DESTINATION_*


class PushOutcome(StrEnum):
    PUSHED = "pushed"
    FAILED = "failed"


@dataclass(frozen=True)
class ReviewPusher:
    settings: Settings
    engine: Engine
    blob_store: BlobStore
    classifier: Classifier
    metrics: Metrics

    def push(self, record_id: int) -> None:
        """Push the record's latest SR revision where it came from, if anywhere."""
        with Session(self.engine) as session:
            record = session.get(Record, record_id)
            # None: deleted since the review, or from nowhere results can go back to.
            destination = destination_of(record, self.settings) if record else None
            if destination is not None:
                self._push_to(destination, session, record)

    def _push_to(self, destination: Destination, session: Session, record: Record) -> None:
        # A failure is counted and logged, never raised: the review was answered already.
        try:
            report = self._reviewed_report(session, record)
            if report is None:
                return
            self._send(destination, report)
        except (PacsError, DicomSendError) as error:
            # Both messages name the node and a count, never a value of the image.
            self._count_failure(record.id, destination, str(error))
            return
        except Exception as error:  # its message may quote a value of the file
            self._count_failure(record.id, destination, type(error).__name__)
            return
        self.metrics.review_result_pushes.labels(destination, PushOutcome.PUSHED).inc()
        logger.info("Pushed the reviewed SR of record %d to the %s", record.id, destination)

    def _reviewed_report(self, session: Session, record: Record) -> Dataset | None:
        source = result_source(session, self.blob_store, record)
        if not source.in_original_study:  # it would be a study of its own there
            return None
        return structured_report(
            record,
            source.dataset,
            model_device(self.classifier, record.model_version),
            reviews_of(session, record.id),
            in_original_study=True,
        )

    def _send(self, destination: Destination, report: Dataset) -> None:
        if destination == Destination.PACS:
            pacs_client_from_settings(self.settings).store([report])
            return
        node = result_destination(self.settings)
        send_instances([report], node, self.settings.dicom_ae_title)

    def _count_failure(self, record_id: int, destination: Destination, reason: str) -> None:
        self.metrics.review_result_pushes.labels(destination, PushOutcome.FAILED).inc()
        logger.error(
            "The reviewed SR of record %d was not pushed to the %s: %s. The review is kept; "
            "a later review, or a PACS pull with push=true, sends it again.",
            record_id,
            destination,
            reason,
        )


def destination_of(record: Record, settings: Settings) -> Destination | None:
    """Where the record came from, when results can go back there."""
    # Only the listener makes records without a creating key (api/interop/receive.py).
    if record.created_by_key_id is None:
        return Destination.DICOM if result_destination(settings) is not None else None
    if record.source_system == settings.pacs_source_system and settings.pacs_url is not None:
        return Destination.PACS
    return None
