"""The results of a study the listener received, sent back by C-STORE once it is complete.

For each instance with a record: the SR of its finding and, when the record has a tumour
answer from the serving model, the heatmap Secondary Capture — the same objects the PACS
route pushes by STOW-RS (`api.interop.pull`), built from the stored image and the record's
filing context (api/interop/filing.py), so they carry the instance's original UIDs and land
in its own study. A send the destination refuses is tried again after another quiet period,
a few times, then given up (and counted each time).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom import Dataset
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.interop import (
    ModelDevice,
    model_device,
    structured_report,
)
from api.interop.filed_heatmap import filed_heatmap
from api.interop.filing import ResultSource, result_source
from api.interop.quiet_studies import CompleteStudy, QuietStudies
from api.interop.receive import Received
from api.interop.scu import DicomNode, DicomSendError, send_instances
from api.metrics import Metrics
from api.models import Record, Review
from api.services.reviews import reviews_of
from api.storage import BlobStore
from ml.inference import Classifier

logger = logging.getLogger(__name__)

# Tries of one study's send before it is given up (the records stay; sending the study
# again to the listener sends its results again).
MAX_SEND_ATTEMPTS = 3


@dataclass(frozen=True)
class ResultSender:
    destination: DicomNode
    calling_ae: str
    engine: Engine
    blob_store: BlobStore
    classifier: Classifier
    max_image_pixels: int
    metrics: Metrics
    studies: QuietStudies[Received]

    def send(self, study: CompleteStudy[Received]) -> None:
        """Build and send the study's results; on a refused send, schedule another try."""
        study_hash = study.study_uid  # the listener follows studies by their hashes
        try:
            datasets = self.results_of(study.items)
        except Exception as error:  # the same instances would fail again: no retry
            self.metrics.dicom_result_sends.labels("failed").inc()
            logger.error(
                "Results of study %s could not be made (%s); none sent.",
                study_hash,
                type(error).__name__,  # its message may quote a value of the file
            )
            return
        try:
            send_instances(datasets, self.destination, self.calling_ae)
        except DicomSendError as error:
            self.metrics.dicom_result_sends.labels("failed").inc()
            self._retry_or_give_up(study, study_hash, error)
            return
        self.metrics.dicom_result_sends.labels("sent").inc()
        logger.info(
            "Sent %d result instances of study %s to %s",
            len(datasets),
            study_hash,
            self.destination,
        )

    def results_of(self, received: list[Received]) -> list[Dataset]:
        with Session(self.engine) as session:
            results: list[Dataset] = []
            for instance in received:
                record = session.get(Record, instance.record_id)
                if record is None:  # deleted meanwhile: nothing to report
                    continue
                source = result_source(session, self.blob_store, record)
                if source.in_original_study:  # else it would be an orphan study there
                    reviews = reviews_of(session, record.id)
                    results.extend(self._results_of_one(record, source, reviews))
            return results

    def _results_of_one(
        self, record: Record, source: ResultSource, reviews: Sequence[Review]
    ) -> list[Dataset]:
        # A study reviewed before its quiet period ended goes out as the reviewed revision.
        model = model_device(self.classifier, record.model_version)
        report = structured_report(
            record, source.dataset, model, reviews=reviews, in_original_study=True
        )
        heatmap = self._heatmap_or_none(record, source, model)
        return [report] if heatmap is None else [report, heatmap]

    def _heatmap_or_none(
        self, record: Record, source: ResultSource, model: ModelDevice
    ) -> Dataset | None:
        return filed_heatmap(record, source, self.classifier, model, self.max_image_pixels).capture

    def _retry_or_give_up(
        self, study: CompleteStudy[Received], study_hash: str, error: DicomSendError
    ) -> None:
        attempt = study.attempts + 1
        if attempt < MAX_SEND_ATTEMPTS:
            logger.warning(
                "Results of study %s not sent (try %d of %d, again after the quiet period): %s",
                study_hash,
                attempt,
                MAX_SEND_ATTEMPTS,
                error,
            )
            self.studies.retry(study, lambda item: item.sop_uid_hash)
            return
        logger.error(
            "Results of study %s not sent after %d tries, given up: %s. Its records are "
            "kept; send the study to the listener again to send its results again.",
            study_hash,
            attempt,
            error,
        )
