import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.models import Record
from ml.labels import CLASSES

PROBLEM_JSON = "application/problem+json"
RECORD_FIELDS = {
    "id",
    "finding",
    "tumour_probability",
    "label",
    "probabilities",
    "classes",
    "model_version",
    "created_at",
    "filename",
    "media_type",
    "image_sha256",
    "source_system",
    "study_uid_hash",
    "series_uid_hash",
    "sop_uid_hash",
    "width",
    "height",
    "review_status",
    "final_label",
    "suitability",
    "suitability_score",
    "suitability_reason",
    "modality",
    "body_part",
    "kind",
    "kind_probability",
}
TINY_MODEL_VERSION = "0.0.0-test"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def classify(
    client: TestClient, data: bytes, filename: str = "slice.png", content_type: str = "image/png"
) -> Response:
    return client.post("/classify", files={"file": (filename, data, content_type)})


def count_records(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Record)).one()


def assert_problem(response: Response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == status
    assert problem["instance"] == "/classify"
    assert {"type", "title", "status", "detail", "instance"} <= set(problem)
    return problem


@pytest.mark.parametrize(
    ("image_fixture", "filename", "media_type"),
    [("png_bytes", "slice.png", "image/png"), ("jpeg_bytes", "slice.jpg", "image/jpeg")],
)
def test_classify_returns_201_with_a_complete_record(
    client: TestClient,
    request: pytest.FixtureRequest,
    image_fixture: str,
    filename: str,
    media_type: str,
) -> None:
    image = request.getfixturevalue(image_fixture)
    before = datetime.now(UTC)

    response = classify(client, image, filename, media_type)

    assert response.status_code == 201
    record = response.json()
    assert set(record) == RECORD_FIELDS
    assert isinstance(record["id"], int)
    assert record["filename"] == filename
    assert record["media_type"] == media_type
    assert record["image_sha256"] == hashlib.sha256(image).hexdigest()
    assert (record["width"], record["height"]) == (96, 96)
    assert record["model_version"] == TINY_MODEL_VERSION
    assert_probabilities_cover_the_models_classes(record)
    created_at = datetime.fromisoformat(record["created_at"])
    assert created_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= created_at <= datetime.now(UTC)


def assert_probabilities_cover_the_models_classes(record: dict) -> None:
    probabilities = record["probabilities"]
    assert tuple(sorted(probabilities)) == tuple(sorted(CLASSES))
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    # The class never contradicts the finding: no_tumor exactly when it is no_tumour, else
    # the most probable tumour class.
    if record["finding"] == "no_tumour":
        assert record["label"] == "no_tumor"
    else:
        tumours = {name: p for name, p in probabilities.items() if name != "no_tumor"}
        assert record["label"] == max(tumours, key=tumours.__getitem__)


@pytest.mark.dataset
def test_classify_accepts_a_real_glioma_slice_from_the_shared_dataset(
    client: TestClient, real_glioma_jpeg: bytes
) -> None:
    response = classify(client, real_glioma_jpeg, "glioma.jpg", "image/jpeg")

    assert response.status_code == 201
    record = response.json()
    assert record["media_type"] == "image/jpeg"
    assert_probabilities_cover_the_models_classes(record)


def test_classify_stores_a_record_that_the_list_then_shows(
    client: TestClient, png_bytes: bytes
) -> None:
    created = classify(client, png_bytes).json()

    listed = client.get("/records").json()

    assert listed == {"data": [created], "count": 1, "next_cursor": None}


def test_classify_refuses_a_file_whose_bytes_are_not_its_declared_type(
    client: TestClient, png_bytes: bytes, stored_blobs: Callable[[], list[Path]]
) -> None:
    response = classify(client, png_bytes, "slice.jpg", "image/jpeg")

    assert response.status_code == 415
    assert "sent as image/jpeg but its bytes are image/png" in response.json()["detail"]
    assert client.get("/records").json()["count"] == 0
    assert stored_blobs() == []


def test_classify_reads_the_type_from_the_bytes_when_none_is_declared(
    client: TestClient, png_bytes: bytes
) -> None:
    response = classify(client, png_bytes, "slice.bin", "application/octet-stream")

    assert response.status_code == 201
    assert response.json()["media_type"] == "image/png"


def test_classify_keeps_only_the_name_from_a_full_client_path(
    client: TestClient, png_bytes: bytes
) -> None:
    response = classify(client, png_bytes, filename="C:\\scans\\patient-x\\slice.png")

    assert response.json()["filename"] == "slice.png"


def test_the_same_bytes_twice_make_two_records_and_one_blob(
    client: TestClient, png_bytes: bytes, stored_blobs: Callable[[], list[Path]]
) -> None:
    first = classify(client, png_bytes).json()
    second = classify(client, png_bytes).json()

    assert first["id"] != second["id"]
    assert first["image_sha256"] == second["image_sha256"]
    assert [blob.read_bytes() for blob in stored_blobs()] == [png_bytes]


def test_a_file_that_is_not_an_image_gets_415_and_nothing_is_stored(
    client: TestClient, engine: Engine, stored_blobs: Callable[[], list[Path]]
) -> None:
    response = classify(client, b"%PDF-1.7 not an MRI slice", "report.pdf", "image/png")

    problem = assert_problem(response, 415)
    assert "PNG, JPEG or DICOM" in problem["detail"]
    assert count_records(engine) == 0
    assert stored_blobs() == []


def test_an_empty_file_gets_422(client: TestClient, engine: Engine) -> None:
    response = classify(client, b"")

    problem = assert_problem(response, 422)
    assert problem["detail"].startswith("The uploaded file is empty")
    assert count_records(engine) == 0


def test_a_second_file_part_gets_422_instead_of_being_silently_ignored(
    client: TestClient, engine: Engine, png_bytes: bytes, jpeg_bytes: bytes
) -> None:
    files = [
        ("file", ("a.png", png_bytes, "image/png")),
        ("file", ("b.jpg", jpeg_bytes, "image/jpeg")),
    ]

    response = client.post("/classify", files=files)

    problem = assert_problem(response, 422)
    assert "2 `file` parts were sent" in problem["errors"][0]["msg"]
    assert problem["errors"][0]["loc"] == ["body", "file"]
    assert count_records(engine) == 0


def test_a_truncated_jpeg_gets_422_that_says_it_is_damaged(
    client: TestClient, jpeg_bytes: bytes, stored_blobs: Callable[[], list[Path]]
) -> None:
    response = classify(client, jpeg_bytes[: len(jpeg_bytes) // 2], "cut.jpg", "image/jpeg")

    problem = assert_problem(response, 422)
    assert "truncated" in problem["detail"]
    assert stored_blobs() == []


def test_a_file_one_byte_over_the_upload_limit_gets_413(
    make_client: Callable[..., TestClient],
    png_bytes: bytes,
    engine: Engine,
    stored_blobs: Callable[[], list[Path]],
) -> None:
    client = make_client(max_upload_bytes=len(png_bytes) - 1)

    response = classify(client, png_bytes)

    problem = assert_problem(response, 413)
    assert f"{len(png_bytes) - 1:,}-byte" in problem["detail"]
    assert count_records(engine) == 0
    assert stored_blobs() == []


def test_a_file_exactly_at_the_upload_limit_is_accepted(
    make_client: Callable[..., TestClient], png_bytes: bytes
) -> None:
    client = make_client(max_upload_bytes=len(png_bytes))

    assert classify(client, png_bytes).status_code == 201


def test_a_body_declared_far_over_the_upload_limit_is_refused_before_it_is_read(
    make_client: Callable[..., TestClient], engine: Engine
) -> None:
    client = make_client(max_upload_bytes=1024)

    response = classify(client, PNG_SIGNATURE + bytes(1024 * 1024))

    assert_problem(response, 413)
    assert count_records(engine) == 0


def test_a_chunked_body_over_the_upload_limit_is_cut_off_while_streaming(
    make_client: Callable[..., TestClient], engine: Engine
) -> None:
    client = make_client(max_upload_bytes=1024)

    def multipart_body_without_length() -> Iterator[bytes]:
        yield (
            b"--limit\r\n"
            b'Content-Disposition: form-data; name="file"; filename="big.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + PNG_SIGNATURE
        )
        yield from (bytes(64 * 1024) for _ in range(16))
        yield b"\r\n--limit--\r\n"

    response = client.post(
        "/classify",
        content=multipart_body_without_length(),
        headers={"content-type": "multipart/form-data; boundary=limit"},
    )

    assert_problem(response, 413)
    assert count_records(engine) == 0


def test_an_image_with_more_pixels_than_allowed_gets_413(
    make_client: Callable[..., TestClient], png_bytes: bytes
) -> None:
    client = make_client(max_image_pixels=95 * 95)

    problem = assert_problem(classify(client, png_bytes), 413)

    assert "96×96" in problem["detail"]


def test_a_failed_commit_leaves_no_record_no_blob_and_no_internals_in_the_500(
    client_whose_commits_fail: TestClient,
    engine: Engine,
    png_bytes: bytes,
    stored_blobs: Callable[[], list[Path]],
) -> None:
    client = client_whose_commits_fail

    problem = assert_problem(classify(client, png_bytes), 500)

    assert "secret" not in problem["detail"]
    assert "OperationalError" not in problem["detail"]
    assert count_records(engine) == 0
    assert stored_blobs() == []
