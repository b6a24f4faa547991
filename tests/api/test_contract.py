"""The API against its own live OpenAPI schema, with Schemathesis (v4).

Every operation is called with generated requests, as an admin: no answer may be a 5xx, and
each status code, content type and body must be one the schema declares for that operation.
Every operation but the health checks must refuse a request without a key (401).

SQLite only: this tests the HTTP contract, which the database backend does not change; the
other API tests run every route on SQLite and PostgreSQL both.

The schema is loaded when the module is imported (Schemathesis makes one test per operation
from it), from what `create_app` serves on /openapi.json; each test then sends its cases to
its own app, started by the `make_client` fixture (tiny model, temporary SQLite), through
`TESTED_APP`. (`schemathesis.pytest.from_fixture` would avoid that, but it does not run on
pytest >= 9.2.)
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, settings
from schemathesis import Case, GenerationMode
from schemathesis.schemas import BaseSchema

from api.main import create_app
from api.settings import Settings

OPEN_PATHS = ["/healthz", "/readyz"]
CONTRACT_CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    # Where an admin's request succeeds, the same request without or with a wrong key must not.
    "ignored_auth",
]


class ForwardingApp:
    """The ASGI app Schemathesis calls; it forwards each request to the current test's app.

    Lifespan events are dropped: `make_client` has already run the real lifespan, and
    Schemathesis would otherwise start it again and keep it running until the process exits.
    """

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            return
        assert self.app is not None, "no app to test: use the `tested_app` fixture"
        await self.app(scope, receive, send)


TESTED_APP = ForwardingApp()


def load_live_schema(*, phases: list[str], max_examples: int, modes: list[str]) -> BaseSchema:
    """The schema as the app serves it, with bounded, derandomized generation."""
    # Serving /openapi.json needs no lifespan: no model, no database.
    TESTED_APP.app = create_app(Settings(_env_file=None))
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", TESTED_APP)
    finally:
        TESTED_APP.app = None
    schema.config.phases.update(phases=phases)
    schema.config.generation.update(
        modes=modes, max_examples=max_examples, deterministic=True, database="none"
    )
    return schema


contract_schema = load_live_schema(
    phases=["examples", "coverage", "fuzzing"], max_examples=15, modes=["positive", "negative"]
)
contract_schema.config.checks.update(included_check_names=CONTRACT_CHECKS)
# Valid requests only: a malformed one may be refused for its shape before its key is read.
protected_schema = load_live_schema(
    phases=["examples", "fuzzing"], max_examples=3, modes=["positive"]
).exclude(path=OPEN_PATHS)


# Each operation's examples share one app and database, as requests to a live API would.
ONE_APP_PER_OPERATION = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only (see the module docstring); replaces the conftest's two backends."""
    return f"sqlite:///{tmp_path / 'medimg.db'}"


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> Iterator[TestClient]:
    """A started app, with an admin key in the client's headers, that the cases go to."""
    client = make_client()
    TESTED_APP.app = client.app
    yield client
    TESTED_APP.app = None


@pytest.fixture
def admin_key_id(client: TestClient) -> int:
    keys = client.get("/keys").json()["data"]
    return next(key["id"] for key in keys if key["name"] == "test-admin")


@contract_schema.parametrize()
@ONE_APP_PER_OPERATION
def test_every_operation_answers_as_its_schema_says_and_never_with_a_server_error(
    case: Case, client: TestClient, admin_key_id: int
) -> None:
    # Revoking its own key would leave the rest of the run nothing but 401s.
    assume(not revokes_key(case, admin_key_id))

    case.call_and_validate(headers={"Authorization": client.headers["Authorization"]})


def revokes_key(case: Case, key_id: int) -> bool:
    path_parameters = case.path_parameters or {}
    return case.method.upper() == "DELETE" and path_parameters.get("key_id") == key_id


@protected_schema.parametrize()
@ONE_APP_PER_OPERATION
def test_every_protected_operation_refuses_a_request_without_a_key(
    case: Case, client: TestClient
) -> None:
    assert case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE
    case.headers = {
        name: value for name, value in (case.headers or {}).items() if name != "Authorization"
    }

    response = case.call()

    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == ["Bearer"]


def test_only_the_health_checks_may_be_called_without_a_key() -> None:
    operations = [result.ok() for result in contract_schema.get_all_operations()]

    open_operations = {op.path for op in operations if not op.definition.raw.get("security")}
    assert sorted(open_operations) == OPEN_PATHS
    assert [
        op.label
        for op in operations
        if op.path not in OPEN_PATHS and "401" not in op.definition.raw["responses"]
    ] == []


def test_the_schema_under_test_is_the_one_the_app_serves(client: TestClient) -> None:
    assert client.get("/openapi.json").json() == contract_schema.raw_schema


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/classify", "multipart/form-data", b"no boundary"),
        ("/classify/batch", "multipart/form-data; boundary=x", b"not multipart"),
        ("/keys", "application/json", b"\xff{not utf-8"),
        ("/records/1/reviews", "application/json", b"\xff{not utf-8"),
    ],
)
def test_a_body_that_cannot_be_parsed_gets_the_documented_400_problem(
    client: TestClient, path: str, content_type: str, body: bytes
) -> None:
    response = client.post(path, content=body, headers={"Content-Type": content_type})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    template = path.replace("/1/", "/{record_id}/")
    assert "400" in contract_schema.raw_schema["paths"][template]["post"]["responses"]
