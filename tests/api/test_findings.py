"""Tumour first, and only for brain MRI: the finding, the tumour probability and what the
recogniser saw, through the API with the tiny model (tests/api/conftest.py: its recogniser
reads every image as brain MRI, or, in `chest_xray_model_dir`, as a chest X-ray)."""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydicom.data import get_testdata_file
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.models import Record
from medimg_testing.tiny_model import TINY_MODEL_FINDING
from ml.labels import CLASSES, FOUR_CLASSES
from tests.api.conftest import encode

PROBLEM_JSON = "application/problem+json"
TUMOUR_ANSWER = ("finding", "tumour_probability", "label", "probabilities", "classes")


def classify(client: TestClient, data: bytes, filename: str = "slice.png") -> dict:
    response = client.post("/classify", files={"file": (filename, data)})
    assert response.status_code == 201, response.text
    return response.json()


def colour_photo() -> bytes:
    photo = np.zeros((80, 80, 3), np.uint8)
    photo[:, :40] = (0, 0, 255)
    photo[:, 40:] = (0, 255, 0)
    return encode(photo, ".png")


def expected_finding(tumour_probability: float) -> str:
    if tumour_probability < TINY_MODEL_FINDING["no_tumour_below"]:
        return "no_tumour"
    if tumour_probability >= TINY_MODEL_FINDING["tumour_suspected_from"]:
        return "tumour_suspected"
    return "indeterminate"


def assert_no_tumour_answer(record: dict) -> None:
    """Nothing of the tumour model in the public record: no field and no class name."""
    for field in (*TUMOUR_ANSWER, "final_label"):
        assert record[field] is None, field
    text = json.dumps(record)
    for name in CLASSES:
        assert name not in text, name


def test_a_brain_mri_gets_a_finding_first_then_its_class_and_the_recognisers_reading(
    client: TestClient, png_bytes: bytes, engine: Engine
) -> None:
    record = classify(client, png_bytes)

    fields = list(record)
    assert fields.index("finding") < fields.index("tumour_probability") < fields.index("label")
    assert record["tumour_probability"] == pytest.approx(
        1 - record["probabilities"]["no_tumor"], abs=1e-5
    )
    assert record["finding"] == expected_finding(record["tumour_probability"])
    assert record["classes"] == list(CLASSES)
    assert (record["modality"], record["body_part"], record["kind"]) == ("MR", "BRAIN", "brain_mri")
    assert 0.5 < record["kind_probability"] <= 1
    assert client.get(f"/records/{record['id']}").json() == record
    with Session(engine) as session:
        stored = session.get(Record, record["id"])
        assert (stored.finding, stored.modality, stored.body_part) == (
            record["finding"],
            "MR",
            "BRAIN",
        )
        assert stored.kind_probability == pytest.approx(record["kind_probability"])


def test_an_image_the_recogniser_reads_as_a_chest_xray_says_so_and_gets_no_tumour_answer(
    make_client: Callable[..., TestClient], chest_xray_model_dir: Path, png_bytes: bytes
) -> None:
    client = make_client(model_dir=chest_xray_model_dir)

    record = classify(client, png_bytes)

    assert record["suitability"] == "out_of_distribution"
    assert record["suitability_reason"].startswith("Not a brain MRI: it looks like a chest X-ray")
    assert (record["modality"], record["body_part"], record["kind"]) == (
        "DX",
        "CHEST",
        "chest_xray",
    )
    assert_no_tumour_answer(record)
    assert client.get(f"/records/{record['id']}").json() == record
    [listed] = client.get("/records").json()["data"]
    assert_no_tumour_answer(listed)


def test_the_model_output_of_a_refused_image_is_kept_but_never_sent(
    client: TestClient, engine: Engine
) -> None:
    record = classify(client, colour_photo())

    assert record["suitability"] == "out_of_distribution"
    assert "colour" in record["suitability_reason"]
    assert_no_tumour_answer(record)
    with Session(engine) as session:
        stored = session.get(Record, record["id"])
        assert stored.label in CLASSES and stored.finding is not None


def test_a_dicom_header_that_names_another_modality_than_the_pixels_show_is_refused_saying_so(
    client: TestClient,
) -> None:
    ct = Path(get_testdata_file("CT_small.dcm")).read_bytes()

    record = classify(client, ct, "ct.dcm")

    assert record["suitability"] == "out_of_distribution"
    assert "Modality CT" in record["suitability_reason"]
    assert "disagree" in record["suitability_reason"]
    assert_no_tumour_answer(record)


def test_a_batch_stores_the_finding_and_the_recognisers_reading_of_each_file(
    client: TestClient, png_bytes: bytes
) -> None:
    files = [("files", ("a.png", png_bytes, "image/png")), ("files", ("b.png", colour_photo()))]

    results = client.post("/classify/batch", files=files).json()["results"]

    mri, photo = (result["record"] for result in results)
    assert mri["finding"] is not None and mri["modality"] == "MR"
    assert photo["modality"] == "MR"  # what the recogniser saw; the colour cue refused it
    assert_no_tumour_answer(photo)


def test_a_record_of_a_four_class_model_keeps_its_four_probabilities_and_says_so(
    client: TestClient, add_record: Callable[..., int]
) -> None:
    record_id = add_record(model_version="0.6.1")

    record = client.get(f"/records/{record_id}").json()

    assert record["classes"] == list(FOUR_CLASSES)
    assert list(record["probabilities"]) == list(FOUR_CLASSES)
    assert record["finding"] is None and record["tumour_probability"] is None
    assert record["modality"] is None and record["kind"] is None


def test_the_openapi_schema_enumerates_five_classes_three_findings_and_the_recognisers_terms(
    client: TestClient,
) -> None:
    schema = client.get("/openapi.json").json()

    components = schema["components"]["schemas"]
    assert components["TumourClass"]["enum"] == list(CLASSES)
    assert components["Finding"]["enum"] == ["tumour_suspected", "indeterminate", "no_tumour"]
    assert "XC" in components["Modality"]["enum"] and "CHEST" in components["BodyPart"]["enum"]
    parameters = {p["name"] for p in schema["paths"]["/records"]["get"]["parameters"]}
    assert {"finding", "modality", "body_part", "label"} <= parameters
    examples = components["RecordPublic"]["examples"]
    assert any(example["suitability"] == "out_of_distribution" for example in examples)
    assert "other_tumour" in examples[0]["probabilities"]
    assert "409" in schema["paths"]["/records/{record_id}/reviews"]["post"]["responses"]
