"""What the FHIR, SR and Secondary Capture builders share: the model as a device, UIDs
derived from the source image, Part-10 bytes."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydicom import Dataset
from pydicom.uid import generate_uid

from api.models import Record, Review, ReviewAction

if TYPE_CHECKING:
    from ml.inference import Classifier


# Type 2 in the Patient and General Study modules, which highdicom copies from the source
# into an SR or SC: a valid image has each, perhaps empty, but a sender may leave one out.
TYPE_2_COPIED_ATTRIBUTES = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)
# Type 1 in every image IOD: without them an SR cannot say which image it is about.
IDENTIFYING_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
UTF8_CHARACTER_SET = "ISO_IR 192"


@dataclass(frozen=True)
class ModelDevice:
    """The model as a device: the observer in the SR, the author Device in FHIR."""

    name: str
    version: str
    manufacturer: str = "medimg"


def model_device(classifier: Classifier, model_version: str) -> ModelDevice:
    # Every installed model is a version of the serving one's family (models/<name>/<v>/).
    return ModelDevice(name=str(classifier.metadata.get("name", "medimg")), version=model_version)


def reviewed_class(record: Record, review: Review) -> str | None:
    """The class a review concludes: the model's when confirmed, the reviewer's when
    corrected; none for a rejection or a withdrawal."""
    return {ReviewAction.CONFIRM: record.label, ReviewAction.CORRECT: review.label}.get(
        ReviewAction(review.action)
    )


def derived_uid(purpose: str, source: Dataset, model: ModelDevice) -> str:
    """A UID fixed by the source image, the model version and what it names.

    Derived, not random: the same image and model always give the same SR and heatmap, so
    pushing them to a PACS twice replaces one instance instead of adding a second.
    """
    return str(generate_uid(entropy_srcs=[purpose, str(source.SOPInstanceUID), model.version]))


def study_series_uid(purpose: str, source: Dataset, model: ModelDevice) -> str:
    """A series UID fixed by the source image's study and the model version.

    One series of SRs and one of heatmaps per study, not one per slice: a 200-slice study
    gets two more series in the PACS, not 400. Per model version too, since a series has
    one equipment (software version)."""
    return str(generate_uid(entropy_srcs=[purpose, str(source.StudyInstanceUID), model.version]))


def instance_number(source: Dataset) -> int:
    """The source's Instance Number, so that derived images sort like their slices."""
    try:
        return int(source.get("InstanceNumber") or 1)
    except (TypeError, ValueError):
        return 1


def to_part10(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def underivable_reason(dataset: Dataset) -> str | None:
    """Why no SR or Secondary Capture could ever be made of this image; None if one can.

    Checked on upload, so that the server refuses such a file with its reason rather than
    accept it and fail on every later request for its derived objects."""
    missing = [keyword for keyword in IDENTIFYING_UIDS if not dataset.get(keyword)]
    if missing:
        return (
            f"The DICOM file lacks {', '.join(missing)}, which every image instance must "
            "have. Export the instance again from the scanner or PACS."
        )
    # highdicom's own test, so the upload is refused exactly when the SR would be.
    from highdicom._standard_utils import does_iod_have_pixel_data

    if not does_iod_have_pixel_data(str(dataset.SOPClassUID)):
        return (
            f"The DICOM file's SOP Class ({dataset.SOPClassUID}) is not an image storage "
            "class, though it holds pixels. Send the image instance itself."
        )
    return None


def complete_for_derivation(source: Dataset) -> Dataset:
    """`source` (changed in place) as highdicom needs it to derive an SR or SC from it.

    Absent Type 2 attributes are added empty, as the standard allows for unknown values; a
    Specific Character Set highdicom does not know (a wrong one, or a valid one it lacks,
    such as a leading empty value) becomes UTF-8, once every text has been decoded with the
    original one, so that no value changes."""
    for keyword in TYPE_2_COPIED_ATTRIBUTES:
        if keyword not in source:
            setattr(source, keyword, None)
    if not _highdicom_knows(source.get("SpecificCharacterSet")):
        source.decode()
        source.SpecificCharacterSet = UTF8_CHARACTER_SET
    return source


def _highdicom_knows(character_set: object) -> bool:
    from highdicom.enum import SpecificCharacterSetValues

    known = {value.value for value in SpecificCharacterSetValues}
    if character_set is None:
        return True
    values = [character_set] if isinstance(character_set, str) else list(character_set)
    return all(value in known for value in values)
