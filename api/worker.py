"""`python -m api.worker`: does the jobs of the Redis queues (MEDIMG_REDIS_URL, api/jobs.py).

Start as many as the work needs, on any machine that reaches Redis, the database and the
PACS, with the API's settings (MEDIMG_DATABASE_URL, MEDIMG_UID_HASH_SALT, MEDIMG_MODEL_DIR,
MEDIMG_PACS_*). Each loads the model once and does one job at a time in its own process
(RQ's SimpleWorker: no fork per job, which TensorFlow does not survive, and no model load
per job).

A worker proves every quarter of MEDIMG_JOB_ABANDONED_AFTER_SECONDS that it is still doing
its job. When one is killed (kill -9, a lost machine), its job's proof lapses, and the next
worker to tidy the queues (every half of that time) queues it again, up to MEDIMG_JOB_RETRIES
times. A job that fails by itself (a PACS error, a refused instance) is final. SIGTERM (or
Ctrl-C) lets the job in progress finish, then stops.
"""

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from redis import Redis
from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq.worker import WorkerStatus

from api.__main__ import skip_keras_when_tensorflow_loads
from api.background import repeated_while_running
from api.settings import Settings

EXIT_NO_REDIS = 2
# An RQ worker keeps its own registration alive for this much longer than it waits for a job.
RQ_DEQUEUE_MARGIN_S = 15


class MedimgWorker(SimpleWorker):
    """RQ's in-process worker, with a heartbeat while a job runs and a short abandon time."""

    def __init__(self, *args: Any, abandoned_after: int, **kwargs: Any) -> None:
        half = max(1, abandoned_after // 2)
        super().__init__(
            *args,
            worker_ttl=half + RQ_DEQUEUE_MARGIN_S,  # waits `half` for a job, then tidies
            maintenance_interval=half,
            **kwargs,
        )
        self.abandoned_after = abandoned_after

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # How long the job stays "started" without a heartbeat: then it is abandoned.
        return self.abandoned_after

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        with self._heartbeats(job, execution):
            self.perform_job(job, queue, execution)
        self.set_state(WorkerStatus.IDLE)

    def handle_job_failure(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> None:
        # Only a job whose worker died is retried (by the registry's clean-up); one that
        # raised has had its chance: a PACS error or a refused instance will not go away.
        job.retries_left = 0
        super().handle_job_failure(job, queue, *args, **kwargs)

    def _heartbeats(self, job: Job, execution: Execution):
        return repeated_while_running(
            lambda: self.maintain_heartbeats(job, execution),
            max(1.0, self.abandoned_after / 4),
            f"job {job.id}: heartbeat",
        )


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    summary = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m api.worker", description=summary)
    parser.add_argument(
        "--burst", action="store_true", help="stop once the queues are empty (for scripts)"
    )
    args = parser.parse_args(argv)
    settings = settings or Settings()
    if settings.redis_url is None:
        print(
            "medimg worker: MEDIMG_REDIS_URL is not set: without Redis the API does its jobs "
            "itself, in a background thread, and no worker is needed.",
            file=sys.stderr,
        )
        return EXIT_NO_REDIS
    skip_keras_when_tensorflow_loads()
    worker = build_worker(settings)
    worker.work(burst=args.burst, with_scheduler=False, logging_level="INFO")
    return 0


def build_worker(settings: Settings) -> MedimgWorker:
    """A worker on the configured queues, with the model, database and images loaded."""
    # TensorFlow (through api.jobs and ml.inference) only now, after
    # skip_keras_when_tensorflow_loads.
    from api.db import create_db_and_tables, create_db_engine
    from api.jobs import (
        JOB_KINDS,
        JobResources,
        RedisLocks,
        queue_name,
        use_worker_resources,
    )
    from api.log_privacy import keep_values_out_of_logs
    from api.storage import open_blob_store
    from ml.inference import Classifier
    from ml.pixels import DecodeMemory, use_decode_memory

    keep_values_out_of_logs()  # the pulled files' values, as in the API's process
    engine = create_db_engine(settings.database_url)
    create_db_and_tables(engine)  # as the API's start-up does: the latest schema
    blob_store = open_blob_store(settings, engine)
    use_decode_memory(DecodeMemory(settings.max_decode_bytes, settings.decode_memory_bytes))
    if settings.image_store == "disk":
        settings.storage_dir.mkdir(parents=True, exist_ok=True)
    connection = Redis.from_url(settings.redis_url)
    locks = RedisLocks(
        connection,
        settings.job_queue_name,
        ttl_s=settings.job_abandoned_after_seconds,
        wait_s=settings.job_timeout_seconds,
    )
    classifier = Classifier.load(settings.model_dir)
    use_worker_resources(JobResources(settings, engine, blob_store, classifier, locks))
    return MedimgWorker(
        [queue_name(settings, kind) for kind in JOB_KINDS],
        connection=connection,
        serializer=JSONSerializer,
        abandoned_after=settings.job_abandoned_after_seconds,
        # The description is the job's kind; its arguments (a Study Instance UID) are not logged.
        log_job_description=True,
    )


if __name__ == "__main__":
    sys.exit(main())
