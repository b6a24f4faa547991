"""Study pulls as jobs in a real Redis (MEDIMG_TEST_REDIS_URL), done by real
`python -m api.worker` processes, each in a working directory of its own, against a real
Orthanc: the API only queues, a worker pulls; one killed with SIGKILL mid-job leaves its
job to the next, which stores each instance once."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from redis import Redis
from rq import Queue, Worker
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.jobs import PACS_STUDY_PULL
from api.models import Record
from api.settings import Settings
from tests.interop.conftest import Pacs, forward_get, mr_study
from tests.interop.test_pacs import record_count, uid_hash
from tests.interop.test_pacs_jobs import job_when_ended, queue_study

REPO = Path(__file__).resolve().parents[2]
SOURCE = "orthanc-test"
# A killed worker's job is queued again this long after its last heartbeat.
ABANDONED_AFTER_S = 4
# Each retrieval from the slow PACS takes this long, so a study's pull lasts seconds.
SLOW_PACS_DELAY_S = 0.5
WORKER_START_S = 120  # TensorFlow and the model, on a busy 2-core machine


class _SlowProxy(BaseHTTPRequestHandler):
    """Passes every search and retrieval through to the real PACS, each after a delay."""

    upstream: str = ""

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
        time.sleep(SLOW_PACS_DELAY_S)
        forward_get(self)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def slow_pacs_url(pacs: Pacs) -> Iterator[str]:
    upstream = urlsplit(pacs.dicomweb_url)
    handler = type("Slow", (_SlowProxy,), {"upstream": f"{upstream.scheme}://{upstream.netloc}"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}{upstream.path}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def queue_name() -> str:
    """Queues of this test's own: nothing another test (or CI run) queued reaches them."""
    return f"medimg-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_client(
    make_client: Callable[..., TestClient], redis_url: str, queue_name: str, pacs: Pacs
) -> TestClient:
    """An API that queues its jobs in Redis and does none itself."""
    return make_client(
        redis_url=redis_url,
        job_queue_name=queue_name,
        job_keep_seconds=600,
        pacs_url=pacs.dicomweb_url,
        pacs_username=pacs.username,
        pacs_password=SecretStr(pacs.password),
        pacs_source_system=SOURCE,
    )


@pytest.fixture
def start_worker(
    settings: Settings, redis_url: str, queue_name: str, pacs: Pacs, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts `python -m api.worker` in a directory of its own, with the test app's database,
    images and model; every worker still running is killed at the end."""
    started: list[subprocess.Popen] = []

    def start(pacs_url: str | None = None) -> subprocess.Popen:
        directory = tmp_path / f"worker-{len(started) + 1}"
        directory.mkdir()
        env = {name: value for name, value in os.environ.items() if not name.startswith("MEDIMG_")}
        env.update(
            PYTHONPATH=str(REPO),
            TF_CPP_MIN_LOG_LEVEL="2",
            MEDIMG_DATABASE_URL=settings.database_url,
            MEDIMG_STORAGE_DIR=str(settings.storage_dir.resolve()),
            MEDIMG_MODEL_DIR=str(Path(settings.model_dir).resolve()),
            MEDIMG_REDIS_URL=redis_url,
            MEDIMG_JOB_QUEUE_NAME=queue_name,
            MEDIMG_JOB_ABANDONED_AFTER_SECONDS=str(ABANDONED_AFTER_S),
            MEDIMG_PACS_URL=pacs_url or pacs.dicomweb_url,
            MEDIMG_PACS_USERNAME=pacs.username,
            MEDIMG_PACS_PASSWORD=pacs.password,
            MEDIMG_PACS_SOURCE_SYSTEM=SOURCE,
        )
        log = (directory / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "api.worker"],
            cwd=directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        worker.log_path = directory / "worker.log"  # type: ignore[attr-defined]
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)


def job_status(client: TestClient, location: str) -> str:
    return client.get(location).json()["status"]


def wait_for_status(
    client: TestClient, location: str, status: str, worker: subprocess.Popen
) -> None:
    deadline = time.monotonic() + WORKER_START_S
    while job_status(client, location) != status:
        assert worker.poll() is None, worker.log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, worker.log_path.read_text()[-3000:]
        time.sleep(0.1)


def wait_until_listening(workers: list[subprocess.Popen], redis_url: str, name: str) -> None:
    """Until every worker has loaded its model and registered on the study-pull queue."""
    queue = Queue(f"{name}:{PACS_STUDY_PULL}", connection=Redis.from_url(redis_url))
    deadline = time.monotonic() + WORKER_START_S
    while Worker.count(queue=queue) < len(workers):
        for worker in workers:
            assert worker.poll() is None, worker.log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.2)


def sop_hashes_stored(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(Record.sop_uid_hash).order_by(col(Record.id))).all())


def test_a_job_queued_in_redis_is_done_by_a_worker_process_not_by_the_api(
    redis_client: TestClient, pacs: Pacs, engine: Engine, start_worker: Callable
) -> None:
    study = mr_study(slices=3)
    pacs.upload(study)

    queued = queue_study(redis_client, study[0].StudyInstanceUID)
    time.sleep(1)
    still_queued = job_status(redis_client, queued.headers["location"])
    start_worker()
    job = job_when_ended(redis_client, queued.headers["location"], timeout_s=WORKER_START_S)

    assert queued.status_code == 202, queued.text
    assert still_queued == "queued"
    assert job["status"] == "finished", job
    assert job["result"]["created"] == 3
    assert job["enqueued_at"] <= job["started_at"] <= job["ended_at"]
    assert sorted(sop_hashes_stored(engine)) == sorted(uid_hash(d.SOPInstanceUID) for d in study)
    metrics = redis_client.get("/metrics").text
    assert 'medimg_jobs{kind="pacs_study_pull",state="finished"} 1.0' in metrics


def test_a_job_that_fails_by_itself_fails_once_with_its_reason_and_is_not_retried(
    redis_client: TestClient, pacs: Pacs, engine: Engine, start_worker: Callable
) -> None:
    start_worker()

    queued = queue_study(redis_client, "1.2.826.0.1.3680043.8.498.999")
    job = job_when_ended(redis_client, queued.headers["location"], timeout_s=WORKER_START_S)

    assert job["status"] == "failed"
    assert (job["error_status"], "The PACS has no study" in job["error"]) == (404, True)
    metrics = redis_client.get("/metrics").text
    assert 'medimg_jobs{kind="pacs_study_pull",state="failed"} 1.0' in metrics
    assert 'medimg_jobs{kind="pacs_study_pull",state="queued"} 0.0' in metrics
    assert record_count(engine) == 0


def test_a_job_whose_worker_is_killed_mid_way_is_finished_by_another_storing_each_instance_once(
    redis_client: TestClient,
    pacs: Pacs,
    engine: Engine,
    start_worker: Callable,
    slow_pacs_url: str,
) -> None:
    study = mr_study(slices=6)
    pacs.upload(study)
    first = start_worker(slow_pacs_url)
    location = queue_study(redis_client, study[0].StudyInstanceUID).headers["location"]
    wait_for_status(redis_client, location, "started", first)
    time.sleep(2 * SLOW_PACS_DELAY_S)  # a few instances fetched, none stored yet

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    after_kill = (job_status(redis_client, location), record_count(engine))
    second = start_worker(slow_pacs_url)
    job = job_when_ended(redis_client, location, timeout_s=WORKER_START_S)

    assert after_kill == ("started", 0)
    assert job["status"] == "finished", (job, second.log_path.read_text()[-3000:])
    assert (job["result"]["created"], job["result"]["existing"]) == (6, 0)
    stored = sop_hashes_stored(engine)
    assert sorted(stored) == sorted(uid_hash(dataset.SOPInstanceUID) for dataset in study)
    assert len(set(stored)) == len(stored) == 6


def test_the_same_study_queued_twice_with_two_workers_is_pulled_once_and_found_once(
    redis_client: TestClient,
    pacs: Pacs,
    engine: Engine,
    start_worker: Callable,
    slow_pacs_url: str,
    redis_url: str,
    queue_name: str,
) -> None:
    study = mr_study(slices=3)
    pacs.upload(study)
    workers = [start_worker(slow_pacs_url), start_worker(slow_pacs_url)]
    wait_until_listening(workers, redis_url, queue_name)
    # A client that sent its POST twice: two jobs, one for each worker.
    locations = [
        queue_study(redis_client, study[0].StudyInstanceUID).headers["location"] for _ in workers
    ]

    jobs = [
        job_when_ended(redis_client, location, timeout_s=WORKER_START_S) for location in locations
    ]

    assert [job["status"] for job in jobs] == ["finished", "finished"], jobs
    outcomes = sorted((job["result"]["created"], job["result"]["existing"]) for job in jobs)
    assert outcomes == [(0, 3), (3, 0)]
    assert sorted(jobs[0]["result"]["record_ids"]) == sorted(jobs[1]["result"]["record_ids"])
    stored = sop_hashes_stored(engine)
    assert sorted(stored) == sorted(uid_hash(dataset.SOPInstanceUID) for dataset in study)
