"""DICOM through the API: real files shipped with pydicom, rendered back as PNG."""

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from pydicom.data import get_testdata_file
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.models import Record
from ml.decode import decode_image

DICOM = "application/dicom"
# (file, width, height): every transfer syntax the decoder promises, and a multi-frame file.
PYDICOM_IMAGES = [
    ("MR_small.dcm", 64, 64),
    ("MR_small_RLE.dcm", 64, 64),
    ("MR_small_jp2klossless.dcm", 64, 64),
    ("MR_small_jpeg_ls_lossless.dcm", 64, 64),
    ("SC_rgb_jpeg_dcmtk.dcm", 100, 100),
    ("emri_small.dcm", 64, 64),
]


def pydicom_file(name: str) -> bytes:
    return Path(get_testdata_file(name)).read_bytes()


def classify_dicom(client: TestClient, data: bytes, **form: str) -> Response:
    return client.post("/classify", files={"file": ("slice.dcm", data, DICOM)}, data=form)


def decode_png(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize(("name", "width", "height"), PYDICOM_IMAGES)
def test_a_real_dicom_file_is_classified_and_stored(
    client: TestClient, name: str, width: int, height: int
) -> None:
    response = classify_dicom(client, pydicom_file(name))

    assert response.status_code == 201
    record = response.json()
    assert record["media_type"] == DICOM
    assert (record["width"], record["height"]) == (width, height)
    assert record["study_uid_hash"] is not None


def test_the_answer_to_a_dicom_upload_is_the_record_as_it_was_stored(
    client: TestClient,
) -> None:
    answered = classify_dicom(client, pydicom_file("MR_small.dcm"), source_system="pacs-west")

    stored = client.get(f"/records/{answered.json()['id']}")

    assert answered.status_code == 201
    assert stored.json() == answered.json()


@pytest.mark.parametrize(("name", "width", "height"), PYDICOM_IMAGES)
def test_a_dicom_record_is_shown_as_a_png_of_the_classified_pixels(
    client: TestClient, name: str, width: int, height: int
) -> None:
    original = pydicom_file(name)
    record = classify_dicom(client, original).json()

    response = client.get(f"/records/{record['id']}/image")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == (
        f'inline; filename="record-{record["id"]}.png"'
    )
    shown = decode_png(response.content)
    assert shown.shape == (height, width)
    assert (shown == decode_image(original).pixels).all()


def test_a_multi_frame_file_is_shown_and_classified_by_its_middle_frame(
    client: TestClient,
) -> None:
    original = pydicom_file("emri_small.dcm")
    dataset = pydicom.dcmread(io.BytesIO(original))
    frames = dataset.pixel_array
    record = classify_dicom(client, original).json()

    shown = decode_png(client.get(f"/records/{record['id']}/image").content)

    # The displayed slice follows the middle frame's content, not the first one's.
    middle, first = frames[len(frames) // 2], frames[0]
    assert not np.array_equal(middle, first)
    ranks = np.argsort(np.argsort(shown.ravel()))
    correlation_middle = np.corrcoef(ranks, np.argsort(np.argsort(middle.ravel())))[0, 1]
    correlation_first = np.corrcoef(ranks, np.argsort(np.argsort(first.ravel())))[0, 1]
    assert correlation_middle > 0.99 > correlation_first


def test_the_original_of_a_dicom_record_is_the_stored_deidentified_file(
    client: TestClient, stored_blobs: Callable[[], list[Path]]
) -> None:
    original = pydicom_file("MR_small.dcm")
    record = classify_dicom(client, original).json()

    response = client.get(f"/records/{record['id']}/original")

    assert response.status_code == 200
    assert response.headers["content-type"] == DICOM
    assert response.headers["content-disposition"] == (
        f'inline; filename="record-{record["id"]}.dcm"'
    )
    assert response.content != original
    assert hashlib.sha256(response.content).hexdigest() == record["image_sha256"]
    assert [blob.read_bytes() for blob in stored_blobs()] == [response.content]
    assert pydicom.dcmread(io.BytesIO(response.content)).PatientIdentityRemoved == "YES"


def test_a_dicom_file_without_pixel_data_gets_422_and_nothing_is_stored(
    client: TestClient, engine: Engine, stored_blobs: Callable[[], list[Path]]
) -> None:
    response = classify_dicom(client, pydicom_file("rtplan.dcm"))

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "no image" in response.json()["detail"]
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Record)).one() == 0
    assert stored_blobs() == []


def test_a_source_system_sent_with_the_upload_is_kept_on_the_record(
    client: TestClient,
) -> None:
    created = classify_dicom(client, pydicom_file("MR_small.dcm"), source_system="pacs-west")

    assert created.json()["source_system"] == "pacs-west"
    assert client.get(f"/records/{created.json()['id']}").json()["source_system"] == "pacs-west"


def test_a_blank_source_system_is_stored_as_none(client: TestClient, png_bytes: bytes) -> None:
    response = client.post(
        "/classify",
        files={"file": ("slice.png", png_bytes, "image/png")},
        data={"source_system": " "},
    )

    assert response.json()["source_system"] is None


def test_the_openapi_description_of_classify_states_the_frame_policy(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/classify"]["post"]

    assert "middle frame" in operation["description"]
