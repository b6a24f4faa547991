"""The DICOM listener: a C-ECHO and C-STORE SCP (pynetdicom) inside the API process.

Why inside the API, started by its lifespan, rather than a process of its own: a received
instance goes through the very ingest path an upload does, which needs the loaded model and
its batcher, the database engine and the blob store. In the API's process it shares them, so
an instance sent by a PACS and a slice uploaded over HTTP are batched into the same model
calls, and there is one product to start, configure and stop: `make run`, `python -m api`
and the container all start it with the API (when MEDIMG_DICOM_ENABLED is on), and Ctrl-C or
SIGTERM stops it with the API's shutdown. A second process would load the model a second time
and need its own supervision.

Every C-STORE gets a status: 0x0000 once the record is stored (or already was), a failure
status with an ErrorComment otherwise (see STATUS_FOR_REASON). A refused instance is logged
and counted without any of its values; nothing a sender does stops the listener.
"""

import logging
import re
from dataclasses import dataclass

from pydicom import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification
from sqlalchemy.engine import Engine

from api.interop.quiet_studies import CompletionThread, QuietStudies
from api.interop.receive import (
    InstanceLocks,
    ReceiveContext,
    Received,
    RefusalReason,
    RefusedError,
    receive_instance,
)
from api.interop.scu import DicomNode
from api.interop.study_results import ResultSender
from api.metrics import Metrics
from api.settings import Settings
from api.storage import BlobStore
from ml.inference import Classifier

logger = logging.getLogger(__name__)

SUCCESS = 0x0000
# PS3.7 C.4 and PS3.4 B.2.3. The Cxxx ("cannot understand") codes are medimg's own choice
# within that range; the ErrorComment says the same in words.
STATUS_FOR_REASON = {
    RefusalReason.NOT_AN_IMAGE: 0x0122,  # Refused: SOP Class not supported
    RefusalReason.NOT_MR_BRAIN: 0xC001,
    RefusalReason.UNDECODABLE: 0xC002,
    RefusalReason.TOO_LARGE: 0xC003,
    RefusalReason.BUSY: 0xA700,  # Refused: out of resources (the sender may try again)
    RefusalReason.FAILED: 0x0110,  # Processing failure
}
# ErrorComment is an LO: at most 64 characters, no backslash or control character.
MAX_ERROR_COMMENT = 64
NOT_LO_TEXT = re.compile(r"[\\\x00-\x1f]")


@dataclass(frozen=True)
class ListenerResources:
    """What the listener shares with the API: made once by its lifespan."""

    engine: Engine
    blob_store: BlobStore
    classifier: Classifier
    metrics: Metrics


class DicomListener:
    def __init__(self, settings: Settings, resources: ListenerResources):
        self._settings = settings
        self._metrics = resources.metrics
        salt = settings.uid_hash_salt.get_secret_value()
        self._context = ReceiveContext(
            engine=resources.engine,
            blob_store=resources.blob_store,
            classifier=resources.classifier,
            max_image_pixels=settings.max_image_pixels,
            max_bytes=settings.max_upload_bytes,
            uid_hash_salt=salt,
        )
        self._locks = InstanceLocks()
        self._studies: QuietStudies[Received] = QuietStudies(settings.dicom_study_quiet_seconds)
        self._completion = self._completion_thread(settings, resources)
        self._ae = self._accepting_ae(settings.dicom_ae_title)

    def start(self) -> None:
        host, port = self._settings.dicom_host, self._settings.dicom_port
        try:
            self._ae.start_server(
                (host, port),
                block=False,
                evt_handlers=[(evt.EVT_C_STORE, self._on_c_store)],
            )
        except OSError as error:
            raise RuntimeError(
                f"The DICOM listener cannot listen on {host}:{port} ({error.strerror}). Free "
                "the port, choose another with MEDIMG_DICOM_PORT, or set "
                "MEDIMG_DICOM_ENABLED=false."
            ) from error
        if self._completion is not None:
            self._completion.start()
        logger.info("DICOM listener %s on %s:%d", self._settings.dicom_ae_title, host, port)

    def stop(self) -> None:
        """Stop listening, abort associations in progress, stop sending results."""
        self._ae.shutdown()
        if self._completion is not None:
            self._completion.stop()
        if unsent := len(self._studies):
            logger.warning(
                "DICOM listener stopped with %d studies not yet complete: their records are "
                "kept, their results were not sent (send those studies again to send them).",
                unsent,
            )

    def _completion_thread(
        self, settings: Settings, resources: ListenerResources
    ) -> CompletionThread[Received] | None:
        destination = result_destination(settings)
        if destination is None:
            return None  # nowhere to send results: studies need not be followed at all
        sender = ResultSender(
            destination=destination,
            calling_ae=settings.dicom_ae_title,
            engine=resources.engine,
            blob_store=resources.blob_store,
            classifier=resources.classifier,
            max_image_pixels=settings.max_image_pixels,
            metrics=resources.metrics,
            studies=self._studies,
        )
        return CompletionThread(self._studies, sender.send)

    @staticmethod
    def _accepting_ae(ae_title: str) -> AE:
        ae = AE(ae_title=ae_title)
        # An association addressed to another AE title is a misconfigured sender: refused,
        # so that it notices, rather than storing into the wrong node.
        ae.require_called_aet = True
        ae.add_supported_context(Verification)  # C-ECHO, answered by pynetdicom itself
        # Every storage SOP class, so that whatever a PACS routes here gets a status the
        # sender can read (and a count here), rather than a refused association.
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        return ae

    def _on_c_store(self, event: Event) -> Dataset | int:
        calling_ae = str(event.assoc.requestor.ae_title).strip()
        try:
            received = receive_instance(
                event.encoded_dataset(), calling_ae, self._context, self._locks
            )
        except RefusedError as refusal:
            return self._refused(refusal, calling_ae)
        except Exception as error:  # the listener outlives any one instance
            failure = RefusedError(RefusalReason.FAILED, "processing failed; see the server log")
            logger.error("Storing a DICOM instance failed: %s", type(error).__name__)
            return self._refused(failure, calling_ae)
        self._metrics.dicom_instances.labels(received.outcome).inc()
        self._follow_study(received)
        return SUCCESS

    def _follow_study(self, received: Received) -> None:
        if self._completion is not None and received.study_uid_hash:
            self._studies.add(received.study_uid_hash, received.sop_uid_hash, received)

    def _refused(self, refusal: RefusedError, calling_ae: str) -> Dataset:
        status = STATUS_FOR_REASON[refusal.reason]
        self._metrics.dicom_refusals.labels(refusal.reason).inc()
        # The reason only: the comment may name the modality, never a value that
        # identifies anyone, but the log has no need of it.
        logger.warning(
            "Refused a DICOM instance from AE %r: %s (status 0x%04X)",
            calling_ae,
            refusal.reason,
            status,
        )
        return failure_status(status, refusal.comment)


def failure_status(status: int, comment: str) -> Dataset:
    answer = Dataset()
    answer.Status = status
    answer.ErrorComment = NOT_LO_TEXT.sub(" ", comment)[:MAX_ERROR_COMMENT]
    return answer


def result_destination(settings: Settings) -> DicomNode | None:
    if settings.dicom_destination_host is None:
        return None  # the settings hold all three destination fields or none
    return DicomNode(
        ae_title=str(settings.dicom_destination_ae_title),
        host=settings.dicom_destination_host,
        port=int(settings.dicom_destination_port or 0),
    )


def start_dicom_listener(settings: Settings, resources: ListenerResources) -> DicomListener | None:
    """The started listener, or None when MEDIMG_DICOM_ENABLED is off."""
    if not settings.dicom_enabled:
        return None
    listener = DicomListener(settings, resources)
    listener.start()
    return listener
