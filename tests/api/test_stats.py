"""GET /stats: the dashboard's figures, over exactly the records the caller may see."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.models import Role
from tests.conftest import bearer

PROBLEM_JSON = "application/problem+json"


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def review(client: TestClient, record_id: int, action: str, label: str | None = None) -> None:
    body = {"action": action} | ({"label": label} if label else {})
    response = client.post(f"/records/{record_id}/reviews", json=body)
    assert response.status_code == 201, response.text


@pytest.fixture
def reviewed_records(client: TestClient, add_record: Callable[..., int]) -> None:
    """Three gliomas (confirmed, corrected, rejected), two pituitary (one confirmed)."""
    gliomas = [add_record(label="glioma", created_at=at(24, hour)) for hour in (9, 10, 23)]
    pituitary = [add_record(label="pituitary", created_at=at(25)) for _ in range(2)]
    review(client, gliomas[0], "confirm")
    review(client, gliomas[1], "correct", "meningioma")
    review(client, gliomas[2], "reject")
    review(client, pituitary[0], "confirm")


def stats(client: TestClient, **params) -> dict:
    response = client.get("/stats", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.usefixtures("reviewed_records")
def test_counts_per_predicted_and_final_label_list_every_class_of_the_model(
    client: TestClient,
) -> None:
    body = stats(client)

    assert body["total"] == 5
    assert body["by_label"] == {
        "glioma": 3,
        "meningioma": 0,
        "no_tumor": 0,
        "pituitary": 2,
        "other_tumour": 0,
    }
    # The corrected glioma counts as meningioma; the rejected one has no final label.
    assert body["by_final_label"] == {
        "glioma": 1,
        "meningioma": 1,
        "no_tumor": 0,
        "pituitary": 2,
        "other_tumour": 0,
    }
    assert body["by_review_status"] == {
        "unreviewed": 1,
        "confirmed": 2,
        "corrected": 1,
        "rejected": 1,
    }


@pytest.mark.usefixtures("reviewed_records")
def test_agreement_is_confirmed_over_confirmed_and_corrected_per_predicted_class(
    client: TestClient,
) -> None:
    agreement = {row["label"]: row for row in stats(client)["agreement"]}

    assert agreement["glioma"] == {
        "label": "glioma",
        "confirmed": 1,
        "corrected": 1,
        "rejected": 1,
        "agreement_rate": 0.5,
    }
    assert agreement["pituitary"]["agreement_rate"] == 1.0
    assert agreement["no_tumor"]["agreement_rate"] is None


@pytest.mark.usefixtures("reviewed_records")
def test_records_per_day_are_counted_by_utc_calendar_day_oldest_first(
    client: TestClient,
) -> None:
    assert stats(client)["per_day"] == [
        {"date": "2026-11-24", "count": 3},
        {"date": "2026-11-25", "count": 2},
    ]


@pytest.mark.usefixtures("reviewed_records")
def test_a_time_window_narrows_every_figure(client: TestClient) -> None:
    body = stats(client, created_from="2026-11-25T00:00:00Z", created_to="2026-11-26T00:00:00Z")

    assert body["total"] == 2
    assert body["by_label"]["glioma"] == 0
    assert body["per_day"] == [{"date": "2026-11-25", "count": 2}]


@pytest.fixture
def findings_and_kinds(client: TestClient, add_record: Callable[..., int]) -> None:
    """Three brain MRIs with a finding, one chest X-ray the gate refused (the model's output
    for it stored all the same, and a reviewer's correction of it), one record of an older
    model with neither a finding nor a recogniser's reading."""
    mri = {"modality": "MR", "body_part": "BRAIN", "kind": "brain_mri", "suitability": "ok"}
    add_record(label="glioma", finding="tumour_suspected", **mri)
    add_record(label="other_tumour", finding="tumour_suspected", **mri)
    add_record(label="no_tumor", finding="no_tumour", **mri)
    refused = add_record(
        label="glioma",
        finding="tumour_suspected",
        modality="DX",
        body_part="CHEST",
        kind="chest_xray",
        suitability="out_of_distribution",
    )
    add_record(label="pituitary")
    review(client, refused, "correct", "meningioma")


@pytest.mark.usefixtures("findings_and_kinds")
def test_findings_modalities_and_body_parts_are_counted_and_every_one_is_listed(
    client: TestClient,
) -> None:
    body = stats(client)

    assert body["total"] == 5
    assert body["by_finding"] == {"tumour_suspected": 2, "indeterminate": 0, "no_tumour": 1}
    assert body["by_modality"] == {"MR": 3, "CT": 0, "DX": 1, "US": 0, "OP": 0, "XC": 0, "SM": 0}
    assert body["by_body_part"]["BRAIN"] == 3
    assert body["by_body_part"]["CHEST"] == 1
    assert set(body["by_body_part"]) >= {"ABDOMEN", "KNEE", "TEETH", "EYE", "SKIN", "TISSUE"}


@pytest.mark.usefixtures("findings_and_kinds")
def test_an_image_not_read_for_tumours_counts_under_no_class_and_no_finding(
    client: TestClient,
) -> None:
    body = stats(client)

    assert body["by_label"] == {
        "glioma": 1,
        "meningioma": 0,
        "no_tumor": 1,
        "pituitary": 1,
        "other_tumour": 1,
    }
    # A radiologist's correction is a final label: the refused image counts under it there.
    assert body["by_final_label"]["meningioma"] == 1
    agreement = {row["label"]: row for row in body["agreement"]}
    assert agreement["glioma"]["corrected"] == 0


def test_an_unreviewed_image_not_read_for_tumours_has_no_final_label_to_count(
    client: TestClient, add_record: Callable[..., int]
) -> None:
    add_record(label="glioma", suitability="out_of_distribution")

    body = stats(client)

    assert body["total"] == 1
    assert set(body["by_label"].values()) == {0}
    assert set(body["by_final_label"].values()) == {0}


def test_with_no_records_every_count_is_zero_and_no_day_is_listed(client: TestClient) -> None:
    body = stats(client)

    assert body["total"] == 0
    assert set(body["by_label"].values()) == {0}
    assert body["per_day"] == []


def test_an_integration_key_counts_only_the_records_it_created(
    client: TestClient,
    make_api_key: Callable[..., str],
    png_bytes: bytes,
    add_record: Callable[..., int],
) -> None:
    add_record(label="glioma")  # made by nobody this key knows
    integration = {"Authorization": bearer(make_api_key(Role.INTEGRATION))}
    created = client.post(
        "/classify", files={"file": ("own.png", png_bytes, "image/png")}, headers=integration
    )
    assert created.status_code == 201, created.text

    response = client.get("/stats", headers=integration)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 1
    assert body["by_label"][created.json()["label"]] == 1
    listed = client.get("/records", headers=integration).json()["count"]
    assert body["total"] == listed
    assert stats(client)["total"] == 2


def test_a_reversed_time_window_is_a_422_problem_that_says_what_to_fix(
    client: TestClient,
) -> None:
    response = client.get(
        "/stats", params={"created_from": "2026-11-26T00:00:00Z", "created_to": "2026-11-25T00:00Z"}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    errors = response.json()["errors"]
    assert any("created_from" in str(error) for error in errors), errors


def test_without_a_key_the_stats_are_refused(client: TestClient) -> None:
    response = client.get("/stats", headers={"Authorization": ""})

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
