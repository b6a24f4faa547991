"""The real server on loopback, with SQLite and with PostgreSQL, for every reliability test."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from medimg_testing.server import (
    ForkServer,
    LiveServer,
    drop_postgres_schema,
    isolated_postgres_url,
)

# The API tests' tiny model, whose recogniser reads every image as brain MRI: the served
# answers (classes to confirm, labels to filter on) are then those of a brain MRI.
from tests.api.conftest import tiny_model_dir as tiny_model_dir
from tests.conftest import _postgres_url_or_skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Selectable with `-m reliability` (or left out with `-m "not reliability"`).
    for item in items:
        if Path(item.path).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.reliability)


CONCURRENT_UPLOADS_ADMITTED = 256


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def make_database_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], str]]:
    """A fresh, empty database per call: a SQLite file, or a PostgreSQL schema of its own."""
    base_url = _postgres_url_or_skip() if backend == "postgres" else None
    schemas: list[str] = []

    def make() -> str:
        if base_url is None:
            return f"sqlite:///{tmp_path_factory.mktemp('db') / 'medimg.db'}"
        url, schema = isolated_postgres_url(base_url)
        schemas.append(schema)
        return url

    yield make
    for schema in schemas:
        drop_postgres_schema(base_url, schema)


@pytest.fixture(scope="session")
def make_server(
    make_database_url: Callable[[], str],
    tiny_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., LiveServer]]:
    """Start a real server; keyword arguments are MEDIMG_* settings (name without prefix).

    With a `forkserver`, the server is forked from it: restarts then skip the imports.
    """
    servers: list[LiveServer] = []

    def make(forkserver: ForkServer | None = None, **settings: object) -> LiveServer:
        server = LiveServer(
            database_url=make_database_url(),
            data_dir=tmp_path_factory.mktemp("server"),
            model_dir=tiny_model_dir,
            settings={f"MEDIMG_{name.upper()}": str(value) for name, value in settings.items()},
            forkserver=forkserver,
        )
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def live_server(make_server: Callable[..., LiveServer]) -> LiveServer:
    """One server per backend, shared by the tests that only add to it.

    Its admission limits let 200 concurrent uploads in, all of one key and one address:
    the concurrency tests check storage and the database under that load; overload (503
    beyond the limits) and the per-caller share are tested apart.
    """
    return make_server(
        max_upload_bytes=4 * 1024 * 1024,
        max_classifications_in_progress=CONCURRENT_UPLOADS_ADMITTED,
        max_uploads_per_caller=CONCURRENT_UPLOADS_ADMITTED,
        inference_queue_size=CONCURRENT_UPLOADS_ADMITTED,
    )


@pytest.fixture(scope="session")
def forkserver() -> Iterator[ForkServer]:
    server = ForkServer()
    yield server
    server.close()
