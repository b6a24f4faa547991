"""Jobs: work that is not one upload (a PACS study pull), done outside the request that asks.

A job is a kind (`JOB_KINDS`) and JSON arguments; the caller gets an id and reads its state
(`queued`, `started`, `finished`, `failed`) with timestamps, a result summary or an error.
One interface, two engines, chosen by `MEDIMG_REDIS_URL`:

- set: RQ queues in Redis, one per kind (`<MEDIMG_JOB_QUEUE_NAME>:<kind>`), done by
  `python -m api.worker` processes (api/worker.py); the state lives in Redis. A job whose
  worker dies (kill -9) is queued again once its heartbeat lapses;
- unset: one background thread of the API process, the state in its memory (`make run`: one
  process, no Redis). A job is lost if the process stops.

What a kind does is its function (`JOB_KINDS`), called with the process's `JobResources`.
Job functions must be safe to run twice: a killed worker's job runs again from the start.
"""

import importlib
import json
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from http import HTTPStatus
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy.engine import Engine

from api.background import repeated_while_running
from api.settings import Settings
from api.storage import BlobStore
from ml.inference import Classifier

logger = logging.getLogger(__name__)

PACS_STUDY_PULL = "pacs_study_pull"
# Each kind's function, `module:name`, imported when a job of it runs.
JOB_KINDS: dict[str, str] = {
    PACS_STUDY_PULL: "api.interop.pull_job:run_pacs_study_pull",
}
UNEXPECTED_FAILURE = "The job failed unexpectedly; the worker's log says why."
ABANDONED = (
    "The worker doing this job stopped before it finished (killed or crashed), as many times "
    "as MEDIMG_JOB_RETRIES allows; nothing of it was kept."
)


class JobStatus(StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True)
class JobInfo:
    id: str
    kind: str
    status: JobStatus
    created_by_key_id: int | None
    enqueued_at: datetime | None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    result: dict | None = None
    error: str | None = None
    # The HTTP status the same work would have answered synchronously (e.g. 502: PACS error).
    error_status: int | None = None


class JobFailedError(Exception):
    """An expected failure (a PACS error, a refused instance): final, never retried."""

    def __init__(self, detail: str, status: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


class JobQueueUnavailableError(Exception):
    """The queue's engine (Redis) does not answer."""


def one_thread_does_every_job(name: str) -> AbstractContextManager[None]:
    """`JobResources.exclusive` without Redis: the one job thread never overlaps itself."""
    return nullcontext()


@dataclass(frozen=True)
class JobResources:
    """What a job function may use: the process's settings, database, images and model."""

    settings: Settings
    engine: Engine
    blob_store: BlobStore
    classifier: Classifier
    # Holds `name` while the block runs, for every job in every worker: two jobs of one study
    # (a client that sent its POST twice) then run one after the other, and the second finds
    # the first's records instead of making them again.
    exclusive: Callable[[str], AbstractContextManager[None]] = one_thread_does_every_job


JobFunction = Callable[[JobResources, dict, int | None], dict]


def job_function(kind: str) -> JobFunction:
    module, name = JOB_KINDS[kind].split(":")
    return getattr(importlib.import_module(module), name)


class JobQueue(Protocol):
    def enqueue(self, kind: str, arguments: dict, *, key_id: int | None) -> str: ...

    def get(self, job_id: str) -> JobInfo | None: ...

    def counts(self) -> Counter[tuple[str, JobStatus]]: ...

    def close(self) -> None: ...


def open_job_queue(settings: Settings, resources: JobResources) -> JobQueue:
    if settings.redis_url is None:
        return ThreadJobQueue(resources, timedelta(seconds=settings.job_keep_seconds))
    return RedisJobQueue(settings)


def _check_kind(kind: str, arguments: dict) -> dict:
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    # As a Redis job would get them: JSON, nothing else.
    return json.loads(json.dumps(arguments))


def _now() -> datetime:
    return datetime.now(UTC)


class ThreadJobQueue:
    """Jobs in a background thread of this process, one at a time, state in memory."""

    def __init__(self, resources: JobResources, keep: timedelta) -> None:
        self._resources = resources
        self._keep = keep
        self._jobs: dict[str, JobInfo] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medimg-job")

    def enqueue(self, kind: str, arguments: dict, *, key_id: int | None) -> str:
        arguments = _check_kind(kind, arguments)
        job_id = uuid.uuid4().hex
        with self._lock:
            self._forget_old_jobs()
            self._jobs[job_id] = JobInfo(job_id, kind, JobStatus.QUEUED, key_id, _now())
        self._executor.submit(self._run, job_id, kind, arguments, key_id)
        return job_id

    def get(self, job_id: str) -> JobInfo | None:
        with self._lock:
            return self._jobs.get(job_id)

    def counts(self) -> Counter[tuple[str, JobStatus]]:
        with self._lock:
            return Counter((job.kind, job.status) for job in self._jobs.values())

    def close(self) -> None:
        # The job in progress finishes (it uses the model, closed after this); queued ones go.
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _run(self, job_id: str, kind: str, arguments: dict, key_id: int | None) -> None:
        self._update(job_id, status=JobStatus.STARTED, started_at=_now())
        try:
            result = job_function(kind)(self._resources, arguments, key_id)
        except JobFailedError as failure:
            self._update(
                job_id,
                status=JobStatus.FAILED,
                ended_at=_now(),
                error=failure.detail,
                error_status=failure.status,
            )
        except Exception:
            logger.exception("job %s (%s) failed", job_id, kind)
            self._update(
                job_id,
                status=JobStatus.FAILED,
                ended_at=_now(),
                error=UNEXPECTED_FAILURE,
                error_status=HTTPStatus.INTERNAL_SERVER_ERROR,
            )
        else:
            self._update(job_id, status=JobStatus.FINISHED, ended_at=_now(), result=result)

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def _forget_old_jobs(self) -> None:
        cutoff = _now() - self._keep
        for job_id, job in list(self._jobs.items()):
            if job.ended_at is not None and job.ended_at < cutoff:
                del self._jobs[job_id]


# The function every Redis job calls; its arguments are the kind's.
PERFORM = "api.jobs.perform"
_worker_resources: JobResources | None = None


def use_worker_resources(resources: JobResources) -> None:
    """Set once by `python -m api.worker`, before it takes its first job."""
    global _worker_resources
    _worker_resources = resources


def perform(kind: str, arguments: dict, key_id: int | None) -> dict:
    """Runs in a worker: the kind's function on the worker's resources. An expected failure
    is kept as the job's error; any other as UNEXPECTED_FAILURE (its traceback stays in the
    worker's log and in Redis, never in the API's answer)."""

    if _worker_resources is None:
        raise RuntimeError("api.jobs.perform runs in `python -m api.worker` only")
    job = get_current_job()
    try:
        return job_function(kind)(_worker_resources, arguments, key_id)
    except JobFailedError as failure:
        job.meta.update(error=failure.detail, error_status=failure.status)
        job.save_meta()
        raise
    except Exception:
        job.meta.update(error=UNEXPECTED_FAILURE, error_status=HTTPStatus.INTERNAL_SERVER_ERROR)
        job.save_meta()
        raise


def queue_name(settings: Settings, kind: str) -> str:
    return f"{settings.job_queue_name}:{kind}"


class RedisLocks:
    """`JobResources.exclusive` for workers: a Redis lock per name, renewed while its block
    runs and lapsing `ttl_s` after a killed worker's last renewal, as its job does."""

    def __init__(self, redis: Redis, prefix: str, ttl_s: int, wait_s: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._wait_s = wait_s

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        # Not thread-local: the renewing thread must see the owner's token.
        lock = self._redis.lock(
            f"{self._prefix}:lock:{name}",
            timeout=self._ttl_s,
            blocking_timeout=self._wait_s,
            thread_local=False,
        )
        if not lock.acquire():
            raise JobFailedError(
                f"Another job held the same work for {self._wait_s} s; queue this one again.",
                HTTPStatus.SERVICE_UNAVAILABLE,
            )
        try:
            with repeated_while_running(
                lock.reacquire, max(0.5, self._ttl_s / 4), f"lock {name}: renewal"
            ):
                yield
        finally:
            try:
                lock.release()
            except Exception:
                logger.warning("lock %s had lapsed before its job ended", name)


class RedisJobQueue:
    """RQ queues in Redis, one per kind; `python -m api.worker` does the jobs."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._redis = Redis.from_url(settings.redis_url, socket_timeout=10)
        self._serializer = JSONSerializer
        self._queues = {
            kind: Queue(
                queue_name(settings, kind), connection=self._redis, serializer=JSONSerializer
            )
            for kind in JOB_KINDS
        }

    def enqueue(self, kind: str, arguments: dict, *, key_id: int | None) -> str:

        arguments = _check_kind(kind, arguments)
        settings = self._settings
        try:
            job = self._queues[kind].enqueue(
                PERFORM,
                args=(kind, arguments, key_id),
                job_id=uuid.uuid4().hex,
                # What a worker logs and lists: never the arguments (a Study Instance UID).
                description=kind,
                meta={"kind": kind, "key_id": key_id},
                job_timeout=settings.job_timeout_seconds,
                result_ttl=settings.job_keep_seconds,
                failure_ttl=settings.job_keep_seconds,
                retry=Retry(max=settings.job_retries) if settings.job_retries else None,
            )
        except RedisError as error:
            raise JobQueueUnavailableError(str(error)) from error
        return job.id

    def get(self, job_id: str) -> JobInfo | None:

        try:
            job = Job.fetch(job_id, connection=self._redis, serializer=self._serializer)
            status = job.get_status()
            result = job.return_value() if status == "finished" else None
        except NoSuchJobError:
            return None
        except RedisError as error:
            raise JobQueueUnavailableError(str(error)) from error
        kind = job.meta.get("kind")
        if job.func_name != PERFORM or kind not in JOB_KINDS:
            return None  # not one of ours (another program's job in the same Redis)
        state = _rq_state(status)
        failed = state == JobStatus.FAILED
        return JobInfo(
            id=job.id,
            kind=kind,
            status=state,
            created_by_key_id=job.meta.get("key_id"),
            enqueued_at=_aware(job.enqueued_at),
            started_at=_aware(job.started_at) if state != JobStatus.QUEUED else None,
            ended_at=_aware(job.ended_at) if state in ENDED else None,
            result=result,
            error=job.meta.get("error", ABANDONED) if failed else None,
            error_status=job.meta.get("error_status", HTTPStatus.SERVICE_UNAVAILABLE)
            if failed
            else None,
        )

    def counts(self) -> Counter[tuple[str, JobStatus]]:

        counts: Counter[tuple[str, JobStatus]] = Counter()
        try:
            for kind, queue in self._queues.items():
                counts[kind, JobStatus.QUEUED] = queue.count
                # Read only: tidying the registries (and re-queueing abandoned jobs) is the
                # workers' part.
                for state, registry in (
                    (JobStatus.STARTED, queue.started_job_registry),
                    (JobStatus.FINISHED, queue.finished_job_registry),
                    (JobStatus.FAILED, queue.failed_job_registry),
                ):
                    counts[kind, state] = registry.get_job_count(cleanup=False)
        except RedisError as error:
            raise JobQueueUnavailableError(str(error)) from error
        return counts

    def close(self) -> None:
        self._redis.close()


ENDED = (JobStatus.FINISHED, JobStatus.FAILED)


def _rq_state(status: str) -> JobStatus:
    if status == "started":
        return JobStatus.STARTED
    if status == "finished":
        return JobStatus.FINISHED
    if status in ("failed", "stopped", "canceled"):
        return JobStatus.FAILED
    return JobStatus.QUEUED  # queued, deferred, scheduled (a retry waiting), created


def _aware(moment: datetime | None) -> datetime | None:
    # RQ keeps naive UTC datetimes.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


class JobCounts(Collector):
    """`medimg_jobs{kind, state}` in /metrics, read from the queue at each scrape."""

    def __init__(self, queue_of: Callable[[], JobQueue | None]) -> None:
        self._queue_of = queue_of  # none before the app's start-up has opened it

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queue = self._queue_of()
        if queue is None:
            return
        try:
            counts = queue.counts()
        except JobQueueUnavailableError as error:
            logger.warning("job counts left out of /metrics: the queue did not answer (%s)", error)
            return
        family = self._family()
        for kind in JOB_KINDS:
            for state in JobStatus:
                family.add_metric([kind, state.value], counts[kind, state])
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "medimg_jobs",
            "Jobs by kind and state (`finished` and `failed`: those still kept, "
            "MEDIMG_JOB_KEEP_SECONDS).",
            labels=["kind", "state"],
        )
