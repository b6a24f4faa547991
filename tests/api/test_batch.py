"""POST /classify/batch: several files, each with its own record or its own problem."""

import hashlib
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from httpx import Response
from pydicom.data import get_testdata_file
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.models import Record

PROBLEM_JSON = "application/problem+json"


def post_batch(client: TestClient, *files: tuple[str, bytes, str], **headers: str) -> Response:
    parts = [("files", file) for file in files]
    return client.post("/classify/batch", files=parts, headers=headers)


def count_records(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Record)).one()


def test_each_file_of_a_batch_gets_its_own_record_or_its_own_problem(
    client: TestClient, engine: Engine, png_bytes: bytes, jpeg_bytes: bytes
) -> None:
    response = post_batch(
        client,
        ("a.png", png_bytes, "image/png"),
        ("notes.pdf", b"%PDF-1.7 not a slice", "application/pdf"),
        ("b.jpg", jpeg_bytes, "image/jpeg"),
        ("empty.png", b"", "image/png"),
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert [result["filename"] for result in results] == [
        "a.png",
        "notes.pdf",
        "b.jpg",
        "empty.png",
    ]
    assert [result["status"] for result in results] == [201, 415, 201, 422]
    assert results[0]["record"]["image_sha256"] == hashlib.sha256(png_bytes).hexdigest()
    assert results[2]["record"]["media_type"] == "image/jpeg"
    assert results[1]["record"] is None and results[0]["problem"] is None
    assert results[1]["problem"]["status"] == 415
    assert results[1]["problem"]["instance"] == "/classify/batch"
    assert "PNG, JPEG or DICOM" in results[1]["problem"]["detail"]
    assert count_records(engine) == 2


def test_the_records_of_a_batch_are_the_ones_the_api_then_serves(
    client: TestClient, png_bytes: bytes
) -> None:
    dicom = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    results = post_batch(
        client, ("a.png", png_bytes, "image/png"), ("b.dcm", dicom, "application/dicom")
    ).json()["results"]

    for result in results:
        assert client.get(f"/records/{result['record']['id']}").json() == result["record"]
    assert results[1]["filename"] is None  # DICOM file names often name the patient


def test_a_batch_over_the_file_count_limit_gets_413_and_stores_nothing(
    make_client: Callable[..., TestClient],
    engine: Engine,
    png_bytes: bytes,
    stored_blobs: Callable[[], list[Path]],
) -> None:
    client = make_client(max_batch_files=2)

    response = post_batch(client, *[(f"{i}.png", png_bytes, "image/png") for i in range(3)])

    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "3 files, more than the 2 allowed" in response.json()["detail"]
    assert count_records(engine) == 0
    assert stored_blobs() == []


def test_a_batch_whose_files_add_up_over_the_upload_limit_gets_413_and_stores_nothing(
    make_client: Callable[..., TestClient],
    engine: Engine,
    png_bytes: bytes,
    jpeg_bytes: bytes,
    stored_blobs: Callable[[], list[Path]],
) -> None:
    # Each file alone fits; together they do not.
    client = make_client(max_upload_bytes=max(len(png_bytes), len(jpeg_bytes)) + 1)

    response = post_batch(
        client, ("a.png", png_bytes, "image/png"), ("b.jpg", jpeg_bytes, "image/jpeg")
    )

    assert response.status_code == 413
    assert "add up to more than" in response.json()["detail"]
    assert count_records(engine) == 0
    assert stored_blobs() == []


def test_a_batch_without_files_gets_422(client: TestClient) -> None:
    response = client.post("/classify/batch", data={"source_system": "pacs"})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON


def test_a_retried_batch_with_the_same_key_replays_its_results_without_new_records(
    client: TestClient, engine: Engine, png_bytes: bytes
) -> None:
    files = [("a.png", png_bytes, "image/png"), ("bad.bin", b"garbage", "image/png")]

    first = post_batch(client, *files, **{"Idempotency-Key": "batch-1"})
    retry = post_batch(client, *files, **{"Idempotency-Key": "batch-1"})
    changed = post_batch(client, files[0], **{"Idempotency-Key": "batch-1"})

    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert changed.status_code == 422
    assert count_records(engine) == 1


def test_a_batch_source_system_is_kept_on_every_record(
    client: TestClient, png_bytes: bytes, jpeg_bytes: bytes
) -> None:
    response = client.post(
        "/classify/batch",
        files=[
            ("files", ("a.png", png_bytes, "image/png")),
            ("files", ("b.jpg", jpeg_bytes, "image/jpeg")),
        ],
        data={"source_system": "ris-east"},
    )

    records = [result["record"] for result in response.json()["results"]]
    assert [record["source_system"] for record in records] == ["ris-east", "ris-east"]
