"""Database engine and sessions (SQLite for one machine, PostgreSQL for a shared server)."""

from collections.abc import Iterator
from pathlib import Path

from fastapi import Request
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import Session, SQLModel, create_engine

import api.models  # noqa: F401  (registers the tables on SQLModel.metadata)


def create_db_engine(database_url: str) -> Engine:
    url = _with_psycopg_driver(make_url(database_url))
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url)
    # pre_ping: a server restart must not turn the next request into a 500.
    return create_engine(url, pool_pre_ping=True)


def sqlite_file_path(database_url: str) -> Path | None:
    """The file a SQLite URL points to, so its directory can be created; None otherwise."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def create_db_and_tables(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, on the engine the lifespan created."""
    with Session(request.app.state.engine) as session:
        yield session


def _with_psycopg_driver(url: URL) -> URL:
    # A bare postgresql:// would pick psycopg2, which is not a dependency; psycopg 3 is.
    if url.drivername in ("postgres", "postgresql"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _create_sqlite_engine(url: URL) -> Engine:
    # FastAPI runs sync routes and dependencies on a thread pool, so one connection can be
    # used from several threads (never at the same time).
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _set_sqlite_durability_pragmas)
    return engine


def _set_sqlite_durability_pragmas(dbapi_connection, _connection_record) -> None:
    # WAL lets readers (GET /records) proceed while a classification is being written;
    # synchronous=FULL makes a committed record survive a power cut, as the blob does.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()
