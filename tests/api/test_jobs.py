"""The job queue without a PACS or a worker: the background-thread engine's failures, a
Redis that does not answer, and a worker started without Redis."""

import socket
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

import api.jobs
from api.jobs import JobResources, JobStatus, ThreadJobQueue
from api.settings import Settings
from api.worker import EXIT_NO_REDIS, main
from tests.interop.test_pacs import assert_problem

SECRET_IN_A_TRACEBACK = "1.2.840.99999.secret-study-uid"


def raises_unexpectedly(resources: JobResources, arguments: dict, key_id: int | None) -> dict:
    raise RuntimeError(f"could not read {SECRET_IN_A_TRACEBACK}")


def answers_its_arguments(resources: JobResources, arguments: dict, key_id: int | None) -> dict:
    return {"arguments": arguments, "key_id": key_id}


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ended(queue: ThreadJobQueue, job_id: str) -> api.jobs.JobInfo:
    deadline = time.monotonic() + 10
    while (job := queue.get(job_id)).status not in (JobStatus.FINISHED, JobStatus.FAILED):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return job


def test_an_unexpected_error_fails_the_job_without_its_message_or_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(api.jobs.JOB_KINDS, "boom", f"{__name__}:raises_unexpectedly")
    queue = ThreadJobQueue(resources=None, keep=timedelta(days=1))  # type: ignore[arg-type]

    job = ended(queue, queue.enqueue("boom", {}, key_id=7))
    queue.close()

    assert job.status == JobStatus.FAILED
    assert job.error == api.jobs.UNEXPECTED_FAILURE
    assert SECRET_IN_A_TRACEBACK not in job.error
    assert (job.error_status, job.created_by_key_id, job.result) == (500, 7, None)


def test_a_job_gets_its_arguments_as_json_and_its_result_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(api.jobs.JOB_KINDS, "echo", f"{__name__}:answers_its_arguments")
    queue = ThreadJobQueue(resources=None, keep=timedelta(days=1))  # type: ignore[arg-type]

    job = ended(queue, queue.enqueue("echo", {"push": True, "ids": (1, 2)}, key_id=3))
    queue.close()

    assert job.status == JobStatus.FINISHED
    assert job.result == {"arguments": {"push": True, "ids": [1, 2]}, "key_id": 3}
    assert job.enqueued_at <= job.started_at <= job.ended_at
    assert queue.counts()["echo", JobStatus.FINISHED] == 1


def test_a_job_of_an_unknown_kind_is_refused_before_it_is_queued() -> None:
    queue = ThreadJobQueue(resources=None, keep=timedelta(days=1))  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="unknown job kind"):
        queue.enqueue("format_the_disk", {}, key_id=None)
    queue.close()


def test_with_redis_down_jobs_answer_503_with_retry_after_and_metrics_still_answer(
    make_client: Callable[..., TestClient], closed_port: int
) -> None:
    client = make_client(
        redis_url=f"redis://127.0.0.1:{closed_port}/0", pacs_url="http://127.0.0.1:1/dicom-web"
    )

    queued = client.post("/pacs/studies/1.2.3/jobs")
    read = client.get(f"/jobs/{'0' * 32}")
    metrics = client.get("/metrics")

    for response in (queued, read):
        assert_problem(response, 503, "Redis")
        assert response.headers["retry-after"] == "5"
    assert metrics.status_code == 200
    assert "medimg_http_requests_total" in metrics.text
    assert "medimg_jobs" not in metrics.text


def test_a_worker_without_redis_refuses_to_start_naming_the_setting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([], Settings(_env_file=None)) == EXIT_NO_REDIS
    assert "MEDIMG_REDIS_URL is not set" in capsys.readouterr().err
