"""The FastAPI application: `uvicorn --factory api.main:create_app`."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import SecretStr

from api.admission import Admission
from api.audit import AuditMiddleware
from api.batching import DynamicBatcher
from api.consistency import check_storage_consistency
from api.db import create_db_and_tables, create_db_engine, sqlite_file_path
from api.errors import UnexpectedErrorMiddleware, register_error_handlers
from api.interop.listener import ListenerResources, start_dicom_listener
from api.jobs import JobCounts, JobResources, open_job_queue
from api.key_cache import VerifiedKeys
from api.log_privacy import keep_values_out_of_logs
from api.metrics import (
    Metrics,
    MetricsMiddleware,
    TimedClassifier,
    count_classifications_in_progress,
)
from api.ratelimit import KeyRateLimiter
from api.routes import (
    audit,
    classify,
    explain,
    health,
    interop,
    jobs,
    keys,
    me,
    models,
    pacs,
    records,
    reviews,
    similar,
    stats,
)
from api.security import bootstrap_admin_key
from api.services.similar import build_similar_index
from api.settings import Settings, get_settings
from api.storage import open_blob_store
from ml.inference import Classifier
from ml.pixels import DecodeMemory, use_decode_memory

API_VERSION = "0.1.0"
# Worker threads kept for requests that do not classify (lists, reviews) under full load.
THREADS_FOR_OTHER_WORK = 16
DESCRIPTION = (
    "Reads brain-MRI slices tumour first: whether a tumour is suspected (`finding`, with the "
    "probability that any tumour is present), then its class: glioma, "
    "meningioma, pituitary tumour, other tumour or no tumour. Refuses images that are not "
    "brain MRI: every upload is stored with what a recogniser says it is (modality and "
    "body part), and anything else gets no tumour answer. Every result is kept with its "
    "image.\n\n"
    "**For research use only. Not a medical device; not for diagnosis.**"
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    _create_data_dirs(settings)
    worker_threads = _make_room_for_waiting_requests(settings)
    engine = create_db_engine(
        settings.database_url,
        worker_threads,
        connections_per_request=3 if settings.image_store == "database" else 2,
    )
    create_db_and_tables(engine)
    bootstrap_admin_key(engine, _secret_or_none(settings.bootstrap_admin_key))
    app.state.engine = engine
    # Files under MEDIMG_STORAGE_DIR or rows of the database (MEDIMG_IMAGE_STORE).
    app.state.blob_store = open_blob_store(settings, engine)
    # Every decode in this process, uploads and stored images alike, counts against it.
    use_decode_memory(DecodeMemory(settings.max_decode_bytes, settings.decode_memory_bytes))
    # Reports (and tidies) what a crash may have left between the images and the records.
    check_storage_consistency(engine, app.state.blob_store)
    # Loaded once: a SavedModel takes seconds to load and is safe to share between threads.
    classifier = TimedClassifier(Classifier.load(settings.model_dir), app.state.metrics)
    # Every stored embedding of these weights, read now rather than by the first search.
    app.state.similar_index = build_similar_index(engine, classifier.same_weights)
    # Requests reach the model only through the batcher: one worker thread, one model call
    # at a time for every image waiting, a bounded queue (503 beyond it).
    batcher = DynamicBatcher(
        classifier,
        max_batch_size=settings.inference_max_batch_size,
        max_wait_ms=settings.inference_max_wait_ms,
        max_queue=settings.inference_queue_size,
        more_expected=lambda: app.state.admission.in_progress > 1,
    )
    app.state.classifier = batcher
    # The DICOM listener (MEDIMG_DICOM_ENABLED) shares the model, database and blob store;
    # why it lives in this process: api/interop/listener.py.
    dicom_listener = start_dicom_listener(
        settings, ListenerResources(engine, app.state.blob_store, batcher, app.state.metrics)
    )
    # Study work (PACS pulls): Redis and `python -m api.worker` processes with MEDIMG_REDIS_URL,
    # otherwise a background thread of this process on its model, database and images.
    app.state.jobs = open_job_queue(
        settings, JobResources(settings, engine, app.state.blob_store, batcher)
    )
    freeze_startup_objects()
    try:
        yield
    finally:
        gc.unfreeze()  # what the service held may now be collected
        if dicom_listener is not None:
            dicom_listener.stop()  # before the model it sends instances to
        app.state.jobs.close()  # a job in progress finishes before the model closes
        use_decode_memory(None)
        batcher.close()
        engine.dispose()


def freeze_startup_objects() -> None:
    """Python's full collections walk every object the process holds. With TensorFlow and
    the model loaded, each one stopped every request for 170-190 ms; with 32 clients there
    were seven in 30 s, and freezing took the 99th percentile from 368-392 to 266-271 ms
    (three alternating pairs). What exists once the service is ready lives as long as the
    service, so it is moved out of the collector's sight; later garbage is collected."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    keep_values_out_of_logs()
    app = FastAPI(
        title="medimg – brain-MRI tumour classification (research use, not diagnosis)",
        description=DESCRIPTION,
        version=API_VERSION,
        lifespan=lifespan,
        dependencies=[Depends(count_classifications_in_progress)],
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.metrics.registry.register(JobCounts(lambda: getattr(app.state, "jobs", None)))
    app.state.admission = Admission(
        settings.max_classifications_in_progress, settings.max_uploads_per_caller
    )
    app.state.rate_limiter = KeyRateLimiter(settings.rate_limit_per_minute)
    app.state.verified_keys = VerifiedKeys(settings.api_key_cache_seconds)
    # Innermost: an unexpected error becomes a 500 answer before the others see it.
    app.add_middleware(UnexpectedErrorMiddleware)
    # Inside CORS: preflights are answered before routing and are not audited.
    app.add_middleware(AuditMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
    )
    # Outermost: counts every answer, CORS refusals and unexpected errors included.
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    register_error_handlers(app)
    app.include_router(health.router)
    app.include_router(classify.router)
    app.include_router(records.router)
    app.include_router(explain.router)
    app.include_router(similar.router)
    app.include_router(reviews.router)
    app.include_router(models.router)
    app.include_router(me.router)
    app.include_router(keys.router)
    app.include_router(audit.router)
    app.include_router(stats.router)
    app.include_router(interop.router)
    app.include_router(pacs.router)
    app.include_router(jobs.router)
    return app


def _make_room_for_waiting_requests(settings: Settings) -> int:
    """Each classification in progress holds a worker thread, also while it waits for the
    model: with enough threads the admission bound (503 past it) is the limit, not the pool."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    needed = settings.max_classifications_in_progress + THREADS_FOR_OTHER_WORK
    limiter.total_tokens = max(limiter.total_tokens, needed)
    return int(limiter.total_tokens)


def _secret_or_none(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def _create_data_dirs(settings: Settings) -> None:
    if settings.image_store == "disk":
        settings.storage_dir.mkdir(parents=True, exist_ok=True)
    database_file = sqlite_file_path(settings.database_url)
    if database_file is not None:
        database_file.parent.mkdir(parents=True, exist_ok=True)
