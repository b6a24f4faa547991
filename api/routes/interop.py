"""A record in the hospital's standards: FHIR R4 Bundle, DICOM SR, DICOM Secondary Capture."""

from http import HTTPStatus

from fastapi import APIRouter, Depends, HTTPException, Response

from api.deps import ActorDep, BlobStoreDep, ClassifierDep, SessionDep, SettingsDep, get_actor
from api.errors import problem_responses
from api.interop import (
    heatmap_secondary_capture,
    model_device,
    structured_report,
    to_part10,
)
from api.interop.fhir import FHIR_JSON_MEDIA_TYPE, record_bundle
from api.interop.filing import filing_context_for, result_source
from api.models import Record
from api.routing import RecordId, stored_file_response
from api.services.ingest import DICOM_MEDIA_TYPE, decode_upload
from api.services.records import get_visible_record_or_404
from api.services.reviews import reviews_of
from ml.inference import Classifier

router = APIRouter(
    prefix="/records",
    tags=["interop"],
    dependencies=[Depends(get_actor)],
    responses=problem_responses(401, 403),
)


@router.get(
    "/{record_id}/fhir",
    summary="The record as a FHIR R4 Bundle (DiagnosticReport, Observations, Device, Provenance)",
    description=(
        "A `collection` Bundle: a DiagnosticReport (status from the review: `preliminary`, "
        "`final` once confirmed, `corrected` once corrected, `entered-in-error` once the AI "
        "result is rejected; conclusion and conclusionCode from the final label); tumour "
        "first, an Observation of the finding (components: the probability that any tumour "
        "is present, the class), then one Observation per class probability, and one of "
        "what the recogniser saw (kind of image, DICOM modality, body part as bodySite); "
        "the model as a Device, "
        "and a Provenance for the AI result and one per radiologist review, following HL7 "
        "*AI Transparency on FHIR* (AIAST security labels). A record the input gate found "
        "out of distribution carries no finding, class or class probability. A record from "
        "the PACS, the DICOM listener or an upload with `keep_filing_context` names the "
        "original study's patient (`subject`), order (`basedOn`, by accession number) and "
        "study (`imagingStudy`, `derivedFrom`) by their identifiers. See docs/INTEROP.md."
    ),
    response_class=Response,
    responses={
        HTTPStatus.OK: {"description": "FHIR R4 JSON.", "content": {FHIR_JSON_MEDIA_TYPE: {}}},
        **problem_responses(404, 422),
    },
)
def read_record_fhir(
    session: SessionDep, actor: ActorDep, classifier: ClassifierDep, record_id: RecordId
) -> Response:
    record = get_visible_record_or_404(session, actor, record_id)
    bundle = record_bundle(
        record,
        reviews_of(session, record_id),
        model_device(classifier, record.model_version),
        filing_context_for(session, record_id),
    )
    return Response(bundle.model_dump_json(), media_type=FHIR_JSON_MEDIA_TYPE)


@router.get(
    "/{record_id}/sr",
    summary="The AI finding as a DICOM Comprehensive SR (TID 1500)",
    description=(
        "A Measurement Report with one image-level group, tumour first: the finding "
        "(`tumour_suspected`, `indeterminate`, `no_tumour`) as Finding, the probability that "
        "any tumour is present, a probability per class and the class, then "
        "the recogniser's modality and kind of image; the model as observer device and "
        "algorithm. A record the input gate found out of distribution gets no finding, class "
        "or class probability: only what the image is, and the gate's verdict. A record from "
        "the PACS, the DICOM listener or an upload with `keep_filing_context` gets an SR in "
        "the original study (its Study, Series and SOP Instance UIDs, patient, accession and "
        "dates), ready to be filed there; any other references the stored, de-identified "
        "image and says in a text item that it cannot be filed into the original study. Each "
        "review makes a new revision naming the one before: after a confirmation, correction "
        "or rejection it is VERIFIED by the reviewer and FINAL, with the radiologist's "
        "conclusion in a group of its own. Only for records made from DICOM; others get 409."
    ),
    response_class=Response,
    responses={
        HTTPStatus.OK: {"description": "DICOM Part-10.", "content": {DICOM_MEDIA_TYPE: {}}},
        **problem_responses(404, 409, 422),
    },
)
def read_record_sr(
    session: SessionDep,
    actor: ActorDep,
    blob_store: BlobStoreDep,
    classifier: ClassifierDep,
    record_id: RecordId,
) -> Response:
    record = get_visible_record_or_404(session, actor, record_id)
    require_dicom(record, "a DICOM SR")
    source = result_source(session, blob_store, record)
    model = model_device(classifier, record.model_version)
    report = structured_report(
        record,
        source.dataset,
        model,
        reviews_of(session, record_id),
        in_original_study=source.in_original_study,
    )
    return stored_file_response(to_part10(report), DICOM_MEDIA_TYPE, f"record-{record.id}-sr.dcm")


@router.get(
    "/{record_id}/heatmap.dcm",
    summary="The Grad-CAM overlay as a DICOM Secondary Capture",
    description=(
        "The explanation of the serving model's prediction drawn over the classified slice, "
        "as an RGB Secondary Capture in the image's study: the original one for a record with "
        "a filing context (as the SR), else the stored image's. Only for records made from "
        "DICOM by the serving model version (an explanation from another model would not "
        "explain this result); others get 409."
    ),
    response_class=Response,
    responses={
        HTTPStatus.OK: {"description": "DICOM Part-10.", "content": {DICOM_MEDIA_TYPE: {}}},
        **problem_responses(404, 409, 422),
    },
)
def read_record_heatmap(
    session: SessionDep,
    actor: ActorDep,
    blob_store: BlobStoreDep,
    classifier: ClassifierDep,
    settings: SettingsDep,
    record_id: RecordId,
) -> Response:
    record = get_visible_record_or_404(session, actor, record_id)
    require_dicom(record, "a DICOM Secondary Capture")
    check_explainable(classifier, record)
    source = result_source(session, blob_store, record)
    image = decode_upload(source.stored, settings.max_image_pixels)
    explanation = classifier.explain(image.pixels)
    capture = heatmap_secondary_capture(
        source.dataset,
        image.pixels,
        explanation.heatmap,
        model_device(classifier, record.model_version),
    )
    filename = f"record-{record.id}-heatmap.dcm"
    return stored_file_response(to_part10(capture), DICOM_MEDIA_TYPE, filename)


def check_explainable(classifier: Classifier, record: Record) -> None:
    if record.model_version not in classifier.same_weights:
        raise HTTPException(
            HTTPStatus.CONFLICT,
            f"Record {record.id} was classified by model {record.model_version}, but "
            f"{classifier.version} is serving: its heatmap would not explain this result.",
        )


def require_dicom(record: Record, what: str) -> None:
    if record.media_type != DICOM_MEDIA_TYPE:
        raise HTTPException(
            HTTPStatus.CONFLICT,
            f"Record {record.id} was made from a {record.media_type} file; {what} needs a "
            f"DICOM source image. GET /records/{record.id}/fhir has the result in FHIR.",
        )
