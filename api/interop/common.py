"""What the FHIR, SR and Secondary Capture builders share: the model as a device, UIDs
derived from the source image, Part-10 bytes."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydicom import Dataset
from pydicom.uid import generate_uid

if TYPE_CHECKING:
    from ml.inference import Classifier


class NoOrientationError(LookupError):
    """The source image does not say how it lies in the patient: no heatmap can be placed."""


@dataclass(frozen=True)
class ModelDevice:
    """The model as a device: the observer in the SR, the author Device in FHIR."""

    name: str
    version: str
    manufacturer: str = "medimg"


def model_device(classifier: Classifier, model_version: str) -> ModelDevice:
    # Every installed model is a version of the serving one's family (models/<name>/<v>/).
    return ModelDevice(name=str(classifier.metadata.get("name", "medimg")), version=model_version)


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
