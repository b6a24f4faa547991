"""Scale-out: two API processes, each with its own directory, share one PostgreSQL database,
which also keeps the images.

The API keeps no state of its own, so replicas behind a load balancer must give exactly
the records and images one server would, and an idempotent retry that lands on the other
replica must replay the first answer.
"""

import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from api.models import Record, StoredImage
from medimg_testing.replicas import replicas
from medimg_testing.server import LiveServer
from tests.api.conftest import encode, synthetic_head_slice
from tests.conftest import POSTGRES_URL_ENV, skip_or_fail

UPLOADS = 200
DISTINCT_IMAGES = 150  # the rest repeat an image: both replicas must store it once
CLIENTS = 32


@pytest.fixture(scope="module")
def two_replicas(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    postgres_url = os.environ.get(POSTGRES_URL_ENV)
    if not postgres_url:
        skip_or_fail(f"set {POSTGRES_URL_ENV} to run the replica tests on PostgreSQL")
    work_dir = tmp_path_factory.mktemp("replicas")
    with replicas(tiny_model_dir, work_dir, postgres_url, count=2) as servers:
        yield servers


def distinct_slice(index: int) -> bytes:
    pixels = synthetic_head_slice(96)
    pixels[0, :16] = [(index >> bit & 1) * 255 for bit in range(16)]  # index as a bar code
    return encode(pixels, ".png")


def post(server: LiveServer, data: bytes, **headers: str) -> httpx.Response:
    with server.client() as client:
        return client.post(
            "/classify", files={"file": ("slice.png", data, "image/png")}, headers=headers
        )


def stored_sha256s(server: LiveServer) -> list[str]:
    engine = server.engine()
    try:
        with Session(engine) as session:
            return list(session.exec(select(Record.image_sha256)))
    finally:
        engine.dispose()


def stored_images(server: LiveServer) -> dict[str, bytes]:
    engine = server.engine()
    try:
        with Session(engine) as session:
            return dict(session.exec(select(StoredImage.sha256, StoredImage.data)).all())
    finally:
        engine.dispose()


def test_uploads_split_across_two_replicas_give_exactly_the_right_records_and_images(
    two_replicas: list[LiveServer],
) -> None:
    images = [distinct_slice(index % DISTINCT_IMAGES) for index in range(UPLOADS)]
    before = Counter(stored_sha256s(two_replicas[0]))
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        answers = list(pool.map(lambda i: post(two_replicas[i % 2], images[i]), range(UPLOADS)))

    assert [answer.status_code for answer in answers] == [201] * UPLOADS
    sent = Counter(hashlib.sha256(image).hexdigest() for image in images)
    answered = Counter(answer.json()["image_sha256"] for answer in answers)
    stored = Counter(stored_sha256s(two_replicas[0])) - before
    assert answered == sent
    assert stored == sent
    assert len({answer.json()["id"] for answer in answers}) == UPLOADS
    kept = stored_images(two_replicas[0])
    assert set(sent) <= set(kept)
    assert all(hashlib.sha256(kept[sha]).hexdigest() == sha for sha in sent)
    assert [server.stored_files() for server in two_replicas] == [[], []]


def test_an_idempotent_retry_on_the_other_replica_replays_the_first_answer(
    two_replicas: list[LiveServer],
) -> None:
    first_replica, other_replica = two_replicas
    image = distinct_slice(DISTINCT_IMAGES + 1)
    key = "replica-retry-0001"

    first = post(first_replica, image, **{"Idempotency-Key": key})
    retry = post(other_replica, image, **{"Idempotency-Key": key})

    assert first.status_code == retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert stored_sha256s(first_replica).count(hashlib.sha256(image).hexdigest()) == 1
