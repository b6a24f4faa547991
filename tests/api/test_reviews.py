"""Reviews: confirm, correct or reject a record; the model's own result never changes."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api.models import Role

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def record(client: TestClient, add_record: Callable[..., int]) -> dict:
    """An unreviewed record the model labelled glioma."""
    return client.get(f"/records/{add_record(label='glioma')}").json()


def review(client: TestClient, record_id: int, **body) -> dict:
    response = client.post(f"/records/{record_id}/reviews", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_an_unreviewed_record_shows_the_models_label_as_final(record: dict) -> None:
    assert record["review_status"] == "unreviewed"
    assert record["final_label"] == record["label"] == "glioma"


def test_confirming_keeps_the_models_label_and_names_the_reviewer(
    client: TestClient, record: dict
) -> None:
    created = review(client, record["id"], action="confirm", note="Agree.")

    assert created["action"] == "confirm"
    assert created["label"] is None
    assert created["note"] == "Agree."
    assert created["record_id"] == record["id"]
    assert created["reviewer_name"] == "test-admin"
    assert created["reviewer_key_id"] is not None
    after = client.get(f"/records/{record['id']}").json()
    assert after["review_status"] == "confirmed"
    assert after["final_label"] == "glioma"


def test_correcting_changes_the_final_label_but_not_the_models_result(
    client: TestClient, record: dict
) -> None:
    review(client, record["id"], action="correct", label="meningioma")

    after = client.get(f"/records/{record['id']}").json()

    assert after["review_status"] == "corrected"
    assert after["final_label"] == "meningioma"
    assert after["label"] == record["label"]
    assert after["probabilities"] == record["probabilities"]


def test_rejecting_leaves_no_final_label(client: TestClient, record: dict) -> None:
    review(client, record["id"], action="reject", note="Not a brain slice.")

    after = client.get(f"/records/{record['id']}").json()

    assert after["review_status"] == "rejected"
    assert after["final_label"] is None


def test_reviews_append_the_latest_decides_and_the_history_keeps_them_all(
    client: TestClient, record: dict
) -> None:
    first = review(client, record["id"], action="reject")
    second = review(client, record["id"], action="correct", label="pituitary")

    history = client.get(f"/records/{record['id']}/reviews").json()
    after = client.get(f"/records/{record['id']}").json()

    assert history == {"data": [first, second], "count": 2}
    assert (after["review_status"], after["final_label"]) == ("corrected", "pituitary")


def test_the_list_filters_on_review_status_and_shows_the_final_label(
    client: TestClient, add_record: Callable[..., int]
) -> None:
    corrected, _unreviewed = add_record(), add_record()
    review(client, corrected, action="correct", label="no_tumor")

    page = client.get("/records", params={"review_status": "corrected"}).json()

    assert [(r["id"], r["final_label"]) for r in page["data"]] == [(corrected, "no_tumor")]
    assert page["count"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"action": "correct"},
        {"action": "confirm", "label": "glioma"},
        {"action": "reject", "label": "meningioma"},
        {"action": "approve"},
        {"action": "correct", "label": "astrocytoma"},
        {"action": "confirm", "note": "x" * 2001},
        {"action": "correct", "label": "meningioma", "id": 99},
        {"action": "confirm", "review_status": "corrected"},
        {"action": "confirm", "created_at": "2020-01-01T00:00:00Z"},
        {"action": "confirm", "probabilities": {"meningioma": 1.0}},
        {"action": "confirm", "reviewer_name": "someone-else"},
    ],
    ids=[
        "correct-without-label",
        "confirm-with-label",
        "reject-with-label",
        "unknown-action",
        "label-not-a-class",
        "note-too-long",
        "extra-id",
        "extra-status",
        "extra-created-at",
        "extra-probabilities",
        "extra-reviewer",
    ],
)
def test_an_invalid_review_gets_a_422_problem_and_changes_nothing(
    client: TestClient, record: dict, body: dict
) -> None:
    response = client.post(f"/records/{record['id']}/reviews", json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert client.get(f"/records/{record['id']}").json() == record
    assert client.get(f"/records/{record['id']}/reviews").json() == {"data": [], "count": 0}


def test_a_correction_to_an_unknown_class_lists_the_classes_to_choose_from(
    client: TestClient, record: dict
) -> None:
    response = client.post(
        f"/records/{record['id']}/reviews", json={"action": "correct", "label": "astrocytoma"}
    )

    assert "glioma, meningioma, no_tumor, pituitary" in response.json()["detail"]


def test_a_record_of_a_five_class_model_may_be_corrected_to_other_tumour(
    client: TestClient, add_record: Callable[..., int]
) -> None:
    five = dict.fromkeys(("glioma", "meningioma", "no_tumor", "pituitary", "other_tumour"), 0.2)
    record_id = add_record(label="glioma", probabilities=five)

    created = review(client, record_id, action="correct", label="other_tumour")

    assert created["label"] == "other_tumour"
    assert client.get(f"/records/{record_id}").json()["final_label"] == "other_tumour"


def test_a_record_of_a_four_class_model_cannot_be_corrected_to_a_class_it_did_not_know(
    client: TestClient, record: dict
) -> None:
    response = client.post(
        f"/records/{record['id']}/reviews", json={"action": "correct", "label": "other_tumour"}
    )

    assert response.status_code == 422
    assert "glioma, meningioma, no_tumor, pituitary" in response.json()["detail"]


@pytest.fixture
def refused(client: TestClient, add_record: Callable[..., int]) -> dict:
    """A record the input gate found out of distribution (the model's output kept)."""
    record_id = add_record(
        label="glioma",
        suitability="out_of_distribution",
        suitability_reason="Not a brain MRI: it looks like a chest X-ray (0.98; brain MRI 0.01).",
    )
    return client.get(f"/records/{record_id}").json()


def test_an_image_not_read_for_tumours_cannot_be_confirmed_and_the_problem_says_what_to_do(
    client: TestClient, refused: dict
) -> None:
    response = client.post(f"/records/{refused['id']}/reviews", json={"action": "confirm"})

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    detail = response.json()["detail"]
    assert "no class to confirm" in detail and "chest X-ray" in detail
    assert "Correct it" in detail and "reject it" in detail
    assert client.get(f"/records/{refused['id']}").json() == refused
    assert client.get(f"/records/{refused['id']}/reviews").json()["count"] == 0


def test_an_image_not_read_for_tumours_may_be_corrected_to_a_class_or_rejected(
    client: TestClient, refused: dict
) -> None:
    review(client, refused["id"], action="correct", label="meningioma")
    corrected = client.get(f"/records/{refused['id']}").json()
    review(client, refused["id"], action="reject")
    rejected = client.get(f"/records/{refused['id']}").json()

    # The radiologist's class is the final label; the model's answer stays unsent.
    assert (corrected["final_label"], corrected["label"]) == ("meningioma", None)
    assert (rejected["review_status"], rejected["final_label"]) == ("rejected", None)


@pytest.mark.parametrize("method", ["get", "post"])
def test_reviews_of_a_missing_record_get_a_404_problem(client: TestClient, method: str) -> None:
    response = client.request(method, "/records/999/reviews", json={"action": "confirm"})

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["detail"] == "Record 999 does not exist."


def test_an_integration_key_can_neither_review_nor_read_another_keys_record(
    client: TestClient, record: dict, make_api_key: Callable[..., str]
) -> None:
    other_key = {"Authorization": f"Bearer {make_api_key(Role.INTEGRATION)}"}
    path = f"/records/{record['id']}/reviews"

    posted = client.post(path, json={"action": "reject"}, headers=other_key)
    history = client.get(path, headers=other_key)

    assert posted.status_code in (403, 404)
    assert history.status_code == 404
    assert client.get(f"/records/{record['id']}").json()["review_status"] == "unreviewed"


def test_a_review_naming_its_record_and_model_output_is_saved(
    client: TestClient, record: dict
) -> None:
    body = {
        "action": "confirm",
        "record_id": record["id"],
        "model_version": record["model_version"],
    }
    response = client.post(f"/records/{record['id']}/reviews", json=body)

    assert response.status_code == 201, response.text
    created = response.json()

    assert created["record_id"] == record["id"]
    assert client.get(f"/records/{record['id']}").json()["review_status"] == "confirmed"


@pytest.mark.parametrize(
    ("names", "says"),
    [
        ({"record_id": 987654}, "names record 987654"),
        ({"model_version": "0.1.0"}, "model 0.1.0"),
    ],
)
def test_a_review_of_another_record_or_model_output_gets_a_409_and_saves_nothing(
    client: TestClient, record: dict, names: dict, says: str
) -> None:
    response = client.post(f"/records/{record['id']}/reviews", json={"action": "reject", **names})

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    assert says in response.json()["detail"]
    assert client.get(f"/records/{record['id']}").json() == record
    assert client.get(f"/records/{record['id']}/reviews").json()["count"] == 0


def test_a_confirm_of_a_not_assessable_record_naming_it_is_still_refused(
    client: TestClient, refused: dict
) -> None:
    body = {
        "action": "confirm",
        "record_id": refused["id"],
        "model_version": refused["model_version"],
    }
    response = client.post(f"/records/{refused['id']}/reviews", json=body)

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    corrected = client.post(
        f"/records/{refused['id']}/reviews", json={**body, "action": "correct", "label": "glioma"}
    )
    assert corrected.status_code == 201, corrected.text
    assert client.get(f"/records/{refused['id']}").json()["final_label"] == "glioma"


def test_withdrawing_undoes_a_first_review_and_the_history_keeps_both(
    client: TestClient, record: dict
) -> None:
    review(client, record["id"], action="reject", note="Wrong key.")
    undone = review(client, record["id"], action="withdraw", note="Undo")

    after = client.get(f"/records/{record['id']}").json()
    history = client.get(f"/records/{record['id']}/reviews").json()["data"]
    assert undone["label"] is None
    assert (after["review_status"], after["final_label"]) == ("unreviewed", "glioma")
    assert [item["action"] for item in history] == ["reject", "withdraw"]
    fhir = client.get(f"/records/{record['id']}/fhir")
    assert fhir.status_code in (200, 404, 409), fhir.text
