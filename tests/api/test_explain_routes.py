"""Heatmaps, similar cases and the input gate, through the API with the tiny model."""

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydicom.data import get_testdata_file
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.models import ApiKey, Record, Role
from ml.similar import embedding_to_bytes
from tests.api.conftest import encode, synthetic_head_slice
from tests.conftest import bearer

PROBLEM_JSON = "application/problem+json"
TINY_EMBEDDING_SIZE = 32  # width 4 × 8 channels in the last stage


def classify(client: TestClient, data: bytes, filename: str = "slice.png") -> dict:
    response = client.post("/classify", files={"file": (filename, data)})
    assert response.status_code == 201, response.text
    return response.json()


def count_records(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Record)).one()


def unit(*values: float) -> bytes:
    """A stored embedding whose first components are `values`, the rest zero."""
    vector = np.zeros(TINY_EMBEDDING_SIZE, np.float32)
    vector[: len(values)] = values
    return embedding_to_bytes(vector)


def decode_png(content: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED)


def test_a_classified_slice_carries_the_gate_verdict_and_stores_its_embedding(
    client: TestClient, png_bytes: bytes, engine: Engine
):
    record = classify(client, png_bytes)

    assert record["suitability"] in {"ok", "low_confidence"}
    assert record["suitability_reason"]
    assert record["final_label"] == record["label"]
    with Session(engine) as session:
        stored = session.get(Record, record["id"])
        assert len(stored.embedding) == TINY_EMBEDDING_SIZE * 4
    assert "embedding" not in record


def test_a_ct_is_stored_but_marked_out_of_distribution_and_given_no_diagnosis(
    client: TestClient,
):
    ct = Path(get_testdata_file("CT_small.dcm")).read_bytes()

    response = client.post("/classify", files={"file": ("ct.dcm", ct, "application/dicom")})

    record = response.json()
    assert response.status_code == 201
    assert record["suitability"] == "out_of_distribution"
    assert "Modality CT" in record["suitability_reason"]
    assert record["final_label"] is None
    assert client.get(f"/records/{record['id']}").json()["suitability"] == "out_of_distribution"


def test_a_colour_photo_is_marked_out_of_distribution(client: TestClient):
    photo = np.zeros((80, 80, 3), np.uint8)
    photo[:, :40] = (0, 0, 255)
    photo[:, 40:] = (0, 255, 0)

    record = classify(client, encode(photo, ".png"))

    assert record["suitability"] == "out_of_distribution"
    assert "colour" in record["suitability_reason"]


def test_the_heatmap_overlay_is_a_colour_png_of_the_records_size(
    client: TestClient, png_bytes: bytes
):
    record = classify(client, png_bytes)

    response = client.get(f"/records/{record['id']}/heatmap", params={"opacity": 0.6})

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    overlay = decode_png(response.content)
    assert overlay.shape == (record["height"], record["width"], 3)


def test_the_raw_heatmap_is_a_16_bit_map_on_the_images_grid(client: TestClient):
    slice_ = synthetic_head_slice(120)[:, 10:]  # not square: the map must follow the input
    record = classify(client, encode(slice_, ".png"))

    response = client.get(f"/records/{record['id']}/heatmap", params={"format": "raw"})

    raw = decode_png(response.content)
    assert raw.dtype == np.uint16 and raw.shape == slice_.shape
    assert raw.max() > 0


def test_zero_opacity_gives_back_the_slice_itself(client: TestClient, png_bytes: bytes):
    record = classify(client, png_bytes)

    overlay = decode_png(client.get(f"/records/{record['id']}/heatmap?opacity=0").content)

    np.testing.assert_array_equal(overlay[:, :, 0], synthetic_head_slice())


def test_the_explanation_reports_the_share_of_the_map_on_the_brain(
    client: TestClient, png_bytes: bytes
):
    record = classify(client, png_bytes)

    explanation = client.get(f"/records/{record['id']}/explanation").json()

    assert 0.0 <= explanation["mass_inside_brain"] <= 1.0
    assert explanation["implausible"] == (explanation["mass_inside_brain"] < 0.5)
    assert explanation["label"] in record["probabilities"]
    assert explanation["model_version"] == record["model_version"]


def test_the_explanation_of_an_image_not_read_for_tumours_names_no_class(client: TestClient):
    photo = np.zeros((80, 80, 3), np.uint8)
    photo[:, :40] = (0, 0, 255)
    record = classify(client, encode(photo, ".png"))
    assert record["suitability"] == "out_of_distribution"

    explanation = client.get(f"/records/{record['id']}/explanation")

    assert explanation.status_code == 200
    assert explanation.json()["label"] is None
    assert explanation.json()["implausible"] is True
    assert "not read for tumours" in explanation.json()["reason"]


@pytest.mark.parametrize("query", ["opacity=1.5", "format=jpeg"])
def test_bad_heatmap_parameters_are_a_422_problem(client: TestClient, png_bytes: bytes, query):
    record = classify(client, png_bytes)

    response = client.get(f"/records/{record['id']}/heatmap?{query}")

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON


def test_a_missing_records_heatmap_and_similar_cases_are_404_problems(client: TestClient):
    for path in ("/records/4242/heatmap", "/records/4242/explanation", "/records/4242/similar"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "4242" in response.json()["detail"]


def test_similar_cases_come_most_similar_first_with_reviewed_ones_preferred(
    client: TestClient, add_record: Callable[..., int]
):
    query = add_record(embedding=unit(1.0), label="glioma", image_sha256="a" * 64)
    close = add_record(embedding=unit(0.99, 0.14), label="glioma", image_sha256="b" * 64)
    # Not a near-duplicate of `close` (their cosine is 0.97): both are independent cases.
    reviewed = add_record(
        embedding=unit(0.98, 0.0, 0.2),
        label="glioma",
        review_status="corrected",
        reviewed_label="meningioma",
        image_sha256="c" * 64,
    )
    far = add_record(embedding=unit(0.0, 1.0), label="pituitary", image_sha256="d" * 64)

    cases = client.get(f"/records/{query}/similar", params={"k": 3}).json()["data"]

    assert [c["record"]["id"] for c in cases] == [reviewed, close, far]
    assert cases[0]["reviewed"] and cases[0]["record"]["final_label"] == "meningioma"
    assert cases[1]["similarity"] > cases[0]["similarity"] > cases[2]["similarity"]


def test_near_duplicates_are_marked_and_the_query_itself_is_left_out(
    client: TestClient, add_record: Callable[..., int]
):
    query = add_record(embedding=unit(1.0, 0.5), image_sha256="a" * 64)
    copy = add_record(embedding=unit(2.0, 1.0), image_sha256="b" * 64)  # same direction
    other = add_record(embedding=unit(0.5, 1.0), image_sha256="c" * 64)

    cases = client.get(f"/records/{query}/similar").json()["data"]

    by_id = {c["record"]["id"]: c for c in cases}
    assert set(by_id) == {copy, other}
    assert by_id[copy]["near_duplicate"] and not by_id[other]["near_duplicate"]


def test_copies_of_one_image_collapse_and_near_duplicates_of_the_query_come_last(
    client: TestClient, add_record: Callable[..., int]
):
    query = add_record(embedding=unit(1.0, 0.3), image_sha256="a" * 64)
    # Three copies of the query's image (same bytes twice, then re-encoded): one case stays.
    copy = add_record(
        embedding=unit(1.0, 0.3),
        image_sha256="a" * 64,
        review_status="confirmed",
        reviewed_label="glioma",
    )
    add_record(embedding=unit(1.0, 0.3), image_sha256="a" * 64)
    add_record(embedding=unit(1.0, 0.301), image_sha256="b" * 64)
    # Two near-identical images of another slice: one case stays, the better ranked.
    slice_a = add_record(embedding=unit(1.0, 0.6), image_sha256="c" * 64)
    add_record(embedding=unit(1.0, 0.601), image_sha256="d" * 64)
    distinct = add_record(embedding=unit(1.0, 1.0), image_sha256="e" * 64)

    cases = client.get(f"/records/{query}/similar", params={"k": 5}).json()["data"]

    assert [c["record"]["id"] for c in cases] == [slice_a, distinct, copy]
    assert [c["near_duplicate"] for c in cases] == [False, False, True]


def test_rejected_and_out_of_distribution_records_are_not_offered_as_cases(
    client: TestClient, add_record: Callable[..., int]
):
    query = add_record(embedding=unit(1.0))
    add_record(embedding=unit(1.0, 0.01), review_status="rejected")
    add_record(embedding=unit(1.0, 0.02), suitability="out_of_distribution")
    kept = add_record(embedding=unit(0.7, 0.7))

    cases = client.get(f"/records/{query}/similar").json()["data"]

    assert [c["record"]["id"] for c in cases] == [kept]


def test_an_integration_key_is_shown_only_its_own_records_as_similar_cases(
    client: TestClient,
    add_record: Callable[..., int],
    make_api_key: Callable[..., str],
    engine: Engine,
):
    key = make_api_key(Role.INTEGRATION, "pacs")
    with Session(engine) as session:
        key_id = session.exec(select(ApiKey.id).where(ApiKey.name == "pacs")).one()
    own_query = add_record(embedding=unit(1.0), created_by_key_id=key_id)
    add_record(embedding=unit(1.0, 0.1))  # someone else's, and very similar

    response = client.get(f"/records/{own_query}/similar", headers={"Authorization": bearer(key)})

    assert response.status_code == 200
    assert response.json()["data"] == []


def test_the_similar_case_index_is_built_from_the_stored_records_at_start_up(
    make_client: Callable[..., TestClient], add_record: Callable[..., int]
):
    add_record(embedding=unit(1.0))  # the tiny model's version: these weights made it
    add_record(embedding=unit(0.0, 1.0), model_version="another-model")

    client = make_client()

    assert len(client.app.state.similar_index) == 1


def test_a_similar_search_by_upload_stores_nothing(
    client: TestClient, png_bytes: bytes, engine: Engine
):
    stored = classify(client, png_bytes)
    before = count_records(engine)

    response = client.post("/similar", files={"file": ("q.png", png_bytes, "image/png")})

    assert response.status_code == 200
    body = response.json()
    assert body["query_record_id"] is None
    assert body["data"][0]["record"]["id"] == stored["id"]
    assert body["data"][0]["near_duplicate"]
    assert count_records(engine) == before


def test_a_similar_search_by_upload_refuses_a_file_that_is_not_an_image(client: TestClient):
    response = client.post("/similar", files={"file": ("notes.txt", b"hello", "text/plain")})

    assert response.status_code == 415
    assert response.headers["content-type"] == PROBLEM_JSON


def test_asking_for_too_many_similar_cases_is_a_422_problem(
    client: TestClient, add_record: Callable[..., int]
):
    query = add_record(embedding=unit(1.0))

    response = client.get(f"/records/{query}/similar", params={"k": 51})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
