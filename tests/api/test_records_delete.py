"""DELETE /records/{id}: the record, its reviews, and its image once nothing else uses it."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.models import Review

PROBLEM_JSON = "application/problem+json"


def classify(client: TestClient, data: bytes, filename: str) -> dict:
    response = client.post("/classify", files={"file": (filename, data)})
    assert response.status_code == 201
    return response.json()


def test_a_deleted_record_is_gone_from_reads_and_the_list(
    client: TestClient, png_bytes: bytes, jpeg_bytes: bytes
) -> None:
    kept = classify(client, png_bytes, "kept.png")
    deleted = classify(client, jpeg_bytes, "deleted.jpg")

    response = client.delete(f"/records/{deleted['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"/records/{deleted['id']}").status_code == 404
    assert client.get(f"/records/{deleted['id']}/image").status_code == 404
    page = client.get("/records").json()
    assert [record["id"] for record in page["data"]] == [kept["id"]]
    assert page["count"] == 1


def test_deleting_a_record_deletes_its_reviews(
    client: TestClient, add_record: Callable[..., int], engine: Engine
) -> None:
    record_id, other_id = add_record(), add_record()
    for target in (record_id, other_id):
        client.post(f"/records/{target}/reviews", json={"action": "reject"})

    client.delete(f"/records/{record_id}")

    with Session(engine) as session:
        reviewed = session.exec(select(col(Review.record_id))).all()
    assert reviewed == [other_id]


def test_an_image_shared_by_two_records_stays_until_the_last_one_goes(
    client: TestClient, png_bytes: bytes, stored_blobs: Callable[[], list[Path]]
) -> None:
    first = classify(client, png_bytes, "a.png")
    second = classify(client, png_bytes, "b.png")

    client.delete(f"/records/{first['id']}")
    still_there = stored_blobs()
    client.delete(f"/records/{second['id']}")

    assert [path.name for path in still_there] == [first["image_sha256"]]
    assert client.get(f"/records/{second['id']}/image").status_code == 404
    assert stored_blobs() == []


def test_deleting_a_missing_record_gets_a_404_problem(client: TestClient) -> None:
    response = client.delete("/records/999")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["detail"] == "Record 999 does not exist."


def test_an_image_deleted_while_its_record_was_read_gets_a_404_not_a_500(
    client: TestClient, png_bytes: bytes, stored_blobs: Callable[[], list[Path]]
) -> None:
    record = classify(client, png_bytes, "a.png")
    # What a concurrent DELETE leaves for a read that already found the record.
    for blob in stored_blobs():
        blob.unlink()

    response = client.get(f"/records/{record['id']}/image")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON


def test_concurrent_deletes_and_reads_of_one_record_never_fail_with_a_5xx(
    client: TestClient, png_bytes: bytes
) -> None:
    record_id = classify(client, png_bytes, "a.png")["id"]
    requests = [("DELETE", ""), ("GET", ""), ("GET", "/image"), ("POST", "/reviews")] * 3

    def send(request: tuple[str, str]) -> tuple[str, int]:
        method, suffix = request
        body = {"action": "confirm"} if method == "POST" else None
        response = client.request(method, f"/records/{record_id}{suffix}", json=body)
        return method, response.status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(send, requests))

    assert all(status < 500 for _, status in answers), answers
    assert [status for method, status in answers if method == "DELETE"].count(204) == 1
    assert client.get(f"/records/{record_id}").status_code == 404
