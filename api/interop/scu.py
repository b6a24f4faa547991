"""C-STORE SCU: results sent to a DICOM node (usually the PACS) over one association.

Every instance must come back with a success or warning status: a node that refuses one, or
an association that is rejected or breaks, is a `DicomSendError` naming how many were not
stored, so a partly stored study is never reported as sent.
"""

from dataclasses import dataclass

from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.association import Association

# Seconds to wait for the node to accept, answer or release (ACSE, DIMSE and the network).
TIMEOUT_SECONDS = 30.0
# PS3.4 B.2.3: warnings (coercion, elements discarded, no SOP class match) mean "stored".
STORED_STATUSES = frozenset({0x0000, 0xB000, 0xB006, 0xB007})


@dataclass(frozen=True)
class DicomNode:
    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


class DicomSendError(Exception):
    pass


def send_instances(datasets: list[Dataset], destination: DicomNode, calling_ae: str) -> None:
    """C-STORE every dataset to `destination` in one association; raises DicomSendError."""
    if not datasets:
        return
    assoc = _requesting_ae(datasets, calling_ae).associate(
        destination.host, destination.port, ae_title=destination.ae_title
    )
    if not assoc.is_established:
        raise DicomSendError(
            f"{destination} did not accept an association from {calling_ae} (rejected, "
            "unreachable or not answering). Check its AE title, host, port and that it "
            "knows this AE title."
        )
    try:
        failures = _store_each(assoc, datasets)
    finally:
        assoc.release()
    if failures:
        raise DicomSendError(
            f"{destination} did not store {len(failures)} of {len(datasets)} result instances "
            f"({', '.join(sorted(set(failures)))}). Check its logs."
        )


def _requesting_ae(datasets: list[Dataset], calling_ae: str) -> AE:
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT_SECONDS
    # One context per SOP class sent, in the transfer syntaxes every SCP must accept.
    for sop_class in sorted({str(dataset.SOPClassUID) for dataset in datasets}):
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    return ae


def _store_each(assoc: Association, datasets: list[Dataset]) -> list[str]:
    """Why each instance that was not stored was not; empty when all were."""
    failures = []
    for dataset in datasets:
        if not assoc.is_established:
            failures.append("association lost")
            continue
        try:
            status = assoc.send_c_store(dataset)
        except ValueError:  # the node accepted no presentation context for its SOP class
            failures.append(f"SOP class {dataset.SOPClassUID} not accepted")
            continue
        if not _stored(status):
            failures.append(_describe(status))
    return failures


def _stored(status: Dataset) -> bool:
    # An empty status: the association broke, timed out or was aborted before an answer.
    return "Status" in status and status.Status in STORED_STATUSES


def _describe(status: Dataset) -> str:
    return f"status 0x{status.Status:04X}" if "Status" in status else "no answer"
