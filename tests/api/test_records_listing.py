"""GET /records: cursor paging, order and filters."""

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.services.records import RecordQuery, filter_conditions, page_statement

PROBLEM_JSON = "application/problem+json"
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ids_of(page: dict) -> list[int]:
    return [record["id"] for record in page["data"]]


def walk(client: TestClient, **params) -> list[list[int]]:
    """Every page, following next_cursor until it runs out."""
    pages = []
    page = client.get("/records", params=params).json()
    pages.append(ids_of(page))
    while page["next_cursor"] is not None:
        page = client.get("/records", params={**params, "cursor": page["next_cursor"]}).json()
        pages.append(ids_of(page))
    return pages


@pytest.fixture
def five_records(add_record: Callable[..., int]) -> list[int]:
    """Ids oldest first, one minute apart."""
    return [add_record(created_at=at(minute)) for minute in range(5)]


def test_following_next_cursor_visits_every_record_once_newest_first(
    client: TestClient, five_records: list[int]
) -> None:
    first, second, third, fourth, fifth = five_records

    pages = walk(client, limit=2)

    assert pages == [[fifth, fourth], [third, second], [first]]


def test_sort_oldest_pages_from_the_first_record(
    client: TestClient, five_records: list[int]
) -> None:
    first, second, third, fourth, fifth = five_records

    pages = walk(client, limit=2, sort="oldest")

    assert pages == [[first, second], [third, fourth], [fifth]]


def test_a_cursor_page_is_unchanged_by_records_added_after_the_first_page(
    client: TestClient, five_records: list[int], add_record: Callable[..., int]
) -> None:
    first_page = client.get("/records", params={"limit": 2}).json()
    add_record(created_at=at(10))
    add_record(created_at=at(11))

    second_page = client.get(
        "/records", params={"limit": 2, "cursor": first_page["next_cursor"]}
    ).json()

    assert ids_of(second_page) == [five_records[2], five_records[1]]
    assert second_page["count"] == 7


def test_records_created_in_the_same_instant_are_paged_by_id_without_loss(
    client: TestClient, add_record: Callable[..., int]
) -> None:
    same_time = [add_record(created_at=at(0)) for _ in range(3)]

    pages = walk(client, limit=1)

    assert pages == [[same_time[2]], [same_time[1]], [same_time[0]]]


def test_offset_paging_still_works_and_hands_out_a_cursor_for_what_follows(
    client: TestClient, five_records: list[int]
) -> None:
    page = client.get("/records", params={"offset": 1, "limit": 2}).json()
    after_it = client.get("/records", params={"limit": 2, "cursor": page["next_cursor"]}).json()

    assert ids_of(page) == [five_records[3], five_records[2]]
    assert ids_of(after_it) == [five_records[1], five_records[0]]
    assert after_it["next_cursor"] is None


def test_the_last_page_has_no_next_cursor(client: TestClient, five_records: list[int]) -> None:
    page = client.get("/records", params={"limit": 5}).json()

    assert len(page["data"]) == 5
    assert page["next_cursor"] is None


def forged_cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        forged_cursor(["a", "list"]),
        forged_cursor({"t": "yesterday", "i": 1, "s": "newest"}),
        forged_cursor({"t": "2026-11-01T08:00:00", "i": 1, "s": "newest"}),
        forged_cursor({"t": "2026-11-01T08:00:00+00:00", "i": 2**70, "s": "newest"}),
        forged_cursor({"t": "2026-11-01T08:00:00+00:00", "i": 1, "s": "sideways"}),
    ],
    ids=["garbage", "list", "bad-time", "naive-time", "huge-id", "bad-sort"],
)
def test_a_cursor_the_api_did_not_issue_gets_a_422_problem(
    client: TestClient, five_records: list[int], cursor: str
) -> None:
    response = client.get("/records", params={"cursor": cursor})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "next_cursor" in response.json()["detail"]


def test_a_cursor_from_one_sort_order_is_refused_in_the_other(
    client: TestClient, five_records: list[int]
) -> None:
    cursor = client.get("/records", params={"limit": 2}).json()["next_cursor"]

    response = client.get("/records", params={"cursor": cursor, "sort": "oldest"})

    assert response.status_code == 422
    assert "sorted `newest`" in response.json()["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"offset": 2, "cursor": "anything"},
        {"created_from": at(5).isoformat(), "created_to": at(1).isoformat()},
        {"created_from": "2026-11-01T08:00:00"},
        {"review_status": "approved"},
        {"sort": "random"},
        {"lable": "glioma"},
        {"label": "astrocytoma"},
        {"finding": "maybe"},
        {"modality": "MRI"},
        {"body_part": "brain"},
    ],
    ids=[
        "cursor-and-offset",
        "empty-window",
        "naive-time",
        "status",
        "sort",
        "unknown",
        "label",
        "finding",
        "modality",
        "body-part",
    ],
)
def test_contradictory_or_unknown_query_parameters_get_a_422_problem(
    client: TestClient, params: dict
) -> None:
    response = client.get("/records", params=params)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["errors"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("label", "meningioma"),
        ("label", "other_tumour"),
        ("finding", "tumour_suspected"),
        ("modality", "CT"),
        ("body_part", "CHEST"),
        ("model_version", "0.2.0"),
        ("source_system", "PACS-EAST"),
    ],
)
def test_a_filter_keeps_only_matching_records_and_count_counts_them_all(
    client: TestClient, add_record: Callable[..., int], field: str, value: str
) -> None:
    matching = [add_record(created_at=at(minute), **{field: value}) for minute in range(3)]
    add_record(created_at=at(10))

    page = client.get("/records", params={field: value, "limit": 2}).json()

    assert ids_of(page) == [matching[2], matching[1]]
    assert page["count"] == 3


@pytest.mark.parametrize(
    ("field", "value"), [("finding", "no_tumour"), ("label", "glioma")], ids=["finding", "label"]
)
def test_a_finding_or_class_filter_leaves_out_images_not_read_for_tumours(
    client: TestClient, add_record: Callable[..., int], field: str, value: str
) -> None:
    answered = add_record(finding="no_tumour", label="glioma", suitability="ok")
    before_the_gate = add_record(finding="no_tumour", label="glioma")
    # The model's output of a refused image is stored, but it is no answer.
    add_record(finding="no_tumour", label="glioma", suitability="out_of_distribution")

    page = client.get("/records", params={field: value}).json()

    assert sorted(ids_of(page)) == [answered, before_the_gate]
    assert page["count"] == 2


def test_a_modality_filter_lists_images_not_read_for_tumours_too(
    client: TestClient, add_record: Callable[..., int]
) -> None:
    refused = add_record(modality="DX", body_part="CHEST", suitability="out_of_distribution")
    add_record(modality="MR", body_part="BRAIN", suitability="ok")

    page = client.get("/records", params={"modality": "DX", "body_part": "CHEST"}).json()

    assert ids_of(page) == [refused]
    assert page["data"][0]["label"] is None


def test_filters_combine_and_the_cursor_keeps_them(
    client: TestClient, add_record: Callable[..., int]
) -> None:
    wanted = [
        add_record(created_at=at(minute), label="pituitary", source_system="PACS-EAST")
        for minute in range(3)
    ]
    add_record(created_at=at(1), label="pituitary", source_system="RIS-WEST")
    add_record(created_at=at(2), label="glioma", source_system="PACS-EAST")

    pages = walk(client, limit=2, label="pituitary", source_system="PACS-EAST")

    assert pages == [[wanted[2], wanted[1]], [wanted[0]]]


def test_the_created_window_includes_its_start_and_excludes_its_end(
    client: TestClient, five_records: list[int]
) -> None:
    page = client.get(
        "/records",
        params={"created_from": at(1).isoformat(), "created_to": at(3).isoformat()},
    ).json()

    assert ids_of(page) == [five_records[2], five_records[1]]
    assert page["count"] == 2


def test_the_created_window_compares_instants_across_time_zones(
    client: TestClient, five_records: list[int]
) -> None:
    # 10:03 at UTC+2 is 08:03 UTC: the fourth and fifth records.
    from_east = at(3).astimezone(timezone(timedelta(hours=2))).isoformat()

    page = client.get("/records", params={"created_from": from_east}).json()

    assert ids_of(page) == [five_records[4], five_records[3]]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"sort": "oldest"},
        {"label": "glioma"},
        {"review_status": "confirmed"},
        {"model_version": "0.2.0"},
        {"source_system": "PACS-EAST", "sort": "oldest"},
        {"finding": "tumour_suspected"},
        {"modality": "CT"},
        {"body_part": "CHEST", "sort": "oldest"},
    ],
)
def test_sqlite_reads_a_page_along_an_index_without_sorting_the_table(
    engine: Engine, params: dict
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans depend on table statistics; SQLite's do not")
    query = RecordQuery(**params)
    statement = page_statement(filter_conditions(query), query)
    sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))

    with engine.connect() as connection:
        plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]

    assert any("USING INDEX ix_record_" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


# ---- triage order and the suitability filter (issue #26) ----------------------------------


def test_sort_suspicion_lists_suspected_tumours_by_probability_then_indeterminate_then_no_tumour(
    client: TestClient, add_record: Callable[..., int]
) -> None:
    no_tumour = add_record(created_at=at(0), finding="no_tumour", tumour_probability=0.05)
    likely = add_record(created_at=at(1), finding="tumour_suspected", tumour_probability=0.97)
    before_findings = add_record(created_at=at(2))
    unsure = add_record(created_at=at(3), finding="indeterminate", tumour_probability=0.4)
    # A refused image's stored finding is no answer: it goes with the records without one.
    refused = add_record(
        created_at=at(4),
        finding="tumour_suspected",
        tumour_probability=0.99,
        suitability="out_of_distribution",
    )
    less_likely = add_record(created_at=at(5), finding="tumour_suspected", tumour_probability=0.7)

    page = client.get("/records", params={"sort": "suspicion"}).json()

    assert ids_of(page) == [likely, less_likely, unsure, no_tumour, refused, before_findings]
    assert page["count"] == 6


def test_sort_suspicion_pages_by_offset_and_refuses_a_cursor(
    client: TestClient, add_record: Callable[..., int]
) -> None:
    ids = [
        add_record(created_at=at(minute), finding="tumour_suspected", tumour_probability=p)
        for minute, p in enumerate([0.6, 0.9, 0.8])
    ]
    cursor = client.get("/records", params={"limit": 1}).json()["next_cursor"]

    first = client.get("/records", params={"sort": "suspicion", "limit": 2}).json()
    second = client.get("/records", params={"sort": "suspicion", "limit": 2, "offset": 2}).json()
    refused = client.get("/records", params={"sort": "suspicion", "cursor": cursor})

    assert ids_of(first) == [ids[1], ids[2]] and first["next_cursor"] is None
    assert ids_of(second) == [ids[0]]
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM_JSON


def test_sort_suspicion_keeps_the_filters(
    client: TestClient, add_record: Callable[..., int]
) -> None:
    wanted = add_record(finding="indeterminate", tumour_probability=0.4, review_status="unreviewed")
    add_record(finding="tumour_suspected", tumour_probability=0.9, review_status="confirmed")

    page = client.get(
        "/records", params={"sort": "suspicion", "review_status": "unreviewed"}
    ).json()

    assert ids_of(page) == [wanted]


@pytest.mark.parametrize("verdict", ["ok", "low_confidence", "out_of_distribution"])
def test_the_suitability_filter_keeps_only_records_with_that_verdict(
    client: TestClient, add_record: Callable[..., int], verdict: str
) -> None:
    made = {name: add_record(suitability=name) for name in ("ok", "low_confidence")}
    made["out_of_distribution"] = add_record(suitability="out_of_distribution")
    add_record()  # before the gate: no verdict

    page = client.get("/records", params={"suitability": verdict}).json()

    assert ids_of(page) == [made[verdict]]
    assert page["count"] == 1


def test_an_unknown_suitability_or_sort_is_a_422_problem(client: TestClient) -> None:
    for params in ({"suitability": "fine"}, {"sort": "riskiest"}):
        response = client.get("/records", params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == PROBLEM_JSON


STUDY = "a" * 64
OTHER_STUDY = "b" * 64


def test_the_study_filter_lists_the_slices_of_one_study_in_every_series(
    client: TestClient, add_record: Callable[..., int]
) -> None:
    # The study view asks for a study's slices by the hash its records carry.
    slices = [
        add_record(created_at=at(minute), study_uid_hash=STUDY, series_uid_hash=series * 64)
        for minute, series in enumerate("cdc")
    ]
    add_record(created_at=at(5), study_uid_hash=OTHER_STUDY)
    add_record(created_at=at(6))  # an upload that is no DICOM: no study

    pages = walk(client, limit=2, sort="oldest", study_uid_hash=STUDY)
    page = client.get("/records", params={"study_uid_hash": STUDY}).json()

    assert pages == [[slices[0], slices[1]], [slices[2]]]
    assert page["count"] == 3
    assert {record["study_uid_hash"] for record in page["data"]} == {STUDY}


@pytest.mark.parametrize("value", ["A" * 64, "a" * 63, "study-1", ""])
def test_a_study_filter_that_is_no_uid_hash_is_a_422_problem(
    client: TestClient, value: str
) -> None:
    response = client.get("/records", params={"study_uid_hash": value})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
