import pytest
from fastapi.testclient import TestClient

PROBLEM_JSON = "application/problem+json"


def classify(client: TestClient, data: bytes, filename: str, content_type: str) -> dict:
    response = client.post("/classify", files={"file": (filename, data, content_type)})
    assert response.status_code == 201
    return response.json()


@pytest.fixture
def three_records(client: TestClient, png_bytes: bytes, jpeg_bytes: bytes) -> list[dict]:
    """Created oldest first: PNG, JPEG, PNG."""
    return [
        classify(client, png_bytes, "first.png", "image/png"),
        classify(client, jpeg_bytes, "second.jpg", "image/jpeg"),
        classify(client, png_bytes, "third.png", "image/png"),
    ]


def ids_of(page: dict) -> list[int]:
    return [record["id"] for record in page["data"]]


def test_the_list_is_empty_before_anything_is_classified(client: TestClient) -> None:
    assert client.get("/records").json() == {"data": [], "count": 0, "next_cursor": None}


def test_the_list_shows_the_newest_record_first_with_the_total_count(
    client: TestClient, three_records: list[dict]
) -> None:
    page = client.get("/records").json()

    assert page["count"] == 3
    assert page["data"] == list(reversed(three_records))


def test_offset_and_limit_page_through_the_records(
    client: TestClient, three_records: list[dict]
) -> None:
    first, second, third = (record["id"] for record in three_records)

    first_page = client.get("/records", params={"offset": 0, "limit": 2}).json()
    second_page = client.get("/records", params={"offset": 2, "limit": 2}).json()

    assert ids_of(first_page) == [third, second]
    assert ids_of(second_page) == [first]
    assert first_page["count"] == second_page["count"] == 3


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}])
def test_a_page_size_outside_1_to_100_or_a_negative_offset_gets_422(
    client: TestClient, params: dict
) -> None:
    response = client.get("/records", params=params)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["errors"][0]["loc"] == ["query", next(iter(params))]


def test_reading_one_record_returns_what_classify_returned(
    client: TestClient, three_records: list[dict]
) -> None:
    second = three_records[1]

    response = client.get(f"/records/{second['id']}")

    assert response.status_code == 200
    assert response.json() == second


def test_a_missing_record_gets_a_404_problem(client: TestClient) -> None:
    response = client.get("/records/999")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Record 999 does not exist.",
        "instance": "/records/999",
    }


def test_the_image_of_a_missing_record_gets_a_404_problem(client: TestClient) -> None:
    response = client.get("/records/999/image")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON


@pytest.mark.parametrize(
    ("index", "media_type", "extension"), [(0, "image/png", "png"), (1, "image/jpeg", "jpg")]
)
def test_the_original_is_served_byte_identical_with_its_type_and_nosniff(
    client: TestClient,
    three_records: list[dict],
    png_bytes: bytes,
    jpeg_bytes: bytes,
    index: int,
    media_type: str,
    extension: str,
) -> None:
    record = three_records[index]
    uploaded = png_bytes if media_type == "image/png" else jpeg_bytes

    response = client.get(f"/records/{record['id']}/original")

    assert response.status_code == 200
    assert response.content == uploaded
    assert response.headers["content-type"] == media_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert (
        response.headers["content-disposition"]
        == f'inline; filename="record-{record["id"]}.{extension}"'
    )


def test_a_record_id_beyond_any_database_integer_gets_422_not_a_server_error(
    client: TestClient,
) -> None:
    for path in ("/records/9223372036854775808", "/records/9223372036854775808/heatmap"):
        answer = client.get(path)
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
