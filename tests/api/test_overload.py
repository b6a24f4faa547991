"""Overload: beyond the model's queue a request gets 503 with Retry-After, and nothing stored."""

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from hashlib import sha256
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.batching import BatcherClosedError, DynamicBatcher
from api.deps import get_classifier
from api.errors import PROBLEM_MEDIA_TYPE
from api.models import AuditEvent, Record
from ml.inference import Classifier, Prediction
from tests.api.conftest import encode, synthetic_head_slice

QUEUE_WAIT_S = 10


class HeldModel:
    """The real tiny model, held at its first call until the test lets it go."""

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier
        self.running = threading.Event()
        self.release = threading.Event()

    def predict_batch(self, images: list[np.ndarray]) -> list[Prediction]:
        self.running.set()
        self.release.wait(timeout=60)
        return self.classifier.predict_batch(images)

    def __getattr__(self, name: str) -> object:
        return getattr(self.classifier, name)


def classify(client: TestClient, data: bytes) -> Response:
    return client.post("/classify", files={"file": ("slice.png", data, "image/png")})


def count_records(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Record)).one()


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + QUEUE_WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the request never reached the model's queue"
        time.sleep(0.01)


@pytest.fixture
def held_model(tiny_model_dir: Path) -> HeldModel:
    return HeldModel(Classifier.load(tiny_model_dir))


@pytest.fixture
def full_queue_client(
    make_client: Callable[..., TestClient], held_model: HeldModel
) -> tuple[TestClient, DynamicBatcher]:
    """A deliberately tiny queue: one image in the model, one waiting, none more."""
    client = make_client()
    batcher = DynamicBatcher(held_model, max_batch_size=1, max_wait_ms=0, max_queue=1)
    client.app.dependency_overrides[get_classifier] = lambda: batcher
    yield client, batcher
    held_model.release.set()
    batcher.close()


def test_a_request_beyond_the_queue_gets_503_with_retry_after_and_nothing_is_stored(
    full_queue_client: tuple[TestClient, DynamicBatcher],
    held_model: HeldModel,
    engine: Engine,
    stored_blobs: Callable[[], list[Path]],
) -> None:
    client, batcher = full_queue_client
    slices = [encode(synthetic_head_slice(size), ".png") for size in (90, 96, 102)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        in_model = pool.submit(classify, client, slices[0])
        held_model.running.wait(timeout=QUEUE_WAIT_S)
        waiting = pool.submit(classify, client, slices[1])
        wait_until(lambda: batcher.queued == 1)

        refused = classify(client, slices[2])

        assert refused.status_code == 503
        assert refused.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert int(refused.headers["Retry-After"]) >= 1
        assert "Retry after" in refused.json()["detail"]
        assert count_records(engine) == 0
        # The two held requests may have stored their images already; the refused one not.
        assert sha256(slices[2]).hexdigest() not in {blob.name for blob in stored_blobs()}

        held_model.release.set()
        assert in_model.result().status_code == waiting.result().status_code == 201
    assert count_records(engine) == 2
    assert len(stored_blobs()) == 2


def test_the_service_accepts_images_again_once_the_queue_has_drained(
    full_queue_client: tuple[TestClient, DynamicBatcher], held_model: HeldModel
) -> None:
    client, batcher = full_queue_client
    with ThreadPoolExecutor(max_workers=2) as pool:
        held = [pool.submit(classify, client, encode(synthetic_head_slice(90), ".png"))]
        held_model.running.wait(timeout=QUEUE_WAIT_S)
        held.append(pool.submit(classify, client, encode(synthetic_head_slice(96), ".png")))
        wait_until(lambda: batcher.queued == 1)
        assert classify(client, encode(synthetic_head_slice(102), ".png")).status_code == 503
        held_model.release.set()
        assert [future.result().status_code for future in held] == [201, 201]

    assert classify(client, encode(synthetic_head_slice(102), ".png")).status_code == 201


def test_a_request_past_the_admission_bound_gets_503_before_anything_is_done(
    make_client: Callable[..., TestClient],
    held_model: HeldModel,
    engine: Engine,
    stored_blobs: Callable[[], list[Path]],
) -> None:
    client = make_client(max_classifications_in_progress=1)
    batcher = DynamicBatcher(held_model, max_batch_size=8, max_wait_ms=0, max_queue=8)
    client.app.dependency_overrides[get_classifier] = lambda: batcher
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            in_progress = pool.submit(classify, client, encode(synthetic_head_slice(90), ".png"))
            held_model.running.wait(timeout=QUEUE_WAIT_S)

            refused = classify(client, encode(synthetic_head_slice(96), ".png"))

            assert refused.status_code == 503
            assert refused.headers["Retry-After"] == "1"
            assert "1 classification requests are in progress" in refused.json()["detail"]
            assert batcher.queued == 0  # it never reached the model
            assert audited_statuses(engine) == []  # only counted in /metrics
            held_model.release.set()
            assert in_progress.result().status_code == 201
    finally:
        held_model.release.set()
        batcher.close()
    assert count_records(engine) == 1 and len(stored_blobs()) == 1
    client.app.dependency_overrides.pop(get_classifier)  # back to the app's own batcher
    assert classify(client, encode(synthetic_head_slice(96), ".png")).status_code == 201
    assert sorted(audited_statuses(engine)) == [201, 201]


def audited_statuses(engine: Engine) -> list[int]:
    with Session(engine) as session:
        return [event.status_code for event in session.exec(select(AuditEvent))]


def test_reading_records_is_not_refused_while_classification_is_at_capacity(
    make_client: Callable[..., TestClient], held_model: HeldModel
) -> None:
    client = make_client(max_classifications_in_progress=1)
    batcher = DynamicBatcher(held_model, max_batch_size=8, max_wait_ms=0, max_queue=8)
    client.app.dependency_overrides[get_classifier] = lambda: batcher
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            in_progress = pool.submit(classify, client, encode(synthetic_head_slice(90), ".png"))
            held_model.running.wait(timeout=QUEUE_WAIT_S)
            assert client.get("/records").status_code == 200
            held_model.release.set()
            assert in_progress.result().status_code == 201
    finally:
        held_model.release.set()
        batcher.close()


def test_the_app_classifies_through_a_batcher_sized_by_the_settings(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(
        inference_max_batch_size=3, inference_max_wait_ms=0, inference_queue_size=5
    )
    batcher = client.app.state.classifier
    assert isinstance(batcher, DynamicBatcher)
    assert (batcher.max_batch_size, batcher.max_wait_s, batcher.max_queue) == (3, 0, 5)
    assert classify(client, encode(synthetic_head_slice(), ".png")).status_code == 201


class ShutDownWhileWaiting:
    """The real tiny model behind a batcher that closes while the image waits for it."""

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier

    def submit(self, pixels: np.ndarray) -> Future:
        future: Future = Future()
        future.set_exception(BatcherClosedError("The model has shut down."))
        return future

    def __getattr__(self, name: str) -> object:
        return getattr(self.classifier, name)


@pytest.fixture
def shutting_down_client(
    make_client: Callable[..., TestClient], tiny_model_dir: Path
) -> TestClient:
    client = make_client()
    shut_down = ShutDownWhileWaiting(Classifier.load(tiny_model_dir))
    client.app.dependency_overrides[get_classifier] = lambda: shut_down
    return client


def test_an_image_stored_while_the_model_shut_down_is_removed_again(
    shutting_down_client: TestClient, engine: Engine, stored_blobs: Callable[[], list[Path]]
) -> None:
    answer = classify(shutting_down_client, encode(synthetic_head_slice(90), ".png"))

    assert answer.status_code == 503
    assert count_records(engine) == 0
    assert stored_blobs() == []


def test_a_failed_upload_keeps_the_image_of_a_record_already_stored(
    client: TestClient,
    shutting_down_client: TestClient,
    engine: Engine,
    stored_blobs: Callable[[], list[Path]],
) -> None:
    image = encode(synthetic_head_slice(90), ".png")
    assert classify(client, image).status_code == 201

    assert classify(shutting_down_client, image).status_code == 503

    assert count_records(engine) == 1
    assert [blob.name for blob in stored_blobs()] == [sha256(image).hexdigest()]
