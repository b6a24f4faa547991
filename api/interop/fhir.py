"""A record as a FHIR R4 Bundle: DiagnosticReport, Observations, Device and Provenance.

Tumour first: the report's first Observation is the finding (`tumour_suspected`,
`indeterminate` or `no_tumour`) with the probability that any tumour is present and the
class as its components; one Observation per class probability follows; the last
says what the recogniser saw (its kind of image, the DICOM modality as a component, the body
part as bodySite). A record the input gate found out of distribution was not read for
tumours: its Bundle holds no finding, class or class probability, only what the image is.

Built and validated with `fhir.resources`' R4B package (FHIR 4.3, which keeps R4's shape for
every resource used here). Follows HL7's "AI Transparency on FHIR" where it applies: every
resource the model asserted carries the `AIAST` security label, the model is a Device, and a
Provenance names it as the author of the result; each radiologist review gets its own
Provenance naming the reviewer as verifier.

Records are de-identified, so the Bundle names a patient, an order and a study only for a
record with a filing context (api/interop/filing.py): by their identifiers, never by a
resource medimg would have to hold. The report's `subject` is the Patient by Patient ID, its
`basedOn` the ServiceRequest by accession number, its `imagingStudy` the ImagingStudy by
Study Instance UID; the Observations carry the same subject and order and are `derivedFrom`
that study. Without one there is no subject.

The report follows the review (HL7's DiagnosticReport.status): `preliminary` until a
radiologist reviews it, `final` once confirmed, `corrected` once corrected (or when a later
verdict changes a conclusion already released), `entered-in-error` once the AI result is
rejected. A reviewed report's conclusion is the radiologist's: it no longer carries the AIAST
label, and the AI Provenance no longer names it as the model's. The Observations stay the
model's own (AIAST), with a status that agrees with the report's.
"""

import uuid
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from api.interop.codes import (
    BODY_PART_SNOMED,
    CLASS_SNOMED,
    CLASS_SYSTEM,
    DICOM_SYSTEM,
    FINDING_SNOMED,
    FINDING_SYSTEM,
    KIND_SYSTEM,
    OBSERVATION_SYSTEM,
    SNOMED_SYSTEM,
    Concept,
    display,
    kind_display,
    modality_display,
)
from api.interop.common import ModelDevice, reviewed_class
from api.models import (
    FilingContext,
    Record,
    Review,
    ReviewAction,
    ReviewStatus,
    has_tumour_answer,
)

FHIR_JSON_MEDIA_TYPE = "application/fhir+json"
# Stable per record: the same record always gives the same resource ids and fullUrls.
_ID_NAMESPACE = uuid.UUID("5b0f1c1e-7d0b-4f43-9f0e-6d2a6f1f9c11")

AI_ASSERTED_LABEL = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "AIAST",
    "display": "Artificial Intelligence asserted",
}
RADIOLOGY_CATEGORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
            "code": "RAD",
            "display": "Radiology",
        }
    ]
}
IMAGING_CATEGORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "imaging",
            "display": "Imaging",
        }
    ]
}
DIAGNOSTIC_IMAGING_REPORT_CODE = {
    "coding": [
        {"system": "http://loinc.org", "code": "18748-4", "display": "Diagnostic imaging study"}
    ],
    "text": "Brain MRI slice tumour classification (AI, research use)",
}
PROVENANCE_PARTICIPANT_SYSTEM = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
SOP_UID_HASH_SYSTEM = "urn:medimg:sop-instance-uid-hmac-sha256"
PROBABILITY_UNIT = {"unit": "probability", "system": "http://unitsofmeasure.org", "code": "1"}
# DICOM UIDs as FHIR identifiers (FHIR "Using DICOM UIDs": urn:dicom:uid, urn:oid:<uid>).
DICOM_UID_SYSTEM = "urn:dicom:uid"
# HL7 v2 table 0203, identifier types: medical record number, accession number.
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"

# HL7 FHIR R4 DiagnosticReport.status: an unreviewed AI result is not final; a confirmed one
# is ("complete and verified by an authorized person"); a corrected one is "modified to
# correct an error in the report"; a rejected one "should never have existed".
REPORT_STATUS = {
    ReviewStatus.UNREVIEWED: "preliminary",
    ReviewStatus.CONFIRMED: "final",
    ReviewStatus.CORRECTED: "corrected",
    ReviewStatus.REJECTED: "entered-in-error",
}
# The model's Observations under each report status. They are never modified: under a
# corrected report they stay the final record of what the model said (the correction is the
# report's conclusion); a rejection withdraws them with the report.
OBSERVATION_STATUS = {
    "preliminary": "preliminary",
    "final": "final",
    "corrected": "final",
    "entered-in-error": "entered-in-error",
}
# The review actions that give a verdict (a withdrawal takes the verdicts back).
VERDICT_ACTIONS = (ReviewAction.CONFIRM, ReviewAction.CORRECT, ReviewAction.REJECT)


def record_bundle(
    record: Record,
    reviews: list[Review],
    model: ModelDevice,
    filing: FilingContext | None = None,
) -> Bundle:
    """The record and its reviews as a validated FHIR `collection` Bundle; with its filing
    context, tied to the original patient, order and study by their identifiers."""
    device = _device(record, model)
    status = report_status(record, reviews)
    observations = []
    if has_tumour_answer(record.suitability):
        if record.finding is not None:
            observations.append(_finding_observation(record, device))
        observations += [
            _observation(record, name, probability, device)
            for name, probability in sorted(record.probabilities.items())
        ]
    if record.kind is not None:
        observations.append(_kind_observation(record, device))
    context = _filing_references(filing) if filing is not None else {}
    for observation in observations:
        observation["status"] = OBSERVATION_STATUS[status]
        observation.update(_observation_context(context))
    report = _diagnostic_report(record, reviews, observations, status)
    report.update(context)
    provenances = [_ai_provenance(record, report, observations, device)]
    provenances += [_review_provenance(record, report, review) for review in reviews]
    resources = [report, *observations, device, *provenances]
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "id": _resource_id(record, "bundle"),
            "type": "collection",
            "timestamp": _instant(_last_change(record, reviews)),
            "entry": [
                {"fullUrl": _full_url(resource), "resource": resource} for resource in resources
            ],
        }
    )


def _filing_references(filing: FilingContext) -> dict[str, Any]:
    """The report's subject, order and study, by identifier (logical references)."""
    study = {
        "type": "ImagingStudy",
        "identifier": {
            "system": DICOM_UID_SYSTEM,
            "value": f"urn:oid:{filing.study_instance_uid}",
        },
        "display": "The DICOM study the image came from",
    }
    references: dict[str, Any] = {"imagingStudy": [study]}
    if filing.patient_id is not None:
        patient = _typed_identifier("MR", "Medical record number", filing.patient_id)
        if filing.issuer_of_patient_id is not None:
            patient["assigner"] = {"display": filing.issuer_of_patient_id}
        references["subject"] = {"type": "Patient", "identifier": patient}
    if filing.accession_number is not None:
        accession = _typed_identifier("ACSN", "Accession ID", filing.accession_number)
        references["basedOn"] = [{"type": "ServiceRequest", "identifier": accession}]
    return references


def _observation_context(references: dict[str, Any]) -> dict[str, Any]:
    """What an Observation shares with its report: subject and order; and it is derived from
    the study (Observation has no imagingStudy)."""
    context = {key: references[key] for key in ("subject", "basedOn") if key in references}
    if "imagingStudy" in references:
        context["derivedFrom"] = references["imagingStudy"]
    return context


def _typed_identifier(code: str, display_text: str, value: str) -> dict[str, Any]:
    coding = {"system": IDENTIFIER_TYPE_SYSTEM, "code": code, "display": display_text}
    return {"type": {"coding": [coding]}, "value": value}


def _device(record: Record, model: ModelDevice) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "id": _resource_id(record, "device"),
        "status": "active",
        "manufacturer": model.manufacturer,
        "deviceName": [{"name": model.name, "type": "model-name"}],
        "type": {"text": "Artificial intelligence: convolutional image classifier"},
        "version": [{"value": model.version}],
        "note": [{"text": "Research use only. Not a medical device; not for diagnosis."}],
    }


def _ai_observation(
    record: Record, part: str, code: dict[str, Any], device: dict[str, Any]
) -> dict[str, Any]:
    """What every Observation the model asserted shares; the caller adds its value."""
    return {
        "resourceType": "Observation",
        "id": _resource_id(record, part),
        "meta": {"security": [AI_ASSERTED_LABEL]},
        "category": [IMAGING_CATEGORY],
        "code": code,
        "effectiveDateTime": _instant(record.created_at),
        "device": {"reference": _full_url(device), "display": device["deviceName"][0]["name"]},
    }


def _finding_observation(record: Record, device: dict[str, Any]) -> dict[str, Any]:
    """The tumour-first answer: the finding, then the tumour probability and the class."""
    code = _medimg_code(
        "tumour-finding", "Tumour finding", "Tumour finding (AI): is any tumour present?"
    )
    observation = _ai_observation(record, "finding", code, device)
    observation["valueCodeableConcept"] = _concept(
        FINDING_SYSTEM, record.finding, FINDING_SNOMED.get(record.finding)
    )
    observation["bodySite"] = _body_site("BRAIN")
    components = []
    if record.tumour_probability is not None:
        components.append(
            {
                "code": _medimg_code(
                    "tumour-probability", "Probability that any tumour is present"
                ),
                "valueQuantity": _probability(record.tumour_probability),
            }
        )
    components.append(
        {
            "code": _medimg_code("tumour-class", "Tumour class"),
            "valueCodeableConcept": _class_concept(record.label),
        }
    )
    observation["component"] = components
    return observation


def _observation(
    record: Record, class_name: str, probability: float, device: dict[str, Any]
) -> dict[str, Any]:
    code = {
        "coding": [{"system": CLASS_SYSTEM, "code": class_name}],
        "text": f"Probability of {display(class_name)}",
    }
    observation = _ai_observation(record, f"probability-{class_name}", code, device)
    observation["valueQuantity"] = _probability(probability)
    return observation


def _kind_observation(record: Record, device: dict[str, Any]) -> dict[str, Any]:
    """What the recogniser saw: its kind of image, with the DICOM modality and body part."""
    code = _medimg_code(
        "image-kind", "Kind of image", "Kind of image (AI recogniser): modality and body part"
    )
    observation = _ai_observation(record, "image-kind", code, device)
    described = kind_display(record.kind)
    observation["valueCodeableConcept"] = {
        "coding": [{"system": KIND_SYSTEM, "code": record.kind, "display": described}],
        "text": described,
    }
    if record.body_part is not None:
        observation["bodySite"] = _body_site(record.body_part)
    components = []
    if record.modality is not None:
        components.append(
            {
                "code": {
                    "coding": [{"system": DICOM_SYSTEM, "code": "121139", "display": "Modality"}]
                },
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": DICOM_SYSTEM,
                            "code": record.modality,
                            "display": modality_display(record.modality),
                        }
                    ],
                    "text": record.modality,
                },
            }
        )
    if record.kind_probability is not None:
        components.append(
            {
                "code": _medimg_code("kind-probability", f"Probability of {described}"),
                "valueQuantity": _probability(record.kind_probability),
            }
        )
    if components:
        observation["component"] = components
    return observation


def _medimg_code(code: str, display_text: str, text: str | None = None) -> dict[str, Any]:
    return {
        "coding": [{"system": OBSERVATION_SYSTEM, "code": code, "display": display_text}],
        "text": text or display_text,
    }


def _probability(value: float) -> dict[str, Any]:
    return {"value": round(float(value), 6), **PROBABILITY_UNIT}


def _body_site(body_part: str) -> dict[str, Any]:
    concept = BODY_PART_SNOMED.get(body_part)
    if concept is None:
        return {"text": f"{body_part.lower()} (no body part recognised)"}
    return {
        "coding": [{"system": SNOMED_SYSTEM, "code": concept.code, "display": concept.display}],
        "text": concept.display,
    }


def report_status(record: Record, reviews: list[Review]) -> str:
    """The DiagnosticReport.status the record's review state and history give.

    A confirmation after another verdict was released with a different conclusion (say, a
    correction) changes a final report: HL7 calls that `corrected`, not `final`."""
    status = REPORT_STATUS[ReviewStatus(record.review_status)]
    if status == "final" and any(
        reviewed_class(record, review) != record.final_label
        for review in reviews[:-1]
        if review.action in VERDICT_ACTIONS
    ):
        return "corrected"
    return status


def _ai_asserted(status: str) -> bool:
    # The conclusion is the model's until a radiologist gives a verdict.
    return status == "preliminary"


def _diagnostic_report(
    record: Record, reviews: list[Review], observations: list[dict[str, Any]], status: str
) -> dict[str, Any]:
    report = {
        "resourceType": "DiagnosticReport",
        "id": _resource_id(record, "report"),
        "identifier": [{"system": "urn:medimg:record", "value": str(record.id)}],
        "status": status,
        "category": [RADIOLOGY_CATEGORY],
        "code": DIAGNOSTIC_IMAGING_REPORT_CODE,
        "effectiveDateTime": _instant(record.created_at),
        "issued": _instant(_last_change(record, reviews)),
        "result": [{"reference": _full_url(observation)} for observation in observations],
        "conclusion": _conclusion(record, reviews),
    }
    if _ai_asserted(status):
        report["meta"] = {"security": [AI_ASSERTED_LABEL]}
    if record.final_label is not None:
        report["conclusionCode"] = [_class_concept(record.final_label)]
    if reviews:
        report["resultsInterpreter"] = [{"display": reviews[-1].reviewer_name}]
    return report


def _conclusion(record: Record, reviews: list[Review]) -> str:
    ai_result = f"AI result ({record.model_version}): {_ai_answer(record)}"
    if not reviews:
        return f"{ai_result} Not reviewed by a radiologist. Research use, not diagnosis."
    latest = reviews[-1]
    verdicts = {
        ReviewAction.CONFIRM: "confirmed",
        ReviewAction.CORRECT: f"corrected to {display(latest.label or '')}",
        ReviewAction.REJECT: "rejected the result",
        ReviewAction.WITHDRAW: "withdrew the review: not reviewed",
    }
    verdict = verdicts[ReviewAction(latest.action)]
    # The radiologist's word first: it is the report's conclusion; the AI's is its input.
    return f"Radiologist {latest.reviewer_name} {verdict}. {ai_result}"


def _ai_answer(record: Record) -> str:
    """The model's answer in words, tumour first; none for an image it did not read."""
    if not has_tumour_answer(record.suitability):
        reason = record.suitability_reason or "the input gate found it out of distribution."
        return f"not read for tumours: {reason}"
    probability = record.probabilities.get(record.label, 0.0)
    the_class = f"{display(record.label)}, probability {probability:.2f}."
    if record.finding is None:
        return the_class
    tumour = (
        f" (probability of any tumour {record.tumour_probability:.2f})"
        if record.tumour_probability is not None
        else ""
    )
    return f"{display(record.finding)}{tumour}; class {the_class}"


def _ai_provenance(
    record: Record,
    report: dict[str, Any],
    observations: list[dict[str, Any]],
    device: dict[str, Any],
) -> dict[str, Any]:
    # The model authored the report only while its conclusion is the model's (and a
    # Provenance needs a target: a record with no Observation keeps the report).
    authored = [report] if _ai_asserted(report["status"]) or not observations else []
    provenance = {
        "resourceType": "Provenance",
        "id": _resource_id(record, "provenance-ai"),
        "target": [{"reference": _full_url(resource)} for resource in authored + observations],
        "occurredDateTime": _instant(record.created_at),
        "recorded": _instant(record.created_at),
        "activity": _activity("CREATE", "AI classification of the image"),
        "agent": [
            {
                "type": _participant("author", "Author"),
                "who": {"reference": _full_url(device), "display": device["deviceName"][0]["name"]},
            }
        ],
    }
    if record.sop_uid_hash is not None:
        # The source image, by the only identifier medimg keeps: the hash of its SOP UID.
        provenance["entity"] = [
            {
                "role": "source",
                "what": {
                    "identifier": {"system": SOP_UID_HASH_SYSTEM, "value": record.sop_uid_hash},
                    "display": "Source DICOM image (SOP Instance UID, salted hash)",
                },
            }
        ]
    return provenance


def _review_provenance(record: Record, report: dict[str, Any], review: Review) -> dict[str, Any]:
    provenance = {
        "resourceType": "Provenance",
        "id": _resource_id(record, f"provenance-review-{review.id}"),
        "target": [{"reference": _full_url(report)}],
        "occurredDateTime": _instant(review.created_at),
        "recorded": _instant(review.created_at),
        "activity": _activity("UPDATE", f"Radiologist review: {review.action}"),
        "agent": [
            {
                "type": _participant("verifier", "Verifier"),
                "who": {"display": review.reviewer_name},
            }
        ],
    }
    if review.note:
        provenance["reason"] = [{"text": review.note}]
    return provenance


def _activity(code: str, text: str) -> dict[str, Any]:
    return {"coding": [{"system": DATA_OPERATION_SYSTEM, "code": code}], "text": text}


def _participant(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": PROVENANCE_PARTICIPANT_SYSTEM, "code": code, "display": display}]}


def _class_concept(class_name: str) -> dict[str, Any]:
    """medimg's code first, then SNOMED CT's where one means the same (api.interop.codes)."""
    return _concept(CLASS_SYSTEM, class_name, CLASS_SNOMED.get(class_name))


def _concept(system: str, code: str, standard: Concept | None = None) -> dict[str, Any]:
    """medimg's code, then SNOMED CT's `standard` concept when one means the same."""
    words = display(code)
    coding = [{"system": system, "code": code, "display": words}]
    if standard is not None:
        coding.append({"system": SNOMED_SYSTEM, "code": standard.code, "display": standard.display})
    return {"coding": coding, "text": words}


def _last_change(record: Record, reviews: list[Review]) -> datetime:
    return reviews[-1].created_at if reviews else record.created_at


def _instant(moment: datetime) -> str:
    return moment.isoformat()


def _resource_id(record: Record, part: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"record/{record.id}/{part}"))


def _full_url(resource: dict[str, Any]) -> str:
    return f"urn:uuid:{resource['id']}"
