import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.db import create_db_engine, get_session
from api.main import create_app
from api.settings import Settings

PROBLEM_JSON = "application/problem+json"


def test_healthz_says_ok_once_the_app_has_started(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_the_serving_model_when_model_and_database_are_ready(
    client: TestClient, tiny_model_dir: Path
) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "model_version": "0.0.0-test", "database": "ok"}


def test_readyz_is_a_503_problem_naming_the_database_when_it_does_not_answer(
    client: TestClient, tmp_path: Path
) -> None:
    unreachable = create_db_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")

    def sessions_on_unreachable_database() -> Iterator[Session]:
        with Session(unreachable) as session:
            yield session

    client.app.dependency_overrides[get_session] = sessions_on_unreachable_database

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "database" in response.json()["detail"]
    assert response.headers["retry-after"]


def test_readyz_is_a_503_problem_naming_the_model_before_it_is_loaded(
    client: TestClient,
) -> None:
    client.app.state.classifier = None

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "model is not loaded" in response.json()["detail"]


@pytest.mark.startup_collection
def test_what_the_ready_service_holds_is_kept_out_of_full_garbage_collections(
    settings: Settings,
) -> None:
    app = create_app(settings)

    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        frozen_while_serving = gc.get_freeze_count()

    # The loaded model's objects among them: a full collection would walk them all.
    assert frozen_while_serving > 10_000
    assert gc.get_freeze_count() == 0
