"""Query and form values at the edge of what the database or the calendar holds get 422,
never 500, on SQLite and on PostgreSQL (issue #29)."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from medimg_testing.hostile import AT_THE_CALENDAR_EDGE, OUT_OF_CALENDAR, cursor

BEYOND_INT64 = str(2**63)


@pytest.fixture
def lenient_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(raise_server_exceptions=False)


@pytest.mark.parametrize("path", ["/records", "/audit", "/keys"])
def test_an_offset_beyond_a_64_bit_integer_gets_422(lenient_client: TestClient, path: str) -> None:
    response = lenient_client.get(path, params={"offset": BEYOND_INT64})

    assert response.status_code == 422, response.text


@pytest.mark.parametrize("path", ["/records", "/stats"])
@pytest.mark.parametrize("bound", ["created_from", "created_to"])
@pytest.mark.parametrize("instant", OUT_OF_CALENDAR)
def test_a_date_time_outside_the_utc_calendar_gets_422(
    lenient_client: TestClient, path: str, bound: str, instant: str
) -> None:
    response = lenient_client.get(path, params={bound: instant})

    assert response.status_code == 422, response.text
    assert "UTC" in response.text


@pytest.mark.parametrize("path", ["/records", "/stats"])
@pytest.mark.parametrize("instant", AT_THE_CALENDAR_EDGE)
def test_a_date_time_at_the_edge_of_the_calendar_is_answered(
    lenient_client: TestClient, path: str, instant: str
) -> None:
    bound = "created_from" if instant.startswith("0001") else "created_to"

    assert lenient_client.get(path, params={bound: instant}).status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(cursor("2024-01-01T00:00:00+00:00", True), id="id-true"),
        pytest.param(cursor("2024-01-01T00:00:00+00:00", 1.5), id="id-float"),
        pytest.param(cursor("0001-01-01T00:00:00+14:00", 1), id="time-before-year-1-in-utc"),
    ],
)
def test_a_forged_cursor_gets_422(lenient_client: TestClient, token: str) -> None:
    response = lenient_client.get("/records", params={"cursor": token})

    assert response.status_code == 422, response.text
    assert "cursor" in response.json()["detail"]


@pytest.mark.parametrize("name", ["model_version", "source_system"])
def test_a_nul_character_in_a_records_filter_gets_422(
    lenient_client: TestClient, name: str
) -> None:
    response = lenient_client.get("/records", params={name: "pacs\x00west"})

    assert response.status_code == 422, response.text


def test_a_nul_character_in_the_source_system_of_an_upload_gets_422(
    lenient_client: TestClient, png_bytes: bytes
) -> None:
    response = lenient_client.post(
        "/classify",
        files={"file": ("a.png", png_bytes, "image/png")},
        data={"source_system": "pacs\x00west"},
    )

    assert response.status_code == 422, response.text
