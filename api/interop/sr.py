"""A record's AI result as a DICOM Comprehensive SR (TID 1500 Measurement Report), via highdicom.

One TID 1501 measurement group for the whole image, tumour first: its "Finding" is the
tumour-first finding (`tumour_suspected`, `indeterminate`, `no_tumour`; for records of models
before it, the predicted class), the first measurement the probability that any tumour is
present, then one "Probability of <class>" per class, and the class as a qualitative
evaluation. The recogniser's reading follows as qualitative evaluations (the
image's DICOM modality, its kind) and its probability. The model is the observer device and
the algorithm.

A record the input gate found out of distribution was not read for tumours: its group has no
finding, class or class probability, only what the recogniser saw (finding site: its body
part) and the gate's verdict.

The SR references the image it was made from by that image's own UIDs: for a stored record
these are the pseudonymous UIDs of the de-identified file (derived from the salted
originals, see api/deidentify.py), since the originals are never kept; on a PACS push, the
original image fetched in the same request.
"""

import highdicom as hd
from highdicom.coding_schemes import CodingSchemeIdentificationItem
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from api.interop.codes import (
    BODY_PART_SNOMED,
    CLASS_SNOMED,
    PRIVATE_SCHEME,
    PRIVATE_SCHEME_NAME,
    SNOMED_SCHEME,
    display,
    kind_display,
    modality_display,
)
from api.interop.common import ModelDevice, derived_uid
from api.models import Record, has_tumour_answer

SR_SERIES_NUMBER = 9901
SR_DESCRIPTION = "medimg AI classification (research use, not diagnosis)"
TUMOUR_PROBABILITY = hd.sr.CodedConcept(
    "P-any-tumour", PRIVATE_SCHEME, "Probability that any tumour is present"
)
TUMOUR_CLASS = hd.sr.CodedConcept("tumour-class", PRIVATE_SCHEME, "Tumour class")
IMAGE_KIND = hd.sr.CodedConcept("image-kind", PRIVATE_SCHEME, "Kind of image (AI recogniser)")
KIND_PROBABILITY = hd.sr.CodedConcept(
    "P-image-kind", PRIVATE_SCHEME, "Probability of the kind of image"
)
SUITABILITY = hd.sr.CodedConcept("suitability", PRIVATE_SCHEME, "Input suitability")
PRIVATE_SCHEME_ITEM = CodingSchemeIdentificationItem(
    designator=PRIVATE_SCHEME, name=PRIVATE_SCHEME_NAME, responsible_organization="medimg"
)


def structured_report(record: Record, source: Dataset, model: ModelDevice) -> Dataset:
    """The SR of `record`'s result on `source`; `to_part10` makes the file."""
    algorithm = hd.sr.AlgorithmIdentification(name=model.name, version=model.version)
    answered = has_tumour_answer(record.suitability)
    if answered:
        measurements = [
            *_tumour_measurements(record, algorithm),
            *_kind_measurements(record, algorithm),
        ]
        # Without a finding (older models) the class is already the group's "Finding".
        evaluations = [
            *(
                [hd.sr.QualitativeEvaluation(TUMOUR_CLASS, class_code(record.label))]
                if record.finding is not None
                else []
            ),
            *_kind_evaluations(record),
        ]
    else:
        measurements = _kind_measurements(record, algorithm)
        evaluations = [
            *_kind_evaluations(record),
            hd.sr.QualitativeEvaluation(SUITABILITY, suitability_code(record.suitability)),
        ]
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=derived_uid("tracking", source, model),
            identifier=f"AI classification of record {record.id}",
        ),
        algorithm_id=algorithm,
        finding_sites=_finding_sites(record, answered),
        # TID 1501 "Finding": what the model found on the whole image; none when not read.
        finding_type=_finding_type(record) if answered else None,
        measurements=measurements or None,
        qualitative_evaluations=evaluations or None,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(source)],
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_device_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Device,
                observer_identifying_attributes=model_observer(model),
            )
        ),
        procedure_reported=codes.SCT.ImagingProcedure,
        imaging_measurements=[group],
        referenced_images=[source],
    )
    return hd.sr.ComprehensiveSR(
        evidence=[source],
        content=report,
        series_instance_uid=derived_uid("sr-series", source, model),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=derived_uid("sr-instance", source, model),
        instance_number=1,
        manufacturer=model.manufacturer,
        is_complete=True,
        series_description=SR_DESCRIPTION,
        coding_schemes=[PRIVATE_SCHEME_ITEM],
    )


def _finding_type(record: Record) -> hd.sr.CodedConcept:
    if record.finding is not None:
        return hd.sr.CodedConcept(record.finding, PRIVATE_SCHEME, display(record.finding))
    return class_code(record.label)  # a record of a model before the tumour-first finding


def _finding_sites(record: Record, answered: bool) -> list[hd.sr.FindingSite]:
    # A tumour answer is about the brain; otherwise the body part the recogniser saw, if any.
    body_part = "BRAIN" if answered else record.body_part
    concept = BODY_PART_SNOMED.get(body_part or "")
    if concept is None:
        return []
    return [
        hd.sr.FindingSite(
            anatomic_location=hd.sr.CodedConcept(concept.code, SNOMED_SCHEME, concept.display)
        )
    ]


def _tumour_measurements(
    record: Record, algorithm: hd.sr.AlgorithmIdentification
) -> list[hd.sr.Measurement]:
    probabilities = [
        (
            hd.sr.CodedConcept(f"P-{name}", PRIVATE_SCHEME, f"Probability of {display(name)}"),
            probability,
        )
        for name, probability in sorted(record.probabilities.items())
    ]
    if record.tumour_probability is not None:
        probabilities.insert(0, (TUMOUR_PROBABILITY, record.tumour_probability))
    return [_probability(name, value, algorithm) for name, value in probabilities]


def _kind_measurements(
    record: Record, algorithm: hd.sr.AlgorithmIdentification
) -> list[hd.sr.Measurement]:
    if record.kind_probability is None:
        return []
    return [_probability(KIND_PROBABILITY, record.kind_probability, algorithm)]


def _kind_evaluations(record: Record) -> list[hd.sr.QualitativeEvaluation]:
    evaluations = []
    if record.modality is not None:
        modality = hd.sr.CodedConcept(record.modality, "DCM", modality_display(record.modality))
        evaluations.append(hd.sr.QualitativeEvaluation(codes.DCM.Modality, modality))
    if record.kind is not None:
        kind = hd.sr.CodedConcept(record.kind, PRIVATE_SCHEME, kind_display(record.kind))
        evaluations.append(hd.sr.QualitativeEvaluation(IMAGE_KIND, kind))
    return evaluations


def _probability(
    name: hd.sr.CodedConcept, value: float, algorithm: hd.sr.AlgorithmIdentification
) -> hd.sr.Measurement:
    return hd.sr.Measurement(
        name=name, value=float(value), unit=codes.UCUM.NoUnits, algorithm_id=algorithm
    )


def model_observer(model: ModelDevice) -> hd.sr.DeviceObserverIdentifyingAttributes:
    return hd.sr.DeviceObserverIdentifyingAttributes(
        # One UID per model version, whatever the image: it names the device.
        uid=str(generate_uid(entropy_srcs=["device", model.name, model.version])),
        name=model.name,
        manufacturer_name=model.manufacturer,
        model_name=f"{model.name} {model.version}",
    )


def class_code(class_name: str) -> hd.sr.CodedConcept:
    """SNOMED CT where a concept means the class (api.interop.codes), else medimg's own."""
    standard = CLASS_SNOMED.get(class_name)
    if standard is not None:
        return hd.sr.CodedConcept(standard.code, SNOMED_SCHEME, standard.display)
    return hd.sr.CodedConcept(class_name, PRIVATE_SCHEME, display(class_name))


def suitability_code(suitability: str | None) -> hd.sr.CodedConcept:
    value = suitability or "unknown"
    return hd.sr.CodedConcept(value, PRIVATE_SCHEME, display(value))
