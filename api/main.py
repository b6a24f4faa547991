"""The FastAPI application: `uvicorn --factory api.main:create_app`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.db import create_db_and_tables, create_db_engine, sqlite_file_path
from api.errors import register_error_handlers
from api.routes import classify, health, records
from api.settings import Settings, get_settings
from api.storage import BlobStore
from ml.inference import Classifier

API_VERSION = "0.1.0"
DESCRIPTION = (
    "Classifies brain-MRI slices into glioma, meningioma, pituitary tumour or no tumour, "
    "and keeps every result with its image.\n\n"
    "**For research use only. Not a medical device; not for diagnosis.**"
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    _create_data_dirs(settings)
    engine = create_db_engine(settings.database_url)
    create_db_and_tables(engine)
    app.state.engine = engine
    app.state.blob_store = BlobStore(settings.storage_dir)
    # Loaded once: a SavedModel takes seconds to load and is safe to share between threads.
    app.state.classifier = Classifier.load(settings.model_dir)
    try:
        yield
    finally:
        engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="medimg – brain-MRI tumour classification (research use, not diagnosis)",
        description=DESCRIPTION,
        version=API_VERSION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type"],
    )
    register_error_handlers(app)
    app.include_router(health.router)
    app.include_router(classify.router)
    app.include_router(records.router)
    return app


def _create_data_dirs(settings: Settings) -> None:
    settings.storage_dir.mkdir(parents=True, exist_ok=True)
    database_file = sqlite_file_path(settings.database_url)
    if database_file is not None:
        database_file.parent.mkdir(parents=True, exist_ok=True)
