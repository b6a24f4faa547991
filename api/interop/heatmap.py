"""The Grad-CAM overlay of a record as a DICOM Secondary Capture, via highdicom.

The overlay is `ml.explain.render_overlay` of the classified pixels: the slice in grey with
the map in colour, RGB, on the source image's own grid. It goes into the source image's
study (patient and study attributes copied from it by highdicom), in the study's one
heatmap series, numbered like its slice and referencing it as its source image, so a PACS
viewer shows it next to the slice it explains.
"""

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.sr.codedict import codes

from api.interop.common import (
    ModelDevice,
    derived_uid,
    instance_number,
    study_series_uid,
)
from ml.explain import render_overlay

HEATMAP_SERIES_NUMBER = 9902
HEATMAP_DESCRIPTION = "medimg Grad-CAM overlay (research use, not diagnosis)"
# The model reads brain MRI only, and only a record with a tumour answer gets a heatmap.
DEFAULT_BODY_PART = "BRAIN"
# The patient direction each axis of DICOM's LPS patient coordinates points to, by sign.
_AXIS_LETTERS = (("R", "L"), ("A", "P"), ("F", "H"))
# highdicom's constructor asks for an orientation in patient coordinates; for a source that
# states none it is replaced at once by an empty Patient Orientation, DICOM's "not known".
_CONSTRUCTOR_ONLY_ORIENTATION = ("L", "P")


def heatmap_secondary_capture(
    source: Dataset, pixels: np.ndarray, heatmap: np.ndarray, model: ModelDevice
) -> Dataset:
    """`heatmap` ([H, W] in [0, 1]) over `pixels` (uint8 [H, W]), as an SC image of `source`."""
    overlay = render_overlay(pixels, heatmap)
    orientation = patient_orientation(source)
    image = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source,
        pixel_array=overlay,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        series_instance_uid=study_series_uid("heatmap-series", source, model),
        series_number=HEATMAP_SERIES_NUMBER,
        sop_instance_uid=derived_uid("heatmap-instance", source, model),
        instance_number=instance_number(source),
        manufacturer=model.manufacturer,
        patient_orientation=orientation or _CONSTRUCTOR_ONLY_ORIENTATION,
        series_description=HEATMAP_DESCRIPTION,
        software_versions=f"{model.name} {model.version}",
    )
    if orientation is None:
        image.PatientOrientation = None  # Type 2C, so present and empty: not known
    image.BurnedInAnnotation = "NO"  # colours only: no text drawn into the pixels
    image.BodyPartExamined = source.get("BodyPartExamined") or DEFAULT_BODY_PART
    # Laterality (Type 2C) is for paired body parts: absent for the brain, unless the
    # source states one.
    if source.get("Laterality"):
        image.Laterality = source.Laterality
    # The study's own description, never one of medimg's: the SC joins an existing study.
    if source.get("StudyDescription"):
        image.StudyDescription = source.StudyDescription
    image.DerivationDescription = f"Grad-CAM map of {model.name} {model.version} over the slice"
    image.SourceImageSequence = [_source_image_reference(source)]
    return image


def _source_image_reference(source: Dataset) -> Dataset:
    """The slice the overlay is drawn over (General Reference module, PS3.3 C.12.4)."""
    reference = Dataset()
    reference.ReferencedSOPClassUID = source.SOPClassUID
    reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
    purpose = codes.DCM.SourceImageForImageProcessingOperation
    reference.PurposeOfReferenceCodeSequence = [hd.sr.CodedConcept.from_code(purpose)]
    return reference


def patient_orientation(source: Dataset) -> tuple[str, str] | None:
    """Directions of the rows and columns (e.g. ("L", "P")), as the SC module asks for.

    The overlay lies on the source's own grid, so it has the source's orientation: from its
    Image Orientation (Patient), else its own Patient Orientation; None when it states
    neither (some modalities and secondary captures do not), since a guess would mislabel
    the image's sides.
    """
    cosines = _direction_cosines(source)
    if cosines is not None:
        return _main_direction(cosines[:3]), _main_direction(cosines[3:])
    given = source.get("PatientOrientation")
    if given is not None and len(given) == 2 and all(given):
        return str(given[0]), str(given[1])
    return None


def _direction_cosines(source: Dataset) -> list[float] | None:
    try:
        cosines = [float(value) for value in source.get("ImageOrientationPatient") or []]
    except (TypeError, ValueError):
        return None  # a damaged decimal string ("0.0000*0"): no direction can be read from it
    return cosines if len(cosines) == 6 else None


def _main_direction(vector) -> str:
    # An oblique slice is named by the axis it is closest to, as viewers label it.
    axis = int(np.argmax(np.abs(np.asarray(vector, dtype=float))))
    negative, positive = _AXIS_LETTERS[axis]
    return positive if float(vector[axis]) > 0 else negative
