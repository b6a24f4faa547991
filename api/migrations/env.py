"""Alembic environment: migrates the database towards `SQLModel.metadata` (api/models.py).

Run two ways: by `alembic` on the command line (URL from the settings, as the API reads it),
or by `api.db.create_db_and_tables`, which passes its own connection in
`config.attributes["connection"]` so the app and the tests migrate the engine they use.
"""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import TypeDecorator
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import api.models  # noqa: F401  (registers every table on SQLModel.metadata)
from api.db import create_db_engine
from api.settings import get_settings

config = context.config
target_metadata = SQLModel.metadata


def render_item(type_: str, obj: object, _autogen_context) -> str | bool:
    """Write custom column types (UTCDateTime, sqlmodel's AutoString) as the SQL type under them.

    Their Python behaviour does not touch the schema, and a revision that imported them
    would break the day they move or change; the plain SQLAlchemy type never will.
    """
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False  # anything else: Alembic's own rendering


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: print the SQL for a DBA instead of running it."""
    context.configure(
        url=get_settings().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=render_item,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_with_engine_from_settings() -> None:
    # create_db_engine, not a bare create_engine: the same driver and SQLite pragmas as the API.
    engine = create_db_engine(get_settings().database_url)
    try:
        with engine.connect() as connection:
            run_migrations_online(connection)
    finally:
        engine.dispose()


if config.config_file_name is not None:
    # Only the command line has an alembic.ini; the API keeps its own logging as it is.
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
elif (shared_connection := config.attributes.get("connection")) is not None:
    run_migrations_online(shared_connection)
else:
    run_with_engine_from_settings()
