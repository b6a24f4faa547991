"""Server-Timing: where a classification's time went, when the setting asks for it."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api.timing import HEADER, parse_server_timing

STAGES = ["decode", "deidentify", "storage", "model", "gate", "database"]


def test_a_classification_names_each_stage_and_the_handlers_whole_time(
    make_client: Callable[..., TestClient], png_bytes: bytes
) -> None:
    client = make_client(server_timing=True)

    answer = client.post("/classify", files={"file": ("slice.png", png_bytes, "image/png")})

    timings = parse_server_timing(answer.headers[HEADER])
    assert list(timings) == [*STAGES, "handler"]
    assert all(ms >= 0 for ms in timings.values())
    # The stages run one after another inside the handler.
    assert timings["handler"] >= sum(timings[stage] for stage in STAGES)


def test_a_batchs_stages_add_up_over_its_files(
    make_client: Callable[..., TestClient], png_bytes: bytes, jpeg_bytes: bytes
) -> None:
    client = make_client(server_timing=True)
    files = [("files", ("a.png", png_bytes, "image/png")), ("files", ("b.jpg", jpeg_bytes))]

    answer = client.post("/classify/batch", files=files)

    timings = parse_server_timing(answer.headers[HEADER])
    assert answer.status_code == 200
    assert timings["handler"] >= sum(timings[stage] for stage in STAGES)


def test_no_timings_are_sent_unless_the_setting_asks(client: TestClient, png_bytes: bytes) -> None:
    answer = client.post("/classify", files={"file": ("slice.png", png_bytes, "image/png")})

    assert answer.status_code == 201
    assert HEADER not in answer.headers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("decode;dur=1.9, model;dur=5.25", {"decode": 1.9, "model": 5.25}),
        ('cache;desc="hit", db;dur=3', {"db": 3.0}),
        ("", {}),
    ],
)
def test_server_timing_values_parse_to_milliseconds_by_name(
    value: str, expected: dict[str, float]
) -> None:
    assert parse_server_timing(value) == expected
