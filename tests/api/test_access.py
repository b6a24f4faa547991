"""Who may call what: every route needs a valid key, and each role gets only its share."""

import re
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient

from api.models import Role
from tests.conftest import bearer

PROBLEM_JSON = "application/problem+json"
# Liveness and readiness must work without a key (load balancers, orchestrators);
# Prometheus scrapes /metrics with an admin key.
OPEN_PATHS = {"/healthz", "/readyz"}
ALL_ROLES = frozenset(Role)
ADMIN_ONLY = frozenset({Role.ADMIN})


@dataclass(frozen=True)
class Operation:
    """One route, called the way a client would; `{record_id}` is a record the caller made."""

    method: str
    path: str
    success: int
    allowed: frozenset[Role]
    json: dict | None = None
    upload_field: str | None = None  # the multipart field the test slice goes in


REVIEWERS = frozenset({Role.RADIOLOGIST, Role.ADMIN})

OPERATIONS = {
    "create_classification": Operation("POST", "/classify", 201, ALL_ROLES, upload_field="file"),
    "create_classification_batch": Operation(
        "POST", "/classify/batch", 200, ALL_ROLES, upload_field="files"
    ),
    "read_records": Operation("GET", "/records", 200, ALL_ROLES),
    "read_record": Operation("GET", "/records/{record_id}", 200, ALL_ROLES),
    "read_record_image": Operation("GET", "/records/{record_id}/image", 200, ALL_ROLES),
    "read_record_original": Operation("GET", "/records/{record_id}/original", 200, ALL_ROLES),
    "delete_record": Operation("DELETE", "/records/{record_id}", 204, ADMIN_ONLY),
    "create_review": Operation(
        "POST", "/records/{record_id}/reviews", 201, REVIEWERS, json={"action": "confirm"}
    ),
    "read_reviews": Operation("GET", "/records/{record_id}/reviews", 200, ALL_ROLES),
    "read_models": Operation("GET", "/models", 200, ALL_ROLES),
    "read_model": Operation("GET", "/models/{version}", 200, ALL_ROLES),
    "read_me": Operation("GET", "/me", 200, ALL_ROLES),
    "create_key": Operation(
        "POST", "/keys", 201, ADMIN_ONLY, json={"name": "new", "role": "radiologist"}
    ),
    "read_keys": Operation("GET", "/keys", 200, ADMIN_ONLY),
    "delete_key": Operation("DELETE", "/keys/{key_id}", 200, ADMIN_ONLY),
    "read_audit_events": Operation("GET", "/audit", 200, ADMIN_ONLY),
    "read_metrics": Operation("GET", "/metrics", 200, ADMIN_ONLY),
    "read_stats": Operation("GET", "/stats", 200, ALL_ROLES),
    "read_heatmap": Operation("GET", "/records/{record_id}/heatmap", 200, ALL_ROLES),
    "read_explanation": Operation("GET", "/records/{record_id}/explanation", 200, ALL_ROLES),
    "read_similar_records": Operation("GET", "/records/{record_id}/similar", 200, ALL_ROLES),
    "search_similar_upload": Operation("POST", "/similar", 200, ALL_ROLES, upload_field="file"),
    "read_record_fhir": Operation("GET", "/records/{record_id}/fhir", 200, ALL_ROLES),
    # The test record is a PNG: a DICOM rendering of it is refused, but only after access.
    "read_record_sr": Operation("GET", "/records/{record_id}/sr", 409, ALL_ROLES),
    "read_record_heatmap_dicom": Operation(
        "GET", "/records/{record_id}/heatmap.dcm", 409, ALL_ROLES
    ),
    # No PACS is configured in these tests: refused as such, but only after access.
    "classify_pacs_study": Operation(
        "POST", "/pacs/studies/{study_instance_uid}/classify", 409, ALL_ROLES
    ),
    "create_pacs_study_job": Operation(
        "POST", "/pacs/studies/{study_instance_uid}/jobs", 409, ALL_ROLES
    ),
    # No job exists in these tests: the caller is told so, but only after access.
    "read_job": Operation("GET", "/jobs/{job_id}", 404, ALL_ROLES),
}


def path_ids(record: dict, key_id: int) -> dict:
    """A value for every placeholder in OPERATIONS' paths: the caller's record, another key,
    and a study and a job that do not exist."""
    return {
        "record_id": record["id"],
        "version": record["model_version"],
        "key_id": key_id,
        "study_instance_uid": "1.2.3",
        "job_id": "0" * 32,
    }


def call(
    client: TestClient, operation: Operation, png: bytes, key: str, **ids: int | str
) -> httpx.Response:
    kwargs: dict = {"headers": {"Authorization": bearer(key)}, "json": operation.json}
    if operation.upload_field:
        kwargs["files"] = [(operation.upload_field, ("slice.png", png, "image/png"))]
    return client.request(operation.method, operation.path.format(**ids), **kwargs)


@pytest.fixture
def classify_as(client: TestClient, png_bytes: bytes) -> Callable[[str], dict]:
    """Classify the test slice with `key`; returns the new record."""

    def classify(key: str) -> dict:
        files = {"file": ("slice.png", png_bytes, "image/png")}
        response = client.post("/classify", files=files, headers={"Authorization": bearer(key)})
        assert response.status_code == 201, response.text
        return response.json()

    return classify


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("name", list(OPERATIONS))
def test_each_role_may_call_exactly_the_routes_meant_for_it(
    client: TestClient,
    make_api_key: Callable[..., str],
    classify_as: Callable[[str], dict],
    png_bytes: bytes,
    role: Role,
    name: str,
) -> None:
    operation = OPERATIONS[name]
    key = make_api_key(role)
    own_record = classify_as(key)
    ids = path_ids(own_record, issue_key(client, Role.RADIOLOGIST)["id"])

    response = call(client, operation, png_bytes, key, **ids)

    if role in operation.allowed:
        assert response.status_code == operation.success, response.text
    else:
        assert response.status_code == 403
        assert response.headers["content-type"] == PROBLEM_JSON
        assert f"A {role} key may not do this" in response.json()["detail"]


def issue_key(client: TestClient, role: Role) -> dict:
    # The test client itself carries an admin key.
    response = client.post("/keys", json={"name": f"spare-{role}", "role": role})
    assert response.status_code == 201, response.text
    return response.json()


def test_the_role_matrix_covers_every_route_that_needs_a_key(client: TestClient) -> None:
    in_matrix = {(operation.method, operation.path) for operation in OPERATIONS.values()}

    assert set(protected_routes(client)) == in_matrix


def protected_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path template) of every route in the API but the open ones."""
    paths = client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path not in OPEN_PATHS
        for method in operations
    ]


def concrete_requests(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) for every protected route, with 1 for each path parameter."""
    return [(method, re.sub(r"\{[^}]+\}", "1", path)) for method, path in protected_routes(client)]


@pytest.mark.parametrize(
    ("authorization", "why"),
    [
        (None, "This request needs an API key"),
        ("Bearer mdk_not-a-key-anyone-issued", "not recognised or has been revoked"),
        ("Basic dXNlcjpwYXNz", "This request needs an API key"),
        ("Bearer ", "This request needs an API key"),
    ],
)
def test_every_route_but_the_health_checks_refuses_a_missing_or_wrong_key_with_401(
    client: TestClient, authorization: str | None, why: str
) -> None:
    client.headers.pop("Authorization")
    headers = {"Authorization": authorization} if authorization else {}

    for method, path in concrete_requests(client):
        response = client.request(method, path, headers=headers)

        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == PROBLEM_JSON
        assert why in response.json()["detail"]


def test_the_health_check_needs_no_key(client: TestClient) -> None:
    client.headers.pop("Authorization")

    assert client.get("/healthz").status_code == 200


def test_a_revoked_key_is_refused_with_401_from_then_on(client: TestClient) -> None:
    issued = issue_key(client, Role.RADIOLOGIST)
    key = issued["key"]
    assert client.get("/me", headers={"Authorization": bearer(key)}).status_code == 200

    assert client.delete(f"/keys/{issued['id']}").status_code == 200

    response = client.get("/records", headers={"Authorization": bearer(key)})
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_me_tells_the_caller_its_key_name_and_role(
    client: TestClient, make_api_key: Callable[..., str]
) -> None:
    key = make_api_key(Role.INTEGRATION, "pacs-bridge")

    response = client.get("/me", headers={"Authorization": bearer(key)})

    assert response.json() == {"name": "pacs-bridge", "role": "integration"}


# ---- integration keys see only their own records ---------------------------------------


@pytest.fixture
def records_by_key(
    make_api_key: Callable[..., str], classify_as: Callable[[str], dict]
) -> dict[str, tuple[str, int]]:
    """Three keys, each with one record it created: name -> (key, record id)."""
    keys = {
        "integration": make_api_key(Role.INTEGRATION, "pacs-a"),
        "other_integration": make_api_key(Role.INTEGRATION, "pacs-b"),
        "radiologist": make_api_key(Role.RADIOLOGIST),
    }
    return {name: (key, classify_as(key)["id"]) for name, key in keys.items()}


def test_an_integration_key_lists_only_the_records_it_created(
    client: TestClient, records_by_key: dict[str, tuple[str, int]]
) -> None:
    key, own_record = records_by_key["integration"]

    page = client.get("/records", headers={"Authorization": bearer(key)}).json()

    assert [record["id"] for record in page["data"]] == [own_record]
    assert page["count"] == 1


def test_a_radiologist_key_lists_every_record(
    client: TestClient, records_by_key: dict[str, tuple[str, int]]
) -> None:
    key, _ = records_by_key["radiologist"]

    page = client.get("/records", headers={"Authorization": bearer(key)}).json()

    assert {record["id"] for record in page["data"]} == {
        record_id for _, record_id in records_by_key.values()
    }


@pytest.mark.parametrize("suffix", ["", "/image", "/original", "/reviews"])
@pytest.mark.parametrize("owner", ["other_integration", "radiologist"])
def test_an_integration_key_gets_the_same_404_for_another_keys_record_as_for_a_missing_one(
    client: TestClient, records_by_key: dict[str, tuple[str, int]], owner: str, suffix: str
) -> None:
    key, _ = records_by_key["integration"]
    _, foreign_record = records_by_key[owner]
    headers = {"Authorization": bearer(key)}

    foreign = client.get(f"/records/{foreign_record}{suffix}", headers=headers)
    missing = client.get(f"/records/999999{suffix}", headers=headers)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"] == missing.json()["detail"].replace(
        "999999", str(foreign_record)
    )


def test_an_integration_key_reads_its_own_record_and_image(
    client: TestClient, records_by_key: dict[str, tuple[str, int]], png_bytes: bytes
) -> None:
    key, own_record = records_by_key["integration"]
    headers = {"Authorization": bearer(key)}

    assert client.get(f"/records/{own_record}", headers=headers).status_code == 200
    assert client.get(f"/records/{own_record}/image", headers=headers).content == png_bytes


def test_the_openapi_schema_declares_the_bearer_scheme_and_the_401_answer(
    client: TestClient,
) -> None:
    schema = client.get("/openapi.json").json()

    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    read_records = schema["paths"]["/records"]["get"]
    assert {"ApiKey": []} in read_records["security"]
    assert "application/problem+json" in read_records["responses"]["401"]["content"]
