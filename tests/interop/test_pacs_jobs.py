"""POST /pacs/studies/{uid}/jobs and GET /jobs/{id} without Redis: the job runs in a
background thread of the API process (`make run`), against a real Orthanc on loopback."""

import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.models import Role
from tests.conftest import bearer
from tests.interop.conftest import Pacs, mr_study
from tests.interop.test_pacs import SOURCE, assert_problem, record_count, uid_hash

JOB_ID = r"[0-9a-f]{32}"
ENDED = ("finished", "failed")


def queue_study(client: TestClient, study_uid: str, push: bool = False, **headers: str):
    return client.post(f"/pacs/studies/{study_uid}/jobs", params={"push": push}, headers=headers)


def job_when_ended(client: TestClient, location: str, timeout_s: float = 60, **headers) -> dict:
    """The job at `location`, read until it has finished or failed."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(location, headers=headers)
        assert response.status_code == 200, response.text
        job = response.json()
        if job["status"] in ENDED:
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after {timeout_s} s"
        time.sleep(0.1)


def test_queueing_a_study_pull_answers_202_with_the_job_and_where_to_read_it(
    pacs_client: TestClient, pacs: Pacs
) -> None:
    study = mr_study(slices=1)
    pacs.upload(study)

    response = queue_study(pacs_client, study[0].StudyInstanceUID)

    assert response.status_code == 202, response.text
    job = response.json()
    assert job["kind"] == "pacs_study_pull"
    assert job["status"] in ("queued", "started", "finished")
    assert response.headers["location"] == f"/jobs/{job['id']}"
    assert job["enqueued_at"] is not None


def test_a_study_pull_job_finishes_with_one_record_per_mr_image_and_its_timestamps(
    pacs_client: TestClient, pacs: Pacs, engine: Engine
) -> None:
    study = mr_study(slices=3)
    pacs.upload(study)

    queued = queue_study(pacs_client, study[0].StudyInstanceUID)
    job = job_when_ended(pacs_client, queued.headers["location"])

    assert job["status"] == "finished", job
    assert job["enqueued_at"] <= job["started_at"] <= job["ended_at"]
    result = job["result"]
    assert result["study_uid_hash"] == uid_hash(study[0].StudyInstanceUID)
    assert (result["created"], result["existing"], result["skipped"]) == (3, 0, 0)
    assert record_count(engine) == 3
    for record_id in result["record_ids"]:
        record = pacs_client.get(f"/records/{record_id}").json()
        assert record["source_system"] == SOURCE
    assert job["error"] is None


def test_a_study_pull_job_run_again_finds_every_instance_and_creates_nothing(
    pacs_client: TestClient, pacs: Pacs, engine: Engine
) -> None:
    study = mr_study(slices=2)
    pacs.upload(study)
    first = job_when_ended(
        pacs_client, queue_study(pacs_client, study[0].StudyInstanceUID).headers["location"]
    )

    again = job_when_ended(
        pacs_client, queue_study(pacs_client, study[0].StudyInstanceUID).headers["location"]
    )

    assert again["status"] == "finished", again
    assert (again["result"]["created"], again["result"]["existing"]) == (0, 2)
    assert sorted(again["result"]["record_ids"]) == sorted(first["result"]["record_ids"])
    assert record_count(engine) == 2


def test_a_job_for_a_study_the_pacs_does_not_have_fails_saying_why_and_keeps_nothing(
    pacs_client: TestClient, pacs: Pacs, engine: Engine
) -> None:
    queued = queue_study(pacs_client, "1.2.826.0.1.3680043.8.498.999")

    job = job_when_ended(pacs_client, queued.headers["location"])

    assert job["status"] == "failed"
    assert job["error_status"] == 404
    assert "The PACS has no study" in job["error"]
    assert job["result"] is None and job["ended_at"] is not None
    assert record_count(engine) == 0


def test_without_a_configured_pacs_no_job_is_queued_and_the_answer_is_409(
    client: TestClient,
) -> None:
    response = queue_study(client, "1.2.3")

    assert_problem(response, 409, "MEDIMG_PACS_URL")


def test_a_job_that_does_not_exist_gets_a_404_problem(client: TestClient) -> None:
    response = client.get(f"/jobs/{'ab' * 16}")

    assert_problem(response, 404, "does not exist")


def test_a_malformed_job_id_gets_422(client: TestClient) -> None:
    assert client.get("/jobs/not-a-job").status_code == 422


def test_an_integration_key_gets_404_for_another_keys_job_and_reads_its_own(
    pacs_client: TestClient, pacs: Pacs, make_api_key: Callable[..., str]
) -> None:
    study = mr_study(slices=1)
    pacs.upload(study)
    own_key = bearer(make_api_key(Role.INTEGRATION, "pacs-a"))
    other_key = bearer(make_api_key(Role.INTEGRATION, "pacs-b"))
    queued = queue_study(pacs_client, study[0].StudyInstanceUID, Authorization=own_key)
    location = queued.headers["location"]

    job = job_when_ended(pacs_client, location, Authorization=own_key)
    by_other = pacs_client.get(location, headers={"Authorization": other_key})

    assert job["status"] == "finished", job
    assert_problem(by_other, 404, "does not exist")
    assert pacs_client.get(location).status_code == 200  # the admin's


def test_metrics_count_jobs_by_kind_and_state(pacs_client: TestClient, pacs: Pacs) -> None:
    study = mr_study(slices=1)
    pacs.upload(study)
    job_when_ended(
        pacs_client, queue_study(pacs_client, study[0].StudyInstanceUID).headers["location"]
    )
    job_when_ended(pacs_client, queue_study(pacs_client, "1.2.3.4").headers["location"])

    metrics = pacs_client.get("/metrics").text

    assert 'medimg_jobs{kind="pacs_study_pull",state="finished"} 1.0' in metrics
    assert 'medimg_jobs{kind="pacs_study_pull",state="failed"} 1.0' in metrics
    assert 'medimg_jobs{kind="pacs_study_pull",state="queued"} 0.0' in metrics
