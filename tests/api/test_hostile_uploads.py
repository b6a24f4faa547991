"""Hostile or damaged uploads: every parser, codec and model failure is the sender's 4xx,
per file in a batch, never a 500 (issue #29)."""

import struct
import zlib
from contextlib import ExitStack

import numpy as np
import pytest
from fastapi.testclient import TestClient

from medimg_testing.bombs import costly_png, deflated_dicom_bomb
from medimg_testing.hostile import (
    MODALITY_CS,
    ROWS_US,
    head_of_one_bright_row,
    mr_small,
    with_odd_value_length,
    with_unknown_vr,
)
from ml.pixels import DecodeCost, decode_memory
from tests.api.conftest import encode

DICOM = "application/dicom"


def png_declaring(width: int, height: int) -> bytes:
    """A small real PNG whose header (CRC fixed) declares another size."""
    png = encode(np.zeros((8, 8), dtype=np.uint8), ".png")
    at = png.index(b"IHDR")
    header = b"IHDR" + struct.pack(">II", width, height) + png[at + 12 : at + 17]
    return png[:at] + header + struct.pack(">I", zlib.crc32(header)) + png[at + 21 :]


def answer_without_raising(client: TestClient, data: bytes, media_type: str):
    return client.post("/classify", files={"file": ("upload", data, media_type)})


@pytest.fixture
def lenient_client(make_client) -> TestClient:
    """A client that answers 500 rather than raising, as a real server would."""
    return make_client(raise_server_exceptions=False)


@pytest.mark.parametrize(
    "damaged",
    [
        pytest.param(with_unknown_vr(mr_small(), MODALITY_CS), id="unknown-vr"),
        pytest.param(with_odd_value_length(mr_small(), ROWS_US), id="bad-value-length"),
    ],
)
def test_a_dicom_with_a_damaged_element_gets_422_saying_so(
    lenient_client: TestClient, damaged: bytes
) -> None:
    response = answer_without_raising(lenient_client, damaged, DICOM)

    assert response.status_code == 422, response.text
    assert "damaged" in response.json()["detail"]


def test_a_png_whose_head_is_one_bright_row_is_answered_not_a_500(
    lenient_client: TestClient,
) -> None:
    response = answer_without_raising(lenient_client, head_of_one_bright_row(4800), "image/png")

    assert response.status_code in (201, 422), response.text


def test_a_batch_with_one_damaged_dicom_answers_the_others(
    lenient_client: TestClient, png_bytes: bytes
) -> None:
    files = [
        ("files", ("a.png", png_bytes, "image/png")),
        ("files", ("bad.dcm", with_unknown_vr(mr_small(), MODALITY_CS), DICOM)),
    ]
    response = lenient_client.post("/classify/batch", files=files)

    assert response.status_code == 200, response.text
    assert [result["status"] for result in response.json()["results"]] == [201, 422]


def test_a_png_declaring_more_pixels_than_pillow_will_open_gets_413(
    lenient_client: TestClient,
) -> None:
    response = answer_without_raising(lenient_client, png_declaring(40_000, 40_000), "image/png")

    assert response.status_code == 413, response.text


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        pytest.param(costly_png(6000), "image/png", id="png-16-bit-rgba-6000"),
        pytest.param(deflated_dicom_bomb(69), DICOM, id="deflated-dicom-16-bit-6014"),
    ],
)
def test_an_image_under_the_pixel_cap_that_would_take_gigabytes_to_decode_gets_413_saying_why(
    lenient_client: TestClient, data: bytes, media_type: str
) -> None:
    response = answer_without_raising(lenient_client, data, media_type)

    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "MiB of memory, more than the 256 MiB one image may use" in response.json()["detail"]


def test_an_upload_while_other_decodes_hold_all_decode_memory_gets_503_with_retry_after(
    lenient_client: TestClient, png_bytes: bytes
) -> None:
    memory = decode_memory()
    with ExitStack() as others:  # four decodes at their budget, on other threads
        for _ in range(memory.total // memory.per_decode):
            others.enter_context(memory.reserve(DecodeCost(0, 0, 0, 0, memory.per_decode)))
        busy = answer_without_raising(lenient_client, png_bytes, "image/png")
    after = answer_without_raising(lenient_client, png_bytes, "image/png")

    assert busy.status_code == 503, busy.text
    assert busy.headers["retry-after"] == "1"
    assert "other images being decoded" in busy.json()["detail"]
    assert after.status_code == 201, after.text
