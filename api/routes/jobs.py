"""GET /jobs/{id}: the state of work done outside its request (a PACS study pull)."""

from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field

from api.deps import ActorDep, JobQueueDep, get_actor
from api.errors import problem_responses
from api.jobs import JobInfo, JobQueue, JobQueueUnavailableError, JobStatus
from api.models import Role
from api.security import Actor

router = APIRouter(
    tags=["jobs"], dependencies=[Depends(get_actor)], responses=problem_responses(401, 403)
)

JobId = Annotated[
    str,
    Path(
        pattern=r"^[0-9a-f]{32}$",
        description="The job's id, as its `Location` header named it.",
        examples=["3f2c9a1e5b7d4c0e8a6f1b2d3c4e5f60"],
    ),
]
JOB_EXAMPLE = {
    "id": "3f2c9a1e5b7d4c0e8a6f1b2d3c4e5f60",
    "kind": "pacs_study_pull",
    "status": "finished",
    "enqueued_at": "2026-12-08T00:30:00Z",
    "started_at": "2026-12-08T00:30:01Z",
    "ended_at": "2026-12-08T00:30:09Z",
    "result": {
        "study_uid_hash": "9c1f…",
        "source_system": "pacs",
        "created": 2,
        "existing": 0,
        "skipped": 1,
        "record_ids": [41, 42],
        "pushed_reports": 0,
        "pushed_heatmaps": 0,
        "notes": [],
    },
    "error": None,
    "error_status": None,
}


class JobPublic(BaseModel):
    model_config = {"json_schema_extra": {"examples": [JOB_EXAMPLE]}}

    id: str = Field(description="The job's id: GET /jobs/{id}.")
    kind: Literal["pacs_study_pull"] = Field(description="What the job does.")
    status: JobStatus = Field(
        description=(
            "`queued` (waiting, or queued again after its worker died), `started`, "
            "`finished` (see `result`) or `failed` (see `error`)."
        )
    )
    enqueued_at: datetime | None = Field(description="When it was queued (UTC).")
    started_at: datetime | None = Field(description="When a worker started it.")
    ended_at: datetime | None = Field(description="When it finished or failed.")
    result: dict | None = Field(
        description=(
            "For a finished study pull: `study_uid_hash`, `source_system`, the number of "
            "instances `created`, `existing` and `skipped`, `record_ids`, `pushed_reports`, "
            "`pushed_heatmaps` and `notes`, as POST /pacs/studies/{uid}/classify reports them."
        )
    )
    error: str | None = Field(description="Why it failed; nothing of a failed pull is kept.")
    error_status: int | None = Field(
        description="The HTTP status the synchronous route would have answered (e.g. 502)."
    )


def job_public(job: JobInfo) -> JobPublic:
    return JobPublic.model_validate(job, from_attributes=True)


def queue_unavailable(error: JobQueueUnavailableError) -> HTTPException:
    return HTTPException(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "The job queue (Redis) does not answer; retry in a few seconds.",
        headers={"Retry-After": "5"},
    )


@router.get(
    "/jobs/{job_id}",
    response_model=JobPublic,
    summary="A job's state: queued, started, finished (with its result) or failed (why)",
    description=(
        "Jobs are made by POST /pacs/studies/{uid}/jobs, whose `Location` header names this. "
        "A finished or failed job is kept for `MEDIMG_JOB_KEEP_SECONDS`. An integration key "
        "sees only the jobs it made."
    ),
    responses=problem_responses(404, 422, 503),
)
def read_job(job_id: JobId, jobs: JobQueueDep, actor: ActorDep) -> JobPublic:
    return job_public(visible_job_or_404(jobs, actor, job_id))


def visible_job_or_404(jobs: JobQueue, actor: Actor, job_id: str) -> JobInfo:
    try:
        job = jobs.get(job_id)
    except JobQueueUnavailableError as error:
        raise queue_unavailable(error) from error
    if job is None or (actor.role == Role.INTEGRATION and job.created_by_key_id != actor.key_id):
        # The same answer for another key's job: its existence is not revealed.
        raise HTTPException(HTTPStatus.NOT_FOUND, f"Job {job_id} does not exist (any more).")
    return job
