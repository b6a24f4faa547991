"""`Idempotency-Key`: a retried upload returns its first answer and never a second record."""

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

import api.routes.classify as classify_route
from api.models import AuditEvent, IdempotencyKey, Record, Role

KEY = "5b1d3f0e-retry-me"


def classify(client: TestClient, data: bytes, key: str | None = KEY, **headers: str) -> Response:
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(
        "/classify", files={"file": ("slice.png", data, "image/png")}, headers=headers
    )


def count(engine: Engine, table: type) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def test_a_retry_with_the_same_key_replays_the_first_record(
    client: TestClient, engine: Engine, png_bytes: bytes
) -> None:
    first = classify(client, png_bytes)
    retry = classify(client, png_bytes)

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(engine, Record) == 1


def test_the_same_key_with_another_file_gets_422_and_makes_nothing(
    client: TestClient, engine: Engine, png_bytes: bytes, jpeg_bytes: bytes
) -> None:
    classify(client, png_bytes)

    response = classify(client, jpeg_bytes)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "different request" in response.json()["detail"]
    assert count(engine, Record) == 1


def test_different_keys_make_different_records(
    client: TestClient, engine: Engine, png_bytes: bytes
) -> None:
    first = classify(client, png_bytes, key="first")
    second = classify(client, png_bytes, key="second")

    assert first.json()["id"] != second.json()["id"]
    assert count(engine, Record) == 2


def test_two_callers_may_use_the_same_key_independently(
    client: TestClient, engine: Engine, png_bytes: bytes, make_api_key: Callable[..., str]
) -> None:
    other_caller = f"Bearer {make_api_key(Role.RADIOLOGIST, 'dr-other')}"

    mine = classify(client, png_bytes)
    theirs = classify(client, png_bytes, Authorization=other_caller)

    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_refused_upload_is_not_remembered_so_its_retry_runs_again(
    client: TestClient, engine: Engine, png_bytes: bytes
) -> None:
    refused = classify(client, b"not an image")

    assert refused.status_code == 415
    assert count(engine, IdempotencyKey) == 0
    assert classify(client, b"not an image").status_code == 415


def test_a_concurrent_retry_that_loses_the_race_returns_the_winners_record(
    client: TestClient,
    engine: Engine,
    png_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch,
    stored_blobs: Callable[[], list[Path]],
) -> None:
    winner = classify(client, png_bytes).json()
    # The loser looked before the winner committed: it saw no key and went on to ingest.
    real_find_replay = classify_route.find_replay
    lookups: list[object] = []

    def find_replay_too_early(session: Session, request: object) -> Response | None:
        lookups.append(request)
        return None if len(lookups) == 1 else real_find_replay(session, request)

    monkeypatch.setattr(classify_route, "find_replay", find_replay_too_early)

    loser = classify(client, png_bytes)

    assert loser.status_code == 201
    assert loser.json() == winner
    assert loser.headers["Idempotent-Replayed"] == "true"
    assert count(engine, Record) == 1
    assert [blob.read_bytes() for blob in stored_blobs()] == [png_bytes]
    # The loser's own audit row went down with its transaction; its answer still has one.
    assert count(engine, AuditEvent) == 2


def test_an_overlong_key_gets_422(client: TestClient, png_bytes: bytes) -> None:
    assert classify(client, png_bytes, key="k" * 256).status_code == 422
