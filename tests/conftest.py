"""Shared fixtures: a tiny exported model, a database per backend, and an API client."""

import gc
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel, select

import api.main
from api.db import (
    create_db_and_tables,
    create_db_engine,
    current_revision,
    get_session,
    migrations_config,
    sqlite_file_path,
)
from api.main import create_app
from api.models import Role, StoredImage
from api.security import create_api_key
from api.settings import Settings
from api.storage import BlobStore, DatabaseBlobStore, DiskBlobStore, open_blob_store
from medimg_testing.tiny_model import export_tiny_model
from ml.inference import Classifier

POSTGRES_URL_ENV = "MEDIMG_TEST_POSTGRES_URL"
REDIS_URL_ENV = "MEDIMG_TEST_REDIS_URL"
TEST_SPA_ORIGIN = "http://spa.test:8080"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Exported once per run: the real export code, an untrained model, fast to load."""
    return export_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session", autouse=True)
def load_each_model_once() -> Iterator[None]:
    """Every test app's lifespan loads its model through the real `Classifier.load`, but each
    model directory is read once per run: a SavedModel takes a second or more to load, which
    hundreds of API tests would otherwise pay each. A loaded model is read-only, so sharing it
    between apps changes nothing they can see; a directory whose files change loads again."""
    load = Classifier.load.__func__
    loaded: dict[tuple, Classifier] = {}

    def load_once(cls, model_dir: Path) -> Classifier:
        key = _directory_state(Path(model_dir))
        if key not in loaded:
            loaded[key] = load(cls, model_dir)
        return loaded[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Classifier, "load", classmethod(load_once))
        yield


@pytest.fixture(autouse=True)
def startup_freezes_without_a_full_collection(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app's start-up collects every object its process holds before freezing them
    (api.main.freeze_startup_objects): once for a server, but here about a thousand test apps
    start in one process that holds TensorFlow, at 0.3-0.7 s each. Test apps only freeze;
    the tests marked `startup_collection` run the real start-up."""
    if request.node.get_closest_marker("startup_collection") is None:
        monkeypatch.setattr(api.main, "freeze_startup_objects", gc.freeze)


def _directory_state(model_dir: Path) -> tuple:
    files = sorted(model_dir.iterdir()) if model_dir.is_dir() else []
    stats = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.is_file())
    return (model_dir.resolve(), stats)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'medimg.db'}"
    return _postgres_url_or_skip()


def _postgres_url_or_skip() -> str:
    url = os.environ.get(POSTGRES_URL_ENV)
    if url:
        return url
    message = f"set {POSTGRES_URL_ENV} (postgresql+psycopg://…) to run the PostgreSQL tests"
    # CI must run every backend: a silent skip there would hide a broken database layer.
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once: each test starts from a copy of it, which is
    what a migration per test would leave, without its 0.1 s."""
    path = tmp_path_factory.mktemp("migrated") / "medimg.db"
    engine = create_db_engine(f"sqlite:///{path}")
    create_db_and_tables(engine)
    engine.dispose()
    return path


@pytest.fixture
def engine(database_url: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An empty database migrated to head, as the app's start-up leaves it."""
    sqlite_path = sqlite_file_path(database_url)
    if sqlite_path is not None and not sqlite_path.exists():
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), sqlite_path)
    engine = create_db_engine(database_url)
    empty_at_head(engine)
    yield engine
    # A shared PostgreSQL server keeps data between tests: leave it empty for the next.
    if sqlite_path is None:
        empty_at_head(engine)
    engine.dispose()


def empty_at_head(engine: Engine) -> None:
    """Every table of the latest schema, and no rows: emptied in place when the database is
    already at head with all its tables (fast), otherwise dropped and migrated from nothing."""
    with engine.begin() as connection:
        if _at_head(connection):
            _delete_every_row(connection)
            return
    drop_schema(engine)
    create_db_and_tables(engine)


def _at_head(connection: Connection) -> bool:
    present = set(inspect(connection).get_table_names())
    expected = {table.name for table in SQLModel.metadata.sorted_tables}
    return current_revision(connection) == head_revision() and expected <= present


def _delete_every_row(connection: Connection) -> None:
    tables = SQLModel.metadata.sorted_tables
    if connection.dialect.name == "postgresql":
        # One statement, and identities restart, as in a freshly migrated database.
        quote = connection.dialect.identifier_preparer.quote
        names = ", ".join(quote(table.name) for table in tables)
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return
    for table in reversed(tables):
        connection.execute(table.delete())


@lru_cache
def head_revision() -> str:
    return ScriptDirectory.from_config(migrations_config()).get_current_head()


def drop_schema(engine: Engine) -> None:
    """Drop the models' tables and Alembic's, so the next migration starts from nothing."""
    SQLModel.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def blob_store(settings: Settings, engine: Engine) -> BlobStore:
    """The image store of the test apps: on disk with SQLite, in the database with PostgreSQL
    (the default of `MEDIMG_IMAGE_STORE`)."""
    return open_blob_store(settings, engine)


@dataclass(frozen=True)
class StoredRow:
    """An image of the database store, answering what the tests ask of a stored file."""

    store: DatabaseBlobStore
    name: str

    def read_bytes(self) -> bytes:
        return self.store.read(self.name)

    def unlink(self) -> None:
        self.store.delete(self.name)


@pytest.fixture
def stored_blobs(blob_store: BlobStore) -> Callable[[], list[Path] | list[StoredRow]]:
    """Every image in the test apps' store; on disk, a leftover temporary file counts, as it
    should."""

    def list_blobs() -> list[Path] | list[StoredRow]:
        if isinstance(blob_store, DiskBlobStore):
            return [path for path in blob_store.root.rglob("*") if path.is_file()]
        assert isinstance(blob_store, DatabaseBlobStore)
        with Session(blob_store.engine) as session:
            names = session.exec(select(StoredImage.sha256).order_by(StoredImage.sha256)).all()
        return [StoredRow(blob_store, name) for name in names]

    return list_blobs


@pytest.fixture
def spa_origin() -> str:
    """The one browser origin the test app allows."""
    return TEST_SPA_ORIGIN


@pytest.fixture
def settings(
    database_url: str, storage_dir: Path, tiny_model_dir: Path, spa_origin: str
) -> Settings:
    return Settings(
        _env_file=None,  # a developer's .env must not change what the tests see
        database_url=database_url,
        storage_dir=storage_dir,
        model_dir=tiny_model_dir,
        cors_origins=[spa_origin],
    )


@pytest.fixture
def make_client(
    settings: Settings, engine: Engine, make_api_key: Callable[..., str]
) -> Iterator[Callable[..., TestClient]]:
    """Build a started client; keyword arguments replace settings fields for that app."""
    with ExitStack() as clients:

        def make(*, raise_server_exceptions: bool = True, **overrides) -> TestClient:
            app = create_app(settings.model_copy(update=overrides))
            app.dependency_overrides[get_session] = _sessions_on(engine)
            # Entering the client runs the lifespan, which loads the model.
            client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
            clients.enter_context(client)
            # Every route but the health checks needs a key; an admin's may call them all.
            client.headers["Authorization"] = bearer(make_api_key(Role.ADMIN, "test-admin"))
            return client

        yield make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def make_api_key(engine: Engine) -> Callable[..., str]:
    """Store a new API key with `role` in the test database; returns the key itself."""

    def make(role: Role, name: str | None = None) -> str:
        with Session(engine) as session:
            return create_api_key(session, name or f"test-{role}", role).key

    return make


def bearer(key: str) -> str:
    return f"Bearer {key}"


def _sessions_on(engine: Engine) -> Callable[[], Iterator[Session]]:
    def get_session_override() -> Iterator[Session]:
        with Session(engine) as session:
            yield session

    return get_session_override


def skip_or_fail(reason: str) -> None:
    """Skip locally; under CI a missing prerequisite must fail, not pass silently."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis for the job queue (MEDIMG_TEST_REDIS_URL, e.g. what
    `scripts/redis-test-server.sh start` prints); CI sets it, so a missing one fails there."""
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        skip_or_fail(
            f"set {REDIS_URL_ENV} (redis://…, e.g. `scripts/redis-test-server.sh start`) to run "
            "the job-queue tests"
        )
    return url


@pytest.fixture(scope="session")
def dataset_dir() -> Path:
    """The shared datasets (MEDIMG_DATA_DIR); CI sets it, so a missing one fails there."""
    value = os.environ.get("MEDIMG_DATA_DIR")
    if not value:
        skip_or_fail("set MEDIMG_DATA_DIR to the shared datasets folder (../shared/datasets)")
    path = Path(value)
    if not (path / "brain-tumor-mri-sartaj").is_dir():
        skip_or_fail(f"MEDIMG_DATA_DIR={value} holds no brain-tumor-mri-sartaj folder")
    return path


class SessionWhoseCommitFails(Session):
    def commit(self) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error at /var/secret.db"))


@pytest.fixture
def client_whose_commits_fail(make_client: Callable[..., TestClient], engine: Engine) -> TestClient:
    """A client whose routes' sessions fail to commit, answering 500 instead of raising."""
    client = make_client(raise_server_exceptions=False)

    def failing_sessions() -> Iterator[Session]:
        with SessionWhoseCommitFails(engine) as session:
            yield session

    client.app.dependency_overrides[get_session] = failing_sessions
    return client
