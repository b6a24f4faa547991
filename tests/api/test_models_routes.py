"""GET /models and /models/{version}: the installed models' cards, the serving one marked."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

PROBLEM_JSON = "application/problem+json"
OTHER_CARD = {"name": "brain-tumor-cnn", "version": "0.9.0", "classes": ["glioma", "pituitary"]}


@pytest.fixture
def serving_card(tiny_model_dir: Path) -> dict:
    return json.loads((tiny_model_dir / "metadata.json").read_text())


@pytest.fixture
def models_dir(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """The serving model, an older model beside it, and a directory with a broken card."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "serving").symlink_to(tiny_model_dir, target_is_directory=True)
    (models / "0.9.0").mkdir()
    (models / "0.9.0" / "metadata.json").write_text(json.dumps(OTHER_CARD))
    (models / "broken").mkdir()
    (models / "broken" / "metadata.json").write_text("{not json")
    return models


@pytest.fixture
def client_with_two_models(make_client: Callable[..., TestClient], models_dir: Path) -> TestClient:
    return make_client(model_dir=models_dir / "serving")


def test_the_list_marks_the_serving_model(client: TestClient, serving_card: dict) -> None:
    response = client.get("/models")

    assert response.status_code == 200
    serving = [model for model in response.json()["data"] if model["serving"]]
    assert serving == [
        {"name": serving_card["name"], "version": serving_card["version"], "serving": True}
    ]


def test_models_beside_the_serving_one_are_listed_and_broken_cards_skipped(
    client_with_two_models: TestClient, serving_card: dict
) -> None:
    page = client_with_two_models.get("/models").json()

    assert page["count"] == 2
    assert {(m["version"], m["serving"]) for m in page["data"]} == {
        (serving_card["version"], True),
        (OTHER_CARD["version"], False),
    }


def test_models_are_listed_in_release_order_not_text_order(
    make_client: Callable[..., TestClient], models_dir: Path
) -> None:
    (models_dir / "0.10.0").mkdir()
    newer = {**OTHER_CARD, "version": "0.10.0"}
    (models_dir / "0.10.0" / "metadata.json").write_text(json.dumps(newer))
    client = make_client(model_dir=models_dir / "serving")

    versions = [model["version"] for model in client.get("/models").json()["data"]]

    assert versions.index("0.9.0") < versions.index("0.10.0")


def test_the_serving_models_card_is_its_metadata_json(
    client: TestClient, serving_card: dict
) -> None:
    response = client.get(f"/models/{serving_card['version']}")

    assert response.status_code == 200
    assert response.json() == serving_card


def test_a_model_that_is_not_serving_still_has_its_card(
    client_with_two_models: TestClient,
) -> None:
    response = client_with_two_models.get(f"/models/{OTHER_CARD['version']}")

    assert response.status_code == 200
    assert response.json()["classes"] == OTHER_CARD["classes"]


def test_an_unknown_model_version_gets_a_404_problem(client: TestClient) -> None:
    response = client.get("/models/9.9.9")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "GET /models" in response.json()["detail"]


def test_the_model_list_needs_an_api_key(client: TestClient) -> None:
    response = client.get("/models", headers={"Authorization": ""})

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
