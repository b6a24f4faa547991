"""The role × route matrix on the real server (the routes and roles of tests/api/test_access.py),
plus no key, a wrong key and a revoked key; lists never show another key's record; extra
fields in request bodies change nothing."""

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from medimg_testing.corpus import raster_seeds
from medimg_testing.server import LiveServer
from tests.api.test_access import OPERATIONS, Operation, path_ids

ROLES = ("radiologist", "integration", "admin")
PNG = raster_seeds()[0][1]
FORGED = {"id": 999_999, "created_at": "2000-01-01T00:00:00Z", "key_hash": "0" * 64}


def request(client: httpx.Client, operation: Operation, **ids: int | str) -> httpx.Response:
    kwargs: dict = {"json": operation.json}
    if operation.upload_field:
        kwargs["files"] = [(operation.upload_field, ("slice.png", PNG, "image/png"))]
    return client.request(operation.method, operation.path.format(**ids), **kwargs)


def classify(client: httpx.Client) -> dict:
    response = client.post("/classify", files={"file": ("slice.png", PNG)})
    assert response.status_code == 201, response.text
    return response.json()


def test_every_role_gets_exactly_its_routes_and_every_forbidden_call_is_refused(
    live_server: LiveServer,
) -> None:
    refused, forbidden = 0, 0
    for role in ROLES:
        _, key = live_server.make_key(role)
        with live_server.client(key) as client:
            for name, operation in OPERATIONS.items():
                record = classify(client)
                key_id, _ = live_server.make_key("radiologist", f"target-of-{name}")
                response = request(client, operation, **path_ids(record, key_id))

                if role in operation.allowed:
                    assert response.status_code == operation.success, (role, name, response.text)
                else:
                    forbidden += 1
                    refused += response.status_code == 403
    assert forbidden > 0 and refused == forbidden


@pytest.mark.parametrize("who", ["no key", "wrong key", "revoked key"])
def test_without_a_valid_key_every_protected_route_answers_401(
    live_server: LiveServer, who: str
) -> None:
    key_id, key = live_server.make_key("admin", "soon-revoked")
    with live_server.client() as admin:
        record = classify(admin)
        assert admin.delete(f"/keys/{key_id}").status_code == 200
    headers = {
        "no key": {},
        "wrong key": {"Authorization": "Bearer mdk_never-issued"},
        "revoked key": {"Authorization": f"Bearer {key}"},
    }[who]
    paths = {
        name: re.sub(r"\{[^}]+\}", str(record["id"]), op.path) for name, op in OPERATIONS.items()
    }

    with httpx.Client(base_url=live_server.url, headers=headers) as stranger:
        statuses = {
            name: stranger.request(OPERATIONS[name].method, path).status_code
            for name, path in paths.items()
        }

    assert statuses == {name: 401 for name in OPERATIONS}


def test_an_integration_key_never_sees_another_keys_record_in_any_list(
    live_server: LiveServer,
) -> None:
    keys = [live_server.make_key("integration", f"bridge-{n}")[1] for n in range(2)]
    own: list[set[int]] = []
    for key in keys:
        with live_server.client(key) as client:
            own.append({classify(client)["id"] for _ in range(3)})

    for key, mine in zip(keys, own, strict=True):
        with live_server.client(key) as client:
            seen: set[int] = set()
            for query in ({}, {"sort": "oldest"}, {"limit": 1}, {"label": "glioma"}):
                page = client.get("/records", params=query).json()
                seen |= {record["id"] for record in page["data"]}
            cursor = client.get("/records", params={"limit": 1}).json().get("next_cursor")
            while cursor:
                page = client.get("/records", params={"limit": 1, "cursor": cursor}).json()
                seen |= {record["id"] for record in page["data"]}
                cursor = page.get("next_cursor")
        assert seen == mine


def test_extra_fields_in_bodies_are_ignored_or_refused_and_change_nothing(
    live_server: LiveServer,
) -> None:
    with live_server.client() as admin:
        record = classify(admin)
        key = admin.post("/keys", json={"name": "forged", "role": "integration", **FORGED})
        review = admin.post(
            f"/records/{record['id']}/reviews",
            json={"action": "confirm", "record_id": record["id"] + 1, **FORGED},
        )
        forged_upload = admin.post(
            "/classify",
            files={"file": ("slice.png", PNG)},
            data={"label": "pituitary", "image_sha256": "f" * 64, "path": "/etc/passwd", **FORGED},
        )
        after = admin.get(f"/records/{record['id']}").json()

    assert key.status_code == 201
    assert key.json()["id"] != FORGED["id"]
    assert datetime.fromisoformat(key.json()["created_at"]) > datetime.now(UTC) - timedelta(1)
    assert review.status_code == 422
    assert after == record
    assert forged_upload.status_code == 201
    forged = forged_upload.json()
    assert forged["id"] != FORGED["id"] and forged["image_sha256"] == record["image_sha256"]
    assert forged["created_at"] > record["created_at"]
    assert forged["label"] == record["label"]  # the model's answer, not the form's
