"""Issuing, listing and revoking API keys: over HTTP, from the CLI, and at first start-up."""

import secrets
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api import keys as keys_cli
from api.models import ApiKey, Role
from api.security import BOOTSTRAP_ADMIN_NAME, hash_key, revoke_api_key
from api.settings import Settings
from tests.conftest import bearer

PUBLIC_KEY_FIELDS = {"id", "name", "role", "prefix", "created_at", "revoked_at"}


def as_key(key: str) -> dict[str, str]:
    return {"Authorization": bearer(key)}


def stored_keys(engine: Engine) -> list[ApiKey]:
    with Session(engine) as session:
        return list(session.exec(select(ApiKey)))


# ---- over HTTP --------------------------------------------------------------------------


def test_a_new_key_is_shown_once_and_only_its_hash_is_stored(
    client: TestClient, engine: Engine
) -> None:
    response = client.post("/keys", json={"name": "dr-jones", "role": "radiologist"})

    assert response.status_code == 201
    created = response.json()
    key = created["key"]
    assert set(created) == PUBLIC_KEY_FIELDS | {"key"}
    assert key.startswith(created["prefix"]) and len(created["prefix"]) < len(key) // 4
    stored = next(row for row in stored_keys(engine) if row.id == created["id"])
    assert stored.key_hash == hash_key(key)
    assert key not in repr(stored)


def test_a_new_key_works_at_once_with_its_name_and_role(client: TestClient) -> None:
    key = client.post("/keys", json={"name": "pacs", "role": "integration"}).json()["key"]

    assert client.get("/me", headers=as_key(key)).json() == {"name": "pacs", "role": "integration"}


def test_two_keys_are_never_the_same(client: TestClient) -> None:
    made = [client.post("/keys", json={"name": "n", "role": "admin"}).json() for _ in range(2)]

    assert made[0]["key"] != made[1]["key"]


def test_the_key_list_shows_prefixes_and_never_a_key_or_its_hash(client: TestClient) -> None:
    created = client.post("/keys", json={"name": "dr-jones", "role": "radiologist"}).json()

    page = client.get("/keys").json()

    assert page["count"] == 2  # the test client's own admin key and this one
    listed = next(entry for entry in page["data"] if entry["id"] == created["id"])
    assert set(listed) == PUBLIC_KEY_FIELDS
    assert created["key"] not in client.get("/keys").text


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "role": "superuser"},
        {"name": "", "role": "admin"},
        {"name": "x" * 101, "role": "admin"},
        {"role": "admin"},
    ],
)
def test_a_key_with_an_unknown_role_or_a_bad_name_gets_422_and_nothing_is_stored(
    client: TestClient, engine: Engine, body: dict
) -> None:
    before = len(stored_keys(engine))

    response = client.post("/keys", json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert len(stored_keys(engine)) == before


def test_revoking_a_key_stamps_it_and_it_stops_working(client: TestClient) -> None:
    created = client.post("/keys", json={"name": "old", "role": "radiologist"}).json()

    response = client.delete(f"/keys/{created['id']}")

    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert client.get("/me", headers=as_key(created["key"])).status_code == 401


def test_revoking_a_key_twice_keeps_the_first_revocation_time(client: TestClient) -> None:
    created = client.post("/keys", json={"name": "old", "role": "radiologist"}).json()

    first = client.delete(f"/keys/{created['id']}").json()
    second = client.delete(f"/keys/{created['id']}").json()

    assert second["revoked_at"] == first["revoked_at"]


def test_revoking_a_missing_key_gets_404(client: TestClient) -> None:
    response = client.delete("/keys/999999")

    assert response.status_code == 404
    assert response.json()["detail"] == "API key 999999 does not exist."


def test_the_last_active_admin_key_cannot_be_revoked(client: TestClient) -> None:
    own_id = client.get("/keys").json()["data"][0]["id"]  # the test client's admin key

    response = client.delete(f"/keys/{own_id}")

    assert response.status_code == 409
    assert "last active admin key" in response.json()["detail"]
    assert client.get("/me").status_code == 200


def test_an_admin_key_can_be_revoked_once_another_admin_key_exists(client: TestClient) -> None:
    own_id = client.get("/keys").json()["data"][0]["id"]
    other = client.post("/keys", json={"name": "admin-2", "role": "admin"}).json()

    assert client.delete(f"/keys/{own_id}", headers=as_key(other["key"])).status_code == 200
    assert client.get("/me").status_code == 401


# ---- the bootstrap admin key -------------------------------------------------------------


def test_the_bootstrap_key_becomes_an_admin_key_on_an_empty_database(
    make_client: Callable[..., TestClient],
) -> None:
    bootstrap = secrets.token_urlsafe(32)

    client = make_client(bootstrap_admin_key=SecretStr(bootstrap))

    me = client.get("/me", headers=as_key(bootstrap)).json()
    assert me == {"name": BOOTSTRAP_ADMIN_NAME, "role": "admin"}


def test_the_bootstrap_key_is_ignored_once_any_key_exists(
    make_client: Callable[..., TestClient], make_api_key: Callable[..., str]
) -> None:
    make_api_key(Role.RADIOLOGIST)
    bootstrap = secrets.token_urlsafe(32)

    client = make_client(bootstrap_admin_key=SecretStr(bootstrap))

    assert client.get("/me", headers=as_key(bootstrap)).status_code == 401


def test_a_bootstrap_key_ignored_because_keys_exist_says_so_at_start_up(
    make_client: Callable[..., TestClient],
    make_api_key: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_api_key(Role.RADIOLOGIST, "demo radiologist")  # what `make run` made before

    make_client(bootstrap_admin_key=SecretStr(secrets.token_urlsafe(32)))

    [warning] = [r.getMessage() for r in caplog.records if "BOOTSTRAP" in r.getMessage()]
    assert "already holds 1 API key(s)" in warning
    assert "python -m api.keys create" in warning


def test_the_bootstrap_command_run_before_the_demo_key_makes_the_bootstrap_key_work(
    make_client: Callable[..., TestClient], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    bootstrap = secrets.token_urlsafe(32)
    configured = settings.model_copy(update={"bootstrap_admin_key": SecretStr(bootstrap)})

    # scripts/run.sh, as `make run` runs it: bootstrap, then the demo radiologist key.
    assert keys_cli.main(["bootstrap"], settings=configured) == 0
    assert keys_cli.main(["create", "--name", "demo", "--role", "radiologist"], configured) == 0
    client = make_client(bootstrap_admin_key=SecretStr(bootstrap))

    me = client.get("/me", headers=as_key(bootstrap)).json()
    assert me == {"name": BOOTSTRAP_ADMIN_NAME, "role": "admin"}
    assert not [r for r in caplog.records if "BOOTSTRAP" in r.getMessage()]


def test_make_run_applies_the_bootstrap_key_before_it_creates_its_demo_key() -> None:
    script = (Path(__file__).resolve().parents[2] / "scripts" / "run.sh").read_text()

    assert script.index("api.keys bootstrap") < script.index("api.keys create")


def test_a_short_bootstrap_key_is_refused_when_the_settings_are_read() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(_env_file=None, bootstrap_admin_key="admin")


def test_an_empty_bootstrap_key_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIMG_BOOTSTRAP_ADMIN_KEY", "")

    assert Settings(_env_file=None).bootstrap_admin_key is None


# ---- the CLI ----------------------------------------------------------------------------


@pytest.fixture
def run_cli(settings: Settings, engine: Engine, capsys: pytest.CaptureFixture[str]):
    """Run `python -m api.keys ARGS` in-process on the test database: (exit code, out, err)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = keys_cli.main(list(args), settings=settings)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_the_cli_creates_a_key_that_the_api_accepts(client: TestClient, run_cli) -> None:
    code, out, err = run_cli("create", "--name", "dr-who", "--role", "radiologist")

    assert code == 0
    key = out.strip()
    assert "only time it is shown" in err
    assert client.get("/me", headers=as_key(key)).json() == {
        "name": "dr-who",
        "role": "radiologist",
    }


def test_the_cli_lists_keys_by_prefix_without_revealing_them(run_cli) -> None:
    _, key_out, _ = run_cli("create", "--name", "pacs", "--role", "integration")
    key = key_out.strip()

    code, out, _ = run_cli("list")

    assert code == 0
    assert key[:8] in out and "pacs" in out and "integration" in out and "active" in out
    assert key not in out


def test_the_cli_revokes_a_key_and_the_api_then_refuses_it(
    client: TestClient, run_cli, engine: Engine
) -> None:
    _, out, _ = run_cli("create", "--name", "old", "--role", "radiologist")
    key = out.strip()
    key_id = next(row.id for row in stored_keys(engine) if row.key_hash == hash_key(key))

    code, _, err = run_cli("revoke", str(key_id))

    assert code == 0 and "Revoked" in err
    assert client.get("/me", headers=as_key(key)).status_code == 401
    assert "revoked" in run_cli("list")[1]


# ---- a server's memory of the keys it has verified ----------------------------------------


def revoke_elsewhere(engine: Engine, key: str) -> None:
    """As another replica or the CLI does: in the shared database, not through this server."""
    with Session(engine) as session:
        api_key = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).one()
        revoke_api_key(session, api_key)


def test_a_key_revoked_elsewhere_is_refused_once_this_servers_memory_of_it_expires(
    make_client: Callable[..., TestClient], make_api_key: Callable[..., str], engine: Engine
) -> None:
    client = make_client(api_key_cache_seconds=1.0)
    key = make_api_key(Role.RADIOLOGIST, "remembered")
    assert client.get("/me", headers=as_key(key)).status_code == 200

    revoke_elsewhere(engine, key)

    # Verified a moment ago, the key is trusted without a lookup until its entry expires.
    assert client.get("/me", headers=as_key(key)).status_code == 200
    time.sleep(1.1)
    refused = client.get("/me", headers=as_key(key))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_with_the_memory_off_a_key_revoked_elsewhere_is_refused_at_once(
    make_client: Callable[..., TestClient], make_api_key: Callable[..., str], engine: Engine
) -> None:
    client = make_client(api_key_cache_seconds=0)
    key = make_api_key(Role.RADIOLOGIST, "looked-up-each-time")
    assert client.get("/me", headers=as_key(key)).status_code == 200

    revoke_elsewhere(engine, key)

    assert client.get("/me", headers=as_key(key)).status_code == 401


def test_the_cli_says_so_when_the_key_to_revoke_does_not_exist(run_cli) -> None:
    code, _, err = run_cli("revoke", "424242")

    assert code == 1
    assert "No API key has id 424242" in err


def test_the_cli_refuses_an_unknown_role(run_cli) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("create", "--name", "x", "--role", "superuser")

    assert exit_info.value.code == 2
