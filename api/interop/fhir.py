"""A record as a FHIR R4 Bundle: DiagnosticReport, Observations, Device and Provenance.

Built and validated with `fhir.resources`' R4B package (FHIR 4.3, which keeps R4's shape for
every resource used here). Follows HL7's "AI Transparency on FHIR" where it applies: every
resource the model asserted carries the `AIAST` security label, the model is a Device, and a
Provenance names it as the author of the result; each radiologist review gets its own
Provenance naming the reviewer as verifier. The patient is unknown to medimg (images are
de-identified), so there is no subject.
"""

import uuid
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from api.interop import ModelDevice
from api.models import Record, Review, ReviewAction, ReviewStatus

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
# medimg's own classes: no standard terminology names "no tumour on this slice".
CLASS_CODE_SYSTEM = "urn:medimg:brain-mri-class"
PROVENANCE_PARTICIPANT_SYSTEM = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
SOP_UID_HASH_SYSTEM = "urn:medimg:sop-instance-uid-hmac-sha256"
PROBABILITY_UNIT = {"unit": "probability", "system": "http://unitsofmeasure.org", "code": "1"}

# A rejected result is withdrawn; a reviewed one is final; an unreviewed AI result is not.
REPORT_STATUS = {
    ReviewStatus.UNREVIEWED: "preliminary",
    ReviewStatus.CONFIRMED: "final",
    ReviewStatus.CORRECTED: "final",
    ReviewStatus.REJECTED: "cancelled",
}


def record_bundle(record: Record, reviews: list[Review], model: ModelDevice) -> Bundle:
    """The record and its reviews as a validated FHIR `collection` Bundle."""
    device = _device(record, model)
    observations = [
        _observation(record, name, probability, device)
        for name, probability in sorted(record.probabilities.items())
    ]
    report = _diagnostic_report(record, reviews, observations)
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


def _observation(
    record: Record, class_name: str, probability: float, device: dict[str, Any]
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": _resource_id(record, f"probability-{class_name}"),
        "meta": {"security": [AI_ASSERTED_LABEL]},
        "status": "final",
        "category": [IMAGING_CATEGORY],
        "code": {
            "coding": [{"system": CLASS_CODE_SYSTEM, "code": class_name}],
            "text": f"Probability of {_display(class_name)}",
        },
        "effectiveDateTime": _instant(record.created_at),
        "valueQuantity": {"value": round(float(probability), 6), **PROBABILITY_UNIT},
        "device": {"reference": _full_url(device), "display": device["deviceName"][0]["name"]},
    }


def _diagnostic_report(
    record: Record, reviews: list[Review], observations: list[dict[str, Any]]
) -> dict[str, Any]:
    report = {
        "resourceType": "DiagnosticReport",
        "id": _resource_id(record, "report"),
        "meta": {"security": [AI_ASSERTED_LABEL]},
        "identifier": [{"system": "urn:medimg:record", "value": str(record.id)}],
        "status": REPORT_STATUS[ReviewStatus(record.review_status)],
        "category": [RADIOLOGY_CATEGORY],
        "code": DIAGNOSTIC_IMAGING_REPORT_CODE,
        "effectiveDateTime": _instant(record.created_at),
        "issued": _instant(_last_change(record, reviews)),
        "result": [{"reference": _full_url(observation)} for observation in observations],
        "conclusion": _conclusion(record, reviews),
    }
    if record.final_label is not None:
        report["conclusionCode"] = [_class_concept(record.final_label)]
    if reviews:
        report["resultsInterpreter"] = [{"display": reviews[-1].reviewer_name}]
    return report


def _conclusion(record: Record, reviews: list[Review]) -> str:
    probability = record.probabilities.get(record.label, 0.0)
    ai_result = (
        f"AI result ({record.model_version}): {_display(record.label)}, "
        f"probability {probability:.2f}."
    )
    if not reviews:
        return f"{ai_result} Not reviewed by a radiologist. Research use, not diagnosis."
    latest = reviews[-1]
    verdicts = {
        ReviewAction.CONFIRM: "confirmed",
        ReviewAction.CORRECT: f"corrected to {_display(latest.label or '')}",
        ReviewAction.REJECT: "rejected the result",
    }
    verdict = verdicts[ReviewAction(latest.action)]
    return f"{ai_result} Radiologist {latest.reviewer_name} {verdict}."


def _ai_provenance(
    record: Record,
    report: dict[str, Any],
    observations: list[dict[str, Any]],
    device: dict[str, Any],
) -> dict[str, Any]:
    provenance = {
        "resourceType": "Provenance",
        "id": _resource_id(record, "provenance-ai"),
        "target": [{"reference": _full_url(report)}]
        + [{"reference": _full_url(observation)} for observation in observations],
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
    display = _display(class_name)
    return {
        "coding": [{"system": CLASS_CODE_SYSTEM, "code": class_name, "display": display}],
        "text": display,
    }


def _display(class_name: str) -> str:
    return class_name.replace("_", " ")


def _last_change(record: Record, reviews: list[Review]) -> datetime:
    return reviews[-1].created_at if reviews else record.created_at


def _instant(moment: datetime) -> str:
    return moment.isoformat()


def _resource_id(record: Record, part: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"record/{record.id}/{part}"))


def _full_url(resource: dict[str, Any]) -> str:
    return f"urn:uuid:{resource['id']}"
