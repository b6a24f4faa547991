"""Hospital standards out of a record: FHIR R4 Bundles, DICOM SR and Secondary Capture, and
the DICOMweb client that pulls studies from a PACS and pushes results back."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydicom import Dataset
from pydicom.uid import generate_uid

if TYPE_CHECKING:
    import numpy as np

    from api.models import Record


class NoOrientationError(LookupError):
    """The source image does not say how it lies in the patient: no heatmap can be placed."""


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


# highdicom, and pydicom's SR code dictionary that it loads, take about 0.6 s to import: a
# twentieth of the API's start-up for two exports. They are imported on first use instead.
def structured_report(record: Record, source: Dataset, model: ModelDevice) -> Dataset:
    from api.interop.sr import structured_report as build

    return build(record, source, model)


def heatmap_secondary_capture(
    source: Dataset, pixels: np.ndarray, heatmap: np.ndarray, model: ModelDevice
) -> Dataset:
    from api.interop.heatmap import heatmap_secondary_capture as build

    return build(source, pixels, heatmap, model)
