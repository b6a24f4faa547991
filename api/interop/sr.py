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

Each review makes a new revision of the SR (PS3.3 C.17.2): a new SOP Instance in the same
series that names the revision before it in its Predecessor Documents Sequence. After a
confirmation, correction or rejection it is VERIFIED by the reviewer and FINAL, and a second
measurement group holds the radiologist's conclusion (the reviewed class as its Finding),
with the radiologist as a person observer; the AI's group stays as the model made it. Until
then, and after a review is withdrawn, it is UNVERIFIED and PRELIMINARY.

The SR references the image it was made from by that image's own UIDs. With a filing
context (api/interop/filing.py: records from a PACS pull, the DICOM listener, or an upload
that asked for it) these are the original image's, in its own study, patient and order.
Without one they are the pseudonymous UIDs of the de-identified file (derived from the
salted originals, see api/deidentify.py), and the SR says in a text item that it cannot be
filed into the original study.
"""

from collections.abc import Sequence

import highdicom as hd
from highdicom.coding_schemes import CodingSchemeIdentificationItem
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import ComprehensiveSRStorage, generate_uid
from pydicom.valuerep import DT

from api.interop.codes import (
    BODY_PART_SNOMED,
    CLASS_SNOMED,
    FINDING_SNOMED,
    PRIVATE_SCHEME,
    PRIVATE_SCHEME_NAME,
    SNOMED_SCHEME,
    display,
    kind_display,
    modality_display,
)
from api.interop.common import (
    ModelDevice,
    derived_uid,
    instance_number,
    reviewed_class,
    study_series_uid,
)
from api.models import Record, Review, ReviewAction, has_tumour_answer

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
# TID 1500's report-level Qualitative Evaluations container (row 12), which takes TEXT items.
QUALITATIVE_EVALUATIONS = hd.sr.CodedConcept("C0034375", "UMLS", "Qualitative Evaluations")
FILING = hd.sr.CodedConcept("filing", PRIVATE_SCHEME, "Filing into the original study")
NOT_FILEABLE = (
    "Cannot be filed into the original study: medimg keeps no link to it for this record. "
    "This report is about medimg's de-identified copy of the image (new Study, Series and "
    "SOP Instance UIDs; no patient, accession or study date), so a PACS would file it as a "
    "study of its own. To file results into the original study, upload the DICOM file with "
    "keep_filing_context=true, or send the study by C-STORE or through the PACS route."
)
RADIOLOGIST_REVIEW = hd.sr.CodedConcept("review", PRIVATE_SCHEME, "Radiologist review")
VERDICTS = {
    ReviewAction.CONFIRM: hd.sr.CodedConcept(
        "confirmed", PRIVATE_SCHEME, "AI result confirmed by a radiologist"
    ),
    ReviewAction.CORRECT: hd.sr.CodedConcept(
        "corrected", PRIVATE_SCHEME, "AI result corrected by a radiologist"
    ),
    ReviewAction.REJECT: hd.sr.CodedConcept(
        "rejected", PRIVATE_SCHEME, "AI result rejected by a radiologist"
    ),
}
# Verifying Organization is Type 1, and medimg knows its reviewers only by their API keys.
UNKNOWN_ORGANIZATION = "Not recorded by medimg"
PRIVATE_SCHEME_ITEM = CodingSchemeIdentificationItem(
    designator=PRIVATE_SCHEME,
    name=PRIVATE_SCHEME_NAME,
    responsible_organization="medimg",
    version="1",
)


def structured_report(
    record: Record,
    source: Dataset,
    model: ModelDevice,
    reviews: Sequence[Review] = (),
    *,
    in_original_study: bool,
) -> Dataset:
    """The SR of `record`'s result on `source`, as its latest review (oldest first) leaves
    it; `to_part10` makes the file. `in_original_study`: `source` carries the original
    study's identifiers (a filing context); else the SR says it cannot be filed there."""
    latest = reviews[-1] if reviews else None
    verdict = latest if latest is not None and latest.action in VERDICTS else None
    groups = [_ai_group(record, source, model)]
    if verdict is not None:
        groups.append(_review_group(record, source, model, verdict))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=_reviewer_observer(verdict) if verdict else None,
            observer_device_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Device,
                observer_identifying_attributes=model_observer(model),
            ),
        ),
        procedure_reported=codes.SCT.ImagingProcedure,
        imaging_measurements=groups,
        referenced_images=_image_library(source),
    )
    if not in_original_study:
        report[0].ContentSequence.append(_not_fileable_note())
    document = hd.sr.ComprehensiveSR(
        evidence=[source],
        content=report,
        series_instance_uid=study_series_uid("sr-series", source, model),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=revision_uid(source, model, latest),
        instance_number=instance_number(source),
        manufacturer=model.manufacturer,
        is_complete=True,
        is_final=verdict is not None,
        is_verified=verdict is not None,
        verifying_observer_name=person_name(verdict.reviewer_name) if verdict else None,
        verifying_organization=UNKNOWN_ORGANIZATION if verdict else None,
        previous_versions=_predecessor(source, model, reviews) if latest else None,
        series_description=SR_DESCRIPTION,
        coding_schemes=[PRIVATE_SCHEME_ITEM],
    )
    if verdict is not None:
        _record_verification(document, verdict)
    return document


def _not_fileable_note() -> hd.sr.ContainerContentItem:
    """Says, in the report itself, why a PACS cannot file it where its image came from."""
    note = hd.sr.ContainerContentItem(
        name=QUALITATIVE_EVALUATIONS, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
    )
    note.ContentSequence = hd.sr.ContentSequence(
        [
            hd.sr.TextContentItem(
                name=FILING,
                value=NOT_FILEABLE,
                relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
            )
        ]
    )
    return note


def revision_uid(source: Dataset, model: ModelDevice, review: Review | None) -> str:
    """The SOP Instance UID of the SR revision that `review` made (None: the AI's own).

    Derived like every result UID, so pushing a revision twice replaces one instance; and
    the AI's own keeps the UID it had before reviews made revisions."""
    if review is None:
        return derived_uid("sr-instance", source, model)
    entropy = ["sr-instance", str(source.SOPInstanceUID), model.version, f"review-{review.id}"]
    return str(generate_uid(entropy_srcs=entropy))


def _predecessor(source: Dataset, model: ModelDevice, reviews: Sequence[Review]) -> list[Dataset]:
    # The revision just before the latest: the chain of predecessors holds the rest.
    previous = Dataset()
    previous.SOPClassUID = ComprehensiveSRStorage
    previous.SOPInstanceUID = revision_uid(source, model, reviews[-2] if len(reviews) > 1 else None)
    previous.StudyInstanceUID = source.StudyInstanceUID
    previous.SeriesInstanceUID = study_series_uid("sr-series", source, model)
    return [previous]


def _record_verification(document: Dataset, review: Review) -> None:
    """When and by whom, as stored: the review's time and the reviewer's API key."""
    observer = document.VerifyingObserverSequence[0]
    observer.VerificationDateTime = DT(review.created_at)
    if review.reviewer_key_id is not None:
        key = Dataset()
        key.CodeValue = str(review.reviewer_key_id)
        key.CodingSchemeDesignator = PRIVATE_SCHEME
        key.CodeMeaning = f"medimg API key {review.reviewer_key_id}"
        observer.VerifyingObserverIdentificationCodeSequence = [key]


def person_name(key_name: str) -> str:
    """A reviewer's key name as a DICOM Person Name: the one component, a family name.

    The trailing caret says the name has one component; carets, "=" and backslashes would
    split it into others, so they become spaces. 64 characters at most (PS3.5 6.2)."""
    cleaned = "".join(" " if character in "^=\\" else character for character in key_name)
    return f"{cleaned.strip()[:63]}^"


def _reviewer_observer(review: Review) -> hd.sr.ObserverContext:
    return hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=person_name(review.reviewer_name)
        ),
    )


def _review_group(
    record: Record, source: Dataset, model: ModelDevice, review: Review
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """The radiologist's conclusion: the reviewed class as Finding (none for a rejection)."""
    conclusion = reviewed_class(record, review)
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=derived_uid(f"review-tracking-{review.id}", source, model),
            identifier=f"Radiologist review of record {record.id}",
        ),
        finding_type=class_code(conclusion) if conclusion is not None else None,
        finding_sites=_finding_sites(record, True) if conclusion is not None else None,
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(RADIOLOGIST_REVIEW, VERDICTS[ReviewAction(review.action)])
        ],
        source_images=[_source_image(source)],
    )


def _source_image(source: Dataset) -> hd.sr.SourceImageForMeasurementGroup:
    # By its UIDs alone: highdicom's from_source_image also asks for Modality and
    # PixelSpacing and refuses some modalities, and the server accepts images without them.
    return hd.sr.SourceImageForMeasurementGroup(
        referenced_sop_class_uid=source.SOPClassUID,
        referenced_sop_instance_uid=source.SOPInstanceUID,
    )


def _image_library(source: Dataset) -> list[Dataset] | None:
    """The image for the report's optional Image Library (TID 1601), which describes its
    geometry; left out when a damaged value (a decimal string with no number in it) leaves
    that geometry unreadable, rather than failing the whole report."""
    try:
        hd.sr.ImageLibraryEntryDescriptors(source)
    except (AttributeError, TypeError, ValueError):
        return None
    return [source]


def _ai_group(
    record: Record, source: Dataset, model: ModelDevice
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """The model's result, as it made it: reviews never change it."""
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
    return hd.sr.MeasurementsAndQualitativeEvaluations(
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
        source_images=[_source_image(source)],
    )


def _finding_type(record: Record) -> hd.sr.CodedConcept:
    if record.finding is not None:
        return finding_code(record.finding)
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


def finding_code(finding: str) -> hd.sr.CodedConcept:
    """SNOMED CT where a concept means the finding (api.interop.codes), else medimg's own."""
    standard = FINDING_SNOMED.get(finding)
    if standard is not None:
        return hd.sr.CodedConcept(standard.code, SNOMED_SCHEME, standard.display)
    return hd.sr.CodedConcept(finding, PRIVATE_SCHEME, display(finding))


def suitability_code(suitability: str | None) -> hd.sr.CodedConcept:
    value = suitability or "unknown"
    return hd.sr.CodedConcept(value, PRIVATE_SCHEME, display(value))
