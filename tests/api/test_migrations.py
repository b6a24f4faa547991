"""Alembic migrations: an empty database migrated to head has exactly the models' schema."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, Table, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from api.db import (
    BASELINE_REVISION,
    create_db_and_tables,
    create_db_engine,
    current_revision,
    migrations_config,
)
from api.main import create_app
from api.models import Record, RecordPublic
from api.settings import Settings
from tests.conftest import drop_schema, head_revision


@pytest.fixture
def empty_engine(database_url: str) -> Iterator[Engine]:
    """A database with no tables at all, not even Alembic's (the PostgreSQL one is shared)."""
    engine = create_db_engine(database_url)
    drop_schema(engine)
    yield engine
    drop_schema(engine)
    engine.dispose()


def schema_differences(engine: Engine) -> list:
    """What autogenerate would write into a new revision: empty when the schema is current."""
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return current_revision(connection)


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_the_revisions_form_one_line_that_starts_at_the_baseline() -> None:
    script = ScriptDirectory.from_config(migrations_config())
    assert len(script.get_heads()) == 1
    assert script.get_revision(BASELINE_REVISION).down_revision is None


def test_migrating_an_empty_database_to_head_yields_exactly_the_models_schema(
    empty_engine: Engine,
) -> None:
    create_db_and_tables(empty_engine)

    assert revision_of(empty_engine) == head_revision()
    assert schema_differences(empty_engine) == []


def test_upgrading_a_database_already_at_head_changes_nothing(empty_engine: Engine) -> None:
    create_db_and_tables(empty_engine)
    tables_before = table_names(empty_engine)

    create_db_and_tables(empty_engine)

    assert table_names(empty_engine) == tables_before
    assert revision_of(empty_engine) == head_revision()
    assert schema_differences(empty_engine) == []


def test_migrating_does_not_depend_on_the_working_directory(
    empty_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    create_db_and_tables(empty_engine)

    assert revision_of(empty_engine) == head_revision()


def test_a_database_created_before_migrations_is_stamped_and_not_created_again(
    empty_engine: Engine,
) -> None:
    # The schema such a database has: the baseline's tables, with no Alembic bookkeeping.
    with empty_engine.begin() as connection:
        command.upgrade(migrations_config(connection), BASELINE_REVISION)
        connection.execute(text("DROP TABLE alembic_version"))

    create_db_and_tables(empty_engine)

    assert revision_of(empty_engine) == head_revision()
    assert schema_differences(empty_engine) == []


def test_downgrading_to_base_removes_every_table_of_the_models(empty_engine: Engine) -> None:
    create_db_and_tables(empty_engine)

    with empty_engine.begin() as connection:
        command.downgrade(migrations_config(connection), "base")

    assert table_names(empty_engine) & set(SQLModel.metadata.tables) == set()
    assert revision_of(empty_engine) is None


def test_the_app_starts_on_a_migrated_database_and_leaves_it_at_head(
    make_client: Callable[..., TestClient], engine: Engine
) -> None:
    client = make_client()

    assert client.get("/readyz").status_code == 200
    assert revision_of(engine) == head_revision()
    assert schema_differences(engine) == []


def test_the_app_migrates_an_empty_database_when_it_starts(
    empty_engine: Engine, settings: Settings
) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200

    assert revision_of(empty_engine) == head_revision()


# The revision before the one that added the tumour-first finding and the recogniser's reading.
BEFORE_FINDINGS = "5b1e7c2a9f40"
FINDING_COLUMNS = {
    "finding",
    "tumour_probability",
    "modality",
    "body_part",
    "kind",
    "kind_probability",
}
FOUR_CLASS_PROBABILITIES = {"glioma": 0.7, "meningioma": 0.1, "no_tumor": 0.1, "pituitary": 0.1}


def record_columns_and_indexes(engine: Engine) -> tuple[set[str], set[str]]:
    inspector = inspect(engine)
    columns = {column["name"] for column in inspector.get_columns("record")}
    return columns, {index["name"] for index in inspector.get_indexes("record")}


def test_a_record_made_before_findings_keeps_its_result_and_has_none_of_the_new_fields(
    empty_engine: Engine,
) -> None:
    with empty_engine.begin() as connection:
        command.upgrade(migrations_config(connection), BEFORE_FINDINGS)
        record = Table("record", MetaData(), autoload_with=connection)
        connection.execute(
            record.insert().values(
                label="glioma",
                probabilities=FOUR_CLASS_PROBABILITIES,
                model_version="0.6.1",
                media_type="image/png",
                image_sha256="0" * 64,
                width=96,
                height=96,
                created_at=datetime(2026, 11, 1, 8, tzinfo=UTC),
                review_status="unreviewed",
                suitability="ok",
            )
        )

    create_db_and_tables(empty_engine)

    assert revision_of(empty_engine) == head_revision()
    with Session(empty_engine) as session:
        public = RecordPublic.model_validate(session.exec(select(Record)).one())
    assert public.label == "glioma" and public.classes == list(FOUR_CLASS_PROBABILITIES)
    assert {field: getattr(public, field) for field in FINDING_COLUMNS} == dict.fromkeys(
        FINDING_COLUMNS
    )


def test_downgrading_past_findings_drops_their_columns_and_indexes_and_keeps_the_records(
    empty_engine: Engine, make_record: Callable[[Engine], None]
) -> None:
    create_db_and_tables(empty_engine)
    make_record(empty_engine)
    columns, indexes = record_columns_and_indexes(empty_engine)
    assert columns >= FINDING_COLUMNS
    assert "ix_record_finding_created_at_id_suitability" in indexes

    with empty_engine.begin() as connection:
        command.downgrade(migrations_config(connection), BEFORE_FINDINGS)

    columns, indexes = record_columns_and_indexes(empty_engine)
    assert columns & FINDING_COLUMNS == set()
    assert not any(
        name in index for index in indexes for name in ("finding", "modality", "body_part")
    )
    assert "ix_record_label_created_at_id" in indexes
    with empty_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM record")).scalar_one() == 1


@pytest.fixture
def make_record() -> Callable[[Engine], None]:
    """Store one record with every new field, through the models."""

    def make(engine: Engine) -> None:
        with Session(engine) as session:
            session.add(
                Record(
                    finding="no_tumour",
                    tumour_probability=0.01,
                    label="no_tumor",
                    probabilities=FOUR_CLASS_PROBABILITIES,
                    model_version="0.7.0",
                    media_type="image/png",
                    image_sha256="0" * 64,
                    width=96,
                    height=96,
                    modality="MR",
                    body_part="BRAIN",
                    kind="brain_mri",
                    kind_probability=0.99,
                )
            )
            session.commit()

    return make
