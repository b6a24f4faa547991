"""The audit trail: a row for every call to a route that needs a key, refusals included."""

import functools
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

import api.audit
from api.audit import AnonymousRefusals, AppendOnlyError
from api.models import AuditEvent, Role
from tests.conftest import bearer

SECRET_FILENAME = "Jane-Doe-1961-03-04.png"


def audit_events(engine: Engine) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))))


def last_event(engine: Engine) -> AuditEvent:
    return audit_events(engine)[-1]


def test_an_allowed_classification_is_recorded_with_who_did_it(
    client: TestClient, engine: Engine, make_api_key: Callable[..., str], png_bytes: bytes
) -> None:
    key = make_api_key(Role.RADIOLOGIST, "dr-jones")

    client.post(
        "/classify",
        files={"file": ("slice.png", png_bytes, "image/png")},
        headers={"Authorization": bearer(key)},
    )

    event = last_event(engine)
    assert (event.key_name, event.key_role) == ("dr-jones", "radiologist")
    assert event.key_id is not None
    assert (event.action, event.status_code) == ("create_classification", 201)
    assert event.client_address == "testclient"
    assert event.occurred_at.tzinfo is not None


def test_a_classification_is_recorded_once_naming_the_record_it_created(
    client: TestClient, engine: Engine, png_bytes: bytes
) -> None:
    files = {"file": ("slice.png", png_bytes, "image/png")}

    record_id = client.post("/classify", files=files).json()["id"]

    (event,) = audit_events(engine)
    assert (event.action, event.record_id, event.status_code) == (
        "create_classification",
        record_id,
        201,
    )


def test_a_batch_classification_is_recorded_once(
    client: TestClient, engine: Engine, png_bytes: bytes, jpeg_bytes: bytes
) -> None:
    files = [("files", ("a.png", png_bytes, "image/png")), ("files", ("b.jpg", jpeg_bytes))]

    assert client.post("/classify/batch", files=files).status_code == 200

    assert [(e.action, e.status_code) for e in audit_events(engine)] == [
        ("create_classification_batch", 200)
    ]


def test_a_classification_that_fails_to_commit_is_still_recorded(
    client_whose_commits_fail: TestClient, engine: Engine, png_bytes: bytes
) -> None:
    # The route's own audit row goes down with its rolled-back transaction; the failure
    # that follows must still leave a row.
    client = client_whose_commits_fail

    response = client.post("/classify", files={"file": ("slice.png", png_bytes, "image/png")})

    assert response.status_code == 500
    assert [(e.action, e.status_code) for e in audit_events(engine)] == [
        ("create_classification", 500)
    ]


def test_reading_a_record_records_its_id(client: TestClient, engine: Engine, png_bytes) -> None:
    files = {"file": ("slice.png", png_bytes, "image/png")}
    record_id = client.post("/classify", files=files).json()["id"]

    client.get(f"/records/{record_id}")

    event = last_event(engine)
    assert (event.action, event.record_id, event.status_code) == ("read_record", record_id, 200)


def test_a_call_without_a_key_is_recorded_as_a_401_from_nobody(
    client: TestClient, engine: Engine
) -> None:
    client.headers.pop("Authorization")

    client.get("/records/7")

    event = last_event(engine)
    assert (event.key_id, event.key_name, event.key_role) == (None, None, None)
    assert (event.action, event.record_id, event.status_code) == ("read_record", 7, 401)


def test_a_call_with_a_role_that_may_not_is_recorded_as_a_403_with_the_key(
    client: TestClient, engine: Engine, make_api_key: Callable[..., str]
) -> None:
    key = make_api_key(Role.RADIOLOGIST, "dr-jones")

    client.get("/keys", headers={"Authorization": bearer(key)})

    event = last_event(engine)
    assert (event.key_name, event.action, event.status_code) == ("dr-jones", "read_keys", 403)


def test_an_integration_key_reaching_for_another_keys_record_is_recorded_as_a_404(
    client: TestClient, engine: Engine, make_api_key: Callable[..., str], png_bytes: bytes
) -> None:
    files = {"file": ("slice.png", png_bytes, "image/png")}
    foreign_record = client.post("/classify", files=files).json()["id"]
    key = make_api_key(Role.INTEGRATION, "pacs")

    client.get(f"/records/{foreign_record}", headers={"Authorization": bearer(key)})

    event = last_event(engine)
    assert (event.key_name, event.record_id, event.status_code) == ("pacs", foreign_record, 404)


def test_the_health_check_is_not_audited(client: TestClient, engine: Engine) -> None:
    before = len(audit_events(engine))

    client.get("/healthz")

    assert len(audit_events(engine)) == before


def test_no_file_name_or_query_string_reaches_the_audit_trail(
    client: TestClient, engine: Engine, png_bytes: bytes
) -> None:
    files = {"file": (SECRET_FILENAME, png_bytes, "image/png")}
    client.post("/classify", files=files)
    client.get("/records", params={"offset": 0, "limit": 5})

    stored = " ".join(repr(event) for event in audit_events(engine))

    assert SECRET_FILENAME not in stored
    assert "limit" not in stored


def test_audit_events_cannot_be_changed_or_deleted_through_the_app(
    client: TestClient, engine: Engine
) -> None:
    client.get("/me")
    with Session(engine) as session:
        event = session.exec(select(AuditEvent)).first()
        event.status_code = 200 if event.status_code != 200 else 500
        session.add(event)
        with pytest.raises(AppendOnlyError):
            session.commit()
        session.rollback()
        session.delete(event)
        with pytest.raises(AppendOnlyError):
            session.commit()


def test_admins_page_through_the_audit_trail_newest_first(client: TestClient) -> None:
    for path in ("/me", "/records", "/keys"):
        client.get(path)

    page = client.get("/audit", params={"limit": 2}).json()
    rest = client.get("/audit", params={"offset": 2, "limit": 2}).json()

    assert [event["action"] for event in page["data"]] == ["read_keys", "read_records"]
    # The first GET /audit was itself recorded, so everything after it moved down by one.
    assert [event["action"] for event in rest["data"]] == ["read_records", "read_me"]
    assert page["count"] == 3 and rest["count"] == 4


@pytest.fixture
def audit_clock_in_one_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """The apps built after this count anonymous refusals in one fixed minute: windows are
    wall-clock minutes, which a flood on a slow machine, or one started at second 59, would
    otherwise cross (a second row, rightly)."""
    fixed = functools.partial(api.audit.AnonymousRefusals, clock=lambda: 600.0)
    monkeypatch.setattr(api.audit, "AnonymousRefusals", fixed)


def test_an_unauthenticated_flood_writes_one_audit_row_per_address_a_minute_and_counts_the_rest(
    audit_clock_in_one_minute: None, client: TestClient, engine: Engine
) -> None:
    key = client.headers.pop("Authorization")
    before = len(audit_events(engine))

    answers = [client.get(f"/records/{n}").status_code for n in range(200)]
    answers += [client.post("/classify", files={"file": ("a.png", b"x")}).status_code]

    assert set(answers) == {401}
    rows = audit_events(engine)[before:]
    assert [(row.status_code, row.key_id, row.record_id) for row in rows] == [(401, None, 0)]
    metrics = client.get("/metrics", headers={"Authorization": key}).text
    assert "medimg_audit_anonymous_refusals_unrecorded_total 200.0" in metrics


def test_anonymous_refusals_get_a_row_per_address_each_minute_up_to_a_cap() -> None:
    now = [600.0]
    refusals = AnonymousRefusals(window_s=60, max_addresses=2, clock=lambda: now[0])

    first_minute = [refusals.first_in_window(a) for a in ("10.0.0.1", "10.0.0.1", "10.0.0.2")]
    past_the_cap = refusals.first_in_window("10.0.0.3")
    now[0] += 60
    next_minute = [refusals.first_in_window(a) for a in ("10.0.0.3", "10.0.0.1", "10.0.0.1")]

    assert first_minute == [True, False, True]
    assert past_the_cap is False
    assert next_minute == [True, True, False]
