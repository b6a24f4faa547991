"""Database engine and sessions (SQLite for one machine, PostgreSQL for a shared server)."""

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlmodel import Session, SQLModel, create_engine

import api.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from api.sqlite_writes import SerialWriteConnection

logger = logging.getLogger(__name__)

# Inside the package, so an installed API (the container) migrates without the repository.
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The first revision: the schema `create_all` made before there were migrations.
BASELINE_REVISION = "d0564f669354"
# Any fixed number: it names the PostgreSQL lock that lets one process migrate at a time.
MIGRATION_LOCK_ID = 0x6D6564696D67  # "medimg"


# Connections kept open; more are opened up to the request-dependent maximum, then closed.
POOL_SIZE = 10


def create_db_engine(
    database_url: str, max_concurrent_requests: int = 16, connections_per_request: int = 2
) -> Engine:
    """An engine whose pool cannot run dry while requests are in flight.

    A request can hold two connections at once (its own session and the audit write), three
    when images are kept in the database (one is read while the session holds its record), so
    a pool smaller than that many per worker thread could leave every thread waiting for a
    connection held by another waiting thread. PostgreSQL's `max_connections` must allow this
    maximum for each replica.
    """
    url = _with_psycopg_driver(make_url(database_url))
    max_overflow = max(connections_per_request * max_concurrent_requests - POOL_SIZE, 0)
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, max_overflow)
    # pre_ping: a server restart must not turn the next request into a 500.
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=max_overflow)


def sqlite_file_path(database_url: str) -> Path | None:
    """The file a SQLite URL points to, so its directory can be created; None otherwise."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def create_db_and_tables(engine: Engine) -> None:
    """Upgrade the database to the latest migration: creates an empty one, leaves a current one.

    One transaction, so on PostgreSQL a failed migration leaves the schema as it was.
    """
    with engine.begin() as connection:
        _wait_for_other_migrations(connection)
        config = migrations_config(connection)
        if _predates_migrations(connection):
            _adopt_as_baseline(config)
        command.upgrade(config, "head")


def migrations_config(connection: Connection | None = None) -> Config:
    """The packaged Alembic configuration; with a connection, env.py migrates through it."""
    config = Config()
    # configparser would read a "%" in the path as the start of an interpolation.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None when it has never been migrated."""
    return MigrationContext.configure(connection).get_current_revision()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, on the engine the lifespan created.

    `async`, not a plain generator that FastAPI would enter and leave on the thread pool:
    opening a session touches no connection, and neither does closing one that holds none
    (classification hands its connection back early), so both are done on the event loop,
    saving two thread hops per request. A session still in a transaction is closed on the
    thread pool, where its rollback may wait for the database.
    """
    session = Session(request.app.state.engine)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


def _wait_for_other_migrations(connection: Connection) -> None:
    # Several API workers start at once against one PostgreSQL server; without the lock each
    # would try to create the same tables and all but one would fail to start. The lock is
    # released when the transaction ends.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})


def _predates_migrations(connection: Connection) -> bool:
    """Tables of ours but no Alembic version: made by `create_all` before migrations."""
    existing = set(inspect(connection).get_table_names())
    return "alembic_version" not in existing and bool(existing & set(SQLModel.metadata.tables))


def _adopt_as_baseline(config: Config) -> None:
    # Creating those tables again would fail; recording the revision they already match lets
    # the upgrade apply only what came after it.
    logger.warning(
        "The database has tables but no migration history; marking it as revision %s.",
        BASELINE_REVISION,
    )
    command.stamp(config, BASELINE_REVISION)


def _with_psycopg_driver(url: URL) -> URL:
    # A bare postgresql:// would pick psycopg2, which is not a dependency; psycopg 3 is.
    if url.drivername in ("postgres", "postgresql"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _create_sqlite_engine(url: URL, max_overflow: int) -> Engine:
    # FastAPI runs sync routes and dependencies on a thread pool, so one connection can be
    # used from several threads (never at the same time).
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "factory": SerialWriteConnection},
        **_pool_arguments(url, max_overflow),
    )
    event.listen(engine, "connect", _set_sqlite_durability_pragmas)
    return engine


def _pool_arguments(url: URL, max_overflow: int) -> dict:
    # An in-memory database lives in its one connection (a static pool): no pool to size.
    if url.database in (None, "", ":memory:"):
        return {}
    return {"pool_size": POOL_SIZE, "max_overflow": max_overflow}


def _set_sqlite_durability_pragmas(dbapi_connection, _connection_record) -> None:
    # WAL lets readers (GET /records) proceed while a classification is being written;
    # synchronous=FULL makes a committed record survive a power cut, as the blob does.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()
