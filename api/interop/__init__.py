"""Hospital standards out of a record: FHIR R4 Bundles, DICOM SR and Secondary Capture, and
the DICOMweb client that pulls studies from a PACS and pushes results back."""

import io
from dataclasses import dataclass

from pydicom import Dataset
from pydicom.uid import generate_uid


@dataclass(frozen=True)
class ModelDevice:
    """The model as a device: the observer in the SR, the author Device in FHIR."""

    name: str
    version: str
    manufacturer: str = "medimg"


def derived_uid(purpose: str, source: Dataset, model: ModelDevice) -> str:
    """A UID fixed by the source image, the model version and what it names.

    Derived, not random: the same image and model always give the same SR and heatmap, so
    pushing them to a PACS twice replaces one instance instead of adding a second.
    """
    return str(generate_uid(entropy_srcs=[purpose, str(source.SOPInstanceUID), model.version]))


def to_part10(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
