"""POST /classify and /classify/batch: uploaded slices in, stored classification records out."""

from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from api.audit import add_audit_event, mark_audited
from api.deps import (
    Actor,
    ActorDep,
    BlobStoreDep,
    ClassifierDep,
    SessionDep,
    SettingsDep,
    get_actor,
)
from api.errors import Problem, problem_responses
from api.idempotency import (
    IdempotencyKeyHeader,
    IdempotentRequest,
    find_replay,
    idempotent_request,
    remember,
    replayed_header_doc,
)
from api.models import ClassificationBatchPublic, ClassificationResult, RecordPublic
from api.routing import UploadSizeLimitedRoute
from api.services.ingest import (
    IngestContext,
    Ingested,
    Upload,
    blob_discarder,
    discard_unreferenced_blobs,
    ingest,
    kept_filename,
    read_upload_within_limit,
    save_records,
)
from api.settings import Settings
from api.storage import BlobStore
from api.timing import StageTimer
from api.values import Text
from ml.inference import Classifier

router = APIRouter(
    tags=["classification"],
    route_class=UploadSizeLimitedRoute,
    dependencies=[Depends(get_actor)],
    responses=problem_responses(401, 403),
)

SourceSystemForm = Annotated[
    Text | None,
    Form(
        max_length=128,
        description="The sending system (e.g. a PACS or RIS name), kept on the record.",
        examples=["pacs-west"],
    ),
]

KeepFilingContextForm = Annotated[
    bool,
    Form(
        description=(
            "DICOM only: keep the original study's identifiers (Study, Series and SOP "
            "Instance UIDs, Patient ID and name, accession number, study date and time), "
            "apart from the de-identified record, so that its SR, heatmap and FHIR file into "
            "the original study. Off by default: the record then has no link to the study. "
            "For a PNG or JPEG: 422."
        )
    ),
]

INPUT_DESCRIPTION = """
Upload one PNG, JPEG or DICOM slice as the multipart field `file`. The type is read from
the file's bytes, not its name or declared type. The image is classified, stored, and
returned as a new record. Research use, not diagnosis.

**Tumour first, brain MRI only:** the record says what a recogniser sees (`kind`,
`modality`, `body_part`, `kind_probability`) and, for a brain MRI, whether a tumour is
suspected (`finding`, `tumour_probability`), then its class (`label`, `probabilities`).
Anything else, or a DICOM file whose header names another modality than its pixels show, is
stored as `out_of_distribution`, with a `suitability_reason` that says what it looks like,
and carries no finding, class or probability.

**DICOM:** Part-10 files, uncompressed or JPEG baseline/lossless, JPEG-LS, JPEG 2000 or
RLE. The modality LUT and the file's VOI window are applied. *Frame policy:* of a
multi-frame file, only the **middle frame** (index `frames // 2`) is classified and shown.

**De-identification:** a DICOM file is stored only after the DICOM PS3.15 Basic Application
Level Confidentiality Profile has been applied (private attributes removed, preamble
zeroed, UIDs replaced). The original Study, Series and SOP Instance UIDs are kept only as
`hex(HMAC-SHA256(key=MEDIMG_UID_HASH_SALT, message=UID))` in `study_uid_hash`,
`series_uid_hash` and `sop_uid_hash`; `image_sha256` is that of the de-identified file.
With `keep_filing_context=true` the original study's identifiers are also kept, in a table
of their own that only the result-writing routes read (SR, heatmap, FHIR): the stored file
and the record stay de-identified, and no list, search or figure shows them.

**Retries:** send an `Idempotency-Key`; a retry with the same key and request returns the
first answer with `Idempotent-Replayed: true` and makes no second record.

**Timing:** with `MEDIMG_SERVER_TIMING` on, the answer's `Server-Timing` header gives the
milliseconds spent decoding, de-identifying, in the model (queueing included), in the input
gate, writing the file and in the database.

**Overload:** concurrent uploads share batched model calls; when more images wait for the
model than its queue holds (`MEDIMG_INFERENCE_QUEUE_SIZE`), the request is answered at once
with 503 and a `Retry-After` header, and nothing is stored.
"""


async def one_file_part(request: Request) -> None:
    """A second `file` part would otherwise be dropped without a word: the sender must learn
    that only one was classified. The form is already parsed (and cached) by now."""
    parts = len((await request.form()).getlist("file"))
    if parts > 1:
        raise RequestValidationError(
            [
                {
                    "type": "too_many_files",
                    "loc": ("body", "file"),
                    "msg": f"{parts} `file` parts were sent; POST /classify takes one. "
                    "Send several as `files` to POST /classify/batch.",
                }
            ]
        )


# Plain `def` routes: FastAPI runs them on the thread pool, so decoding and inference
# (CPU-bound) and the blocking database and disk writes never stall the event loop.
@router.post(
    "/classify",
    status_code=HTTPStatus.CREATED,
    response_model=RecordPublic,
    summary="Classify a brain-MRI slice and store the result",
    description=INPUT_DESCRIPTION,
    dependencies=[Depends(one_file_part)],
    responses={
        **replayed_header_doc(HTTPStatus.CREATED),
        **problem_responses(400, 408, 413, 415, 422, 429, 503),
    },
)
def create_classification(
    request: Request,
    response: Response,
    file: Annotated[UploadFile, File(description="One PNG, JPEG or DICOM brain-MRI slice.")],
    settings: SettingsDep,
    session: SessionDep,
    classifier: ClassifierDep,
    blob_store: BlobStoreDep,
    actor: ActorDep,
    source_system: SourceSystemForm = None,
    keep_filing_context: KeepFilingContextForm = False,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    timer = StageTimer()
    source_system = _blank_to_none(source_system)
    data = read_upload_within_limit(file.file, settings.max_upload_bytes)
    upload = Upload(file.filename, data, file.content_type)
    # Named only when asked for: the keys of requests made before it existed still match.
    fields = {"source_system": source_system}
    if keep_filing_context:
        fields["keep_filing_context"] = "true"
    idempotent = idempotent_request(
        idempotency_key, actor, "/classify", fields, [(upload.filename, upload.data)]
    )
    if (replay := find_replay(session, idempotent)) is not None:
        return replay
    release_connection(session)  # held by no request while it waits for the model
    context = _ingest_context(
        settings,
        session,
        classifier,
        blob_store,
        actor,
        source_system,
        timer,
        keep_filing_context,
    )
    ingested = ingest(upload, context)

    answers: list[RecordPublic] = []

    def remember_answer(writing: Session) -> None:
        # Made once the record has its id, before the commit expires its attributes: the
        # answer then needs no second query, and a retry's replay is the very same answer.
        answers.append(RecordPublic.model_validate(ingested.record))
        record_id = ingested.record.id
        remember(
            writing,
            idempotent,
            status_code=HTTPStatus.CREATED,
            answer=answers[-1],
            record_id=record_id,
        )
        add_audit_event(writing, request, HTTPStatus.CREATED, record_id)

    with timer.stage("database"):
        replay = _save_or_replay(session, blob_store, [ingested], remember_answer, idempotent)
    if replay is not None:
        return replay
    mark_audited(request, HTTPStatus.CREATED)
    answer = answers[-1]
    release_connection(session)
    timer.add_header(response, settings.server_timing)
    return answer


@router.post(
    "/classify/batch",
    response_model=ClassificationBatchPublic,
    summary="Classify several slices at once, each with its own result",
    description=(
        "Upload several files as repeated multipart fields `files`. Each file is handled as "
        "by POST /classify and gets its own result: `status` 201 with its `record`, or its "
        "own 4xx `problem`; one bad file does not stop the others. The whole request must "
        "fit in the upload limit (the files' sizes added up) and hold at most "
        "`MEDIMG_MAX_BATCH_FILES` files, or it is refused as a whole with 413. "
        "`source_system` and `Idempotency-Key` work as for POST /classify."
    ),
    responses={
        **replayed_header_doc(HTTPStatus.OK),
        **problem_responses(400, 408, 413, 422, 429, 503),
    },
)
def create_classification_batch(
    request: Request,
    response: Response,
    files: Annotated[list[UploadFile], File(description="PNG, JPEG or DICOM slices.")],
    settings: SettingsDep,
    session: SessionDep,
    classifier: ClassifierDep,
    blob_store: BlobStoreDep,
    actor: ActorDep,
    source_system: SourceSystemForm = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Any:
    timer = StageTimer()
    source_system = _blank_to_none(source_system)
    uploads = _read_batch_within_limits(files, settings)
    idempotent = idempotent_request(
        idempotency_key,
        actor,
        "/classify/batch",
        {"source_system": source_system},
        [(upload.filename, upload.data) for upload in uploads],
    )
    if (replay := find_replay(session, idempotent)) is not None:
        return replay
    release_connection(session)
    context = _ingest_context(
        settings, session, classifier, blob_store, actor, source_system, timer
    )
    outcomes = _ingest_each(session, uploads, context, request.url.path)
    ingested = [outcome for outcome in outcomes if isinstance(outcome, Ingested)]

    answers: list[ClassificationBatchPublic] = []

    def remember_answer(writing: Session) -> None:
        answers.append(_batch_answer(uploads, outcomes))
        remember(writing, idempotent, status_code=HTTPStatus.OK, answer=answers[-1])
        add_audit_event(writing, request, HTTPStatus.OK)

    with timer.stage("database"):
        replay = _save_or_replay(session, blob_store, ingested, remember_answer, idempotent)
    if replay is not None:
        return replay
    mark_audited(request, HTTPStatus.OK)
    answer = answers[-1]
    release_connection(session)
    timer.add_header(response, settings.server_timing)
    return answer


def release_connection(session: Session) -> None:
    """Hand the session's pooled connection back now rather than after the response.

    A classification waits for the model, and the audit trail is written as the response
    starts, on a connection of its own: were every request to keep its connection through
    both, a burst of them could hold the whole pool while each waits for one more. The
    session stays usable; it checks a connection out again when next used.
    """
    session.close()


def _blank_to_none(value: str | None) -> str | None:
    return (value or "").strip() or None


def _ingest_context(
    settings: Settings,
    session: Session,
    classifier: Classifier,
    blob_store: BlobStore,
    actor: Actor,
    source_system: str | None,
    timer: StageTimer,
    keep_filing_context: bool = False,
) -> IngestContext:
    return IngestContext(
        classifier=classifier,
        blob_store=blob_store,
        max_image_pixels=settings.max_image_pixels,
        uid_hash_salt=settings.uid_hash_salt.get_secret_value(),
        created_by_key_id=actor.key_id,
        source_system=source_system,
        discard_blob=blob_discarder(session, blob_store),
        timer=timer,
        keep_filing_context=keep_filing_context,
    )


def _save_or_replay(
    session: Session,
    blob_store: BlobStore,
    ingested: list[Ingested],
    remember_answer: Callable[[Session], None],
    idempotent: IdempotentRequest | None,
) -> JSONResponse | None:
    """None once the records are stored; the first answer if a concurrent retry won."""
    try:
        save_records(session, blob_store, ingested, remember_answer, grouped=True)
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as it did.
        if (replay := find_replay(session, idempotent)) is not None:
            return replay
        raise
    return None


def _read_batch_within_limits(files: list[UploadFile], settings: Settings) -> list[Upload]:
    if len(files) > settings.max_batch_files:
        raise HTTPException(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"The batch holds {len(files)} files, more than the {settings.max_batch_files} "
            "allowed. Split it into smaller batches.",
        )
    uploads: list[Upload] = []
    remaining = settings.max_upload_bytes
    for file in files:
        try:
            data = read_upload_within_limit(file.file, remaining)
        except HTTPException:
            raise _batch_too_large(settings.max_upload_bytes) from None
        remaining -= len(data)
        uploads.append(Upload(file.filename, data, file.content_type))
    return uploads


def _batch_too_large(max_bytes: int) -> HTTPException:
    return HTTPException(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        f"The files add up to more than the {max_bytes:,}-byte upload limit. "
        "Send fewer files per request.",
    )


def _ingest_each(
    session: Session, uploads: list[Upload], context: IngestContext, path: str
) -> list[Ingested | Problem]:
    outcomes: list[Ingested | Problem] = []
    try:
        for upload in uploads:
            outcomes.append(_ingest_or_problem(upload, context, path))
    except BaseException:
        # An unexpected failure ends the request: the blobs written so far have no record.
        written = [outcome.blob for outcome in outcomes if isinstance(outcome, Ingested)]
        discard_unreferenced_blobs(session, context.blob_store, written)
        raise
    return outcomes


def _ingest_or_problem(upload: Upload, context: IngestContext, path: str) -> Ingested | Problem:
    try:
        return ingest(upload, context)
    except HTTPException as error:
        return Problem(
            title=HTTPStatus(error.status_code).phrase,
            status=error.status_code,
            detail=str(error.detail),
            instance=path,
        )


def _batch_answer(
    uploads: list[Upload], outcomes: list[Ingested | Problem]
) -> ClassificationBatchPublic:
    return ClassificationBatchPublic(
        results=[
            _result(upload, outcome) for upload, outcome in zip(uploads, outcomes, strict=True)
        ]
    )


def _result(upload: Upload, outcome: Ingested | Problem) -> ClassificationResult:
    filename = kept_filename(upload)
    if isinstance(outcome, Problem):
        return ClassificationResult(
            filename=filename, status=outcome.status, record=None, problem=outcome
        )
    record = RecordPublic.model_validate(outcome.record)
    return ClassificationResult(
        filename=filename, status=HTTPStatus.CREATED, record=record, problem=None
    )
