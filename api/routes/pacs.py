"""POST /pacs/studies/{uid}/classify: a study from the PACS in, records (and results) out."""

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field

from api.deps import (
    ActorDep,
    BlobStoreDep,
    ClassifierDep,
    JobQueueDep,
    SessionDep,
    SettingsDep,
    get_actor,
)
from api.errors import problem_responses
from api.interop.pacs import PacsError
from api.interop.pull import Outcome, PulledInstance, StudyPull, pull_study
from api.interop.pull_job import NO_PACS, study_pull_request
from api.jobs import PACS_STUDY_PULL, JobQueueUnavailableError
from api.models import RecordPublic
from api.routes.jobs import JobPublic, job_public, queue_unavailable, visible_job_or_404
from api.settings import Settings

router = APIRouter(
    prefix="/pacs",
    tags=["pacs"],
    dependencies=[Depends(get_actor)],
    responses=problem_responses(401, 403),
)

# PS3.5 9.1: digits and dots, at most 64 characters.
StudyInstanceUid = Annotated[
    str,
    Path(
        pattern=r"^[0-9]+(\.[0-9]+)*$",
        max_length=64,
        description="The study's DICOM Study Instance UID, as the PACS knows it.",
        examples=["1.2.826.0.1.3680043.8.498.1"],
    ),
]


PushQuery = Annotated[
    bool, Query(description="Store the SR and heatmap of each MR image back in the PACS.")
]


class PacsInstanceResult(BaseModel):
    sop_uid_hash: str = Field(description="Salted hash of the instance's SOP Instance UID.")
    outcome: Outcome = Field(
        description=(
            "`created`: classified now; `existing`: pulled before, its record is returned "
            "and nothing new is made; `skipped`: not an MR image."
        )
    )
    reason: str | None = Field(default=None, description="Why it was skipped.")
    record: RecordPublic | None = Field(default=None, description="Its record, if it has one.")


class PacsStudyPublic(BaseModel):
    study_uid_hash: str = Field(description="Salted hash of the Study Instance UID.")
    source_system: str = Field(description="The `source_system` of the study's records.")
    instances: list[PacsInstanceResult] = Field(description="One per instance of the study.")
    pushed_reports: int = Field(description="DICOM SRs stored to the PACS (with `push`).")
    pushed_heatmaps: int = Field(description="Heatmap Secondary Captures stored (with `push`).")
    notes: list[str] = Field(description="What was not done, and why.")


@router.post(
    "/studies/{study_instance_uid}/classify",
    response_model=PacsStudyPublic,
    summary="Pull a study from the PACS, classify its MR images, optionally push results back",
    description=(
        "Searches the study (QIDO-RS), fetches its MR instances (WADO-RS) and classifies each "
        "like POST /classify: de-identified, stored, one record each, `source_system` "
        "`MEDIMG_PACS_SOURCE_SYSTEM`, with its filing context (the original study's "
        "identifiers, kept apart: results can be pushed into the study later, e.g. after a "
        "review). With `push=true` the DICOM SR and the heatmap Secondary "
        "Capture of each MR image are stored back into the same study (STOW-RS): the SR's "
        "latest revision, so a review reaches the PACS. The push counts only when the PACS "
        "holds every instance sent (its STOW-RS answer lists each, and a search finds each "
        "afterwards); otherwise 502.\n\n"
        "**All or nothing per study:** a PACS that is unreachable or answers an error gives "
        "502, one that is too slow 504, an instance medimg cannot read its 4xx; in every case "
        "no record is kept. **Idempotent:** an instance pulled before is `existing`, never "
        "classified twice. See docs/INTEROP.md."
    ),
    responses=problem_responses(404, 409, 413, 415, 422, 502, 503, 504),
)
def classify_pacs_study(
    study_instance_uid: StudyInstanceUid,
    settings: SettingsDep,
    session: SessionDep,
    classifier: ClassifierDep,
    blob_store: BlobStoreDep,
    actor: ActorDep,
    push: PushQuery = False,
) -> PacsStudyPublic:
    pacs_configured_or_409(settings)
    request = study_pull_request(settings, session, classifier, blob_store, actor, push=push)
    try:
        pull = pull_study(study_instance_uid, request)
    except PacsError as error:
        raise HTTPException(error.status, error.detail) from error
    return study_answer(pull, settings.pacs_source_system)


@router.post(
    "/studies/{study_instance_uid}/jobs",
    status_code=HTTPStatus.ACCEPTED,
    response_model=JobPublic,
    summary="Queue a study pull from the PACS: the same work as /classify, as a job",
    description=(
        "The same pull, classification and optional push as "
        "POST /pacs/studies/{uid}/classify, done by a worker (or, without "
        "`MEDIMG_REDIS_URL`, a background thread of this server) instead of inside the "
        "request: a study of hundreds of slices holds no request open, and a job whose "
        "worker dies is done again by another. Answers 202 with the queued job and a "
        "`Location: /jobs/{id}` header; GET it until its `status` is `finished` (its "
        "`result` names the records) or `failed` (its `error` says why, and nothing of the "
        "study was kept). Idempotent by instance, like the synchronous route."
    ),
    responses=problem_responses(409, 422, 503),
)
def create_pacs_study_job(
    study_instance_uid: StudyInstanceUid,
    settings: SettingsDep,
    jobs: JobQueueDep,
    actor: ActorDep,
    response: Response,
    push: PushQuery = False,
) -> JobPublic:
    pacs_configured_or_409(settings)
    arguments = {"study_instance_uid": study_instance_uid, "push": push}
    try:
        job_id = jobs.enqueue(PACS_STUDY_PULL, arguments, key_id=actor.key_id)
    except JobQueueUnavailableError as error:
        raise queue_unavailable(error) from error
    response.headers["Location"] = f"/jobs/{job_id}"
    return job_public(visible_job_or_404(jobs, actor, job_id))


def pacs_configured_or_409(settings: Settings) -> None:
    if settings.pacs_url is None:
        # 409, not 503: retrying will not help; the server's configuration must change.
        raise HTTPException(HTTPStatus.CONFLICT, NO_PACS)


def study_answer(pull: StudyPull, source_system: str) -> PacsStudyPublic:
    return PacsStudyPublic(
        study_uid_hash=pull.study_uid_hash,
        source_system=source_system,
        instances=[instance_result(pulled) for pulled in pull.instances],
        pushed_reports=pull.pushed_reports,
        pushed_heatmaps=pull.pushed_heatmaps,
        notes=pull.notes,
    )


def instance_result(pulled: PulledInstance) -> PacsInstanceResult:
    record = RecordPublic.model_validate(pulled.record) if pulled.record is not None else None
    return PacsInstanceResult(
        sop_uid_hash=pulled.sop_uid_hash,
        outcome=pulled.outcome,
        reason=pulled.reason,
        record=record,
    )
