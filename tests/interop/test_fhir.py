"""GET /records/{id}/fhir: a FHIR R4 Bundle that fhir.resources parses and that says what the
record says: the AI result, its probabilities, the model, and who reviewed it."""

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle

from api.models import Role
from ml.labels import CLASSES
from tests.conftest import bearer
from tests.interop.conftest import classify_dicom

FHIR_JSON = "application/fhir+json"
CLASS_SYSTEM = "urn:medimg:brain-mri-class"
SNOMED = "http://snomed.info/sct"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
AIAST = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "AIAST")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    # Rendering a stored record does not depend on the database backend, so these tests run
    # on SQLite only; the PACS tests, which write in transactions, run on both.
    return f"sqlite:///{tmp_path / 'medimg.db'}"


def fhir_bundle(client: TestClient, record_id: int) -> Bundle:
    response = client.get(f"/records/{record_id}/fhir")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    # Parsed by the maintained FHIR model library: a malformed resource raises here.
    return Bundle.model_validate_json(response.content)


def resources(bundle: Bundle, resource_type: str) -> list:
    return [
        entry.resource
        for entry in bundle.entry
        if entry.resource.get_resource_type() == resource_type
    ]


def full_url_of(bundle: Bundle, resource) -> str:
    return next(entry.fullUrl for entry in bundle.entry if entry.resource is resource)


def security_labels(resource) -> set[tuple[str, str]]:
    return {(label.system, label.code) for label in resource.meta.security}


def review(client: TestClient, record_id: int, **body) -> None:
    response = client.post(f"/records/{record_id}/reviews", json=body)
    assert response.status_code == 201, response.text


def test_an_unreviewed_record_is_a_preliminary_report_of_the_ai_label(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)

    bundle = fhir_bundle(client, record["id"])

    assert bundle.type == "collection"
    [report] = resources(bundle, "DiagnosticReport")
    assert report.status == "preliminary"
    assert report.conclusionCode[0].coding[0].code == record["label"]
    assert record["label"].replace("_", " ") in report.conclusion
    assert AIAST in security_labels(report)


def test_each_class_probability_is_an_observation_the_report_lists(
    client: TestClient, png_bytes: bytes
) -> None:
    record = client.post("/classify", files={"file": ("s.png", png_bytes, "image/png")}).json()

    bundle = fhir_bundle(client, record["id"])

    observations = resources(bundle, "Observation")
    values = {
        obs.code.coding[0].code: obs.valueQuantity.value
        for obs in observations
        if obs.code.coding[0].system == CLASS_SYSTEM
    }
    assert values.keys() == record["probabilities"].keys()
    for name, probability in record["probabilities"].items():
        assert float(values[name]) == round(probability, 6)
    [report] = resources(bundle, "DiagnosticReport")
    listed = {reference.reference for reference in report.result}
    assert listed == {full_url_of(bundle, obs) for obs in observations}
    assert all(AIAST in security_labels(obs) for obs in observations)


def codes_of(concept) -> set[tuple[str, str]]:
    return {(coding.system, coding.code) for coding in concept.coding}


def test_the_reports_first_result_is_the_finding_with_the_tumour_probability_then_the_class(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)

    bundle = fhir_bundle(client, record["id"])

    [report] = resources(bundle, "DiagnosticReport")
    first = next(e.resource for e in bundle.entry if e.fullUrl == report.result[0].reference)
    assert first.code.coding[0].code == "tumour-finding"
    assert codes_of(first.valueCodeableConcept) == {
        ("urn:medimg:tumour-finding", record["finding"])
    }
    assert (SNOMED, "12738006") in codes_of(first.bodySite)  # Brain
    probability, most_probable = first.component
    assert probability.code.coding[0].code == "tumour-probability"
    assert float(probability.valueQuantity.value) == round(record["tumour_probability"], 6)
    assert most_probable.valueCodeableConcept.coding[0].code == record["label"]
    assert report.conclusion.index(record["finding"].replace("_", " ")) < report.conclusion.index(
        record["label"].replace("_", " ")
    )


def test_the_recogniser_reading_is_an_observation_with_the_dicom_modality_and_body_site(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)

    bundle = fhir_bundle(client, record["id"])

    [kind] = [
        obs for obs in resources(bundle, "Observation") if obs.code.coding[0].code == "image-kind"
    ]
    assert codes_of(kind.valueCodeableConcept) == {("urn:medimg:image-kind", "brain_mri")}
    assert codes_of(kind.bodySite) == {(SNOMED, "12738006")}
    modality, probability = kind.component
    assert codes_of(modality.code) == {(DICOM, "121139")}
    assert codes_of(modality.valueCodeableConcept) == {(DICOM, "MR")}
    assert float(probability.valueQuantity.value) == round(record["kind_probability"], 6)


def test_an_image_not_read_for_tumours_has_no_finding_class_or_probability_in_fhir(
    make_client: Callable[..., TestClient], chest_xray_model_dir: Path, png_bytes: bytes
) -> None:
    client = make_client(model_dir=chest_xray_model_dir)
    record = client.post("/classify", files={"file": ("s.png", png_bytes, "image/png")}).json()
    assert record["suitability"] == "out_of_distribution"

    response = client.get(f"/records/{record['id']}/fhir")
    bundle = fhir_bundle(client, record["id"])

    [kind] = resources(bundle, "Observation")
    assert codes_of(kind.valueCodeableConcept) == {("urn:medimg:image-kind", "chest_xray")}
    assert codes_of(kind.bodySite) == {(SNOMED, "816094009")}  # Chest
    assert codes_of(kind.component[0].valueCodeableConcept) == {(DICOM, "DX")}
    [report] = resources(bundle, "DiagnosticReport")
    assert report.conclusionCode is None
    assert "not read for tumours" in report.conclusion
    assert "chest X-ray" in report.conclusion
    for name in CLASSES:
        assert name not in response.text
        assert name.replace("_", " ") not in response.text


def test_glioma_and_meningioma_carry_their_snomed_ct_codes_beside_medimgs_own(
    client: TestClient, png_bytes: bytes
) -> None:
    record = client.post("/classify", files={"file": ("s.png", png_bytes, "image/png")}).json()
    review(client, record["id"], action="correct", label="meningioma")

    [report] = resources(fhir_bundle(client, record["id"]), "DiagnosticReport")

    assert report.conclusionCode[0].coding[0].code == "meningioma"
    assert (SNOMED, "302820008") in codes_of(report.conclusionCode[0])


def test_a_correction_to_other_tumour_is_coded_in_medimgs_scheme(
    client: TestClient, png_bytes: bytes
) -> None:
    record = client.post("/classify", files={"file": ("s.png", png_bytes, "image/png")}).json()
    review(client, record["id"], action="correct", label="other_tumour")

    [report] = resources(fhir_bundle(client, record["id"]), "DiagnosticReport")

    assert codes_of(report.conclusionCode[0]) == {(CLASS_SYSTEM, "other_tumour")}
    assert "corrected to other tumour" in report.conclusion


def test_the_model_is_a_device_that_authored_the_ai_result(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)

    bundle = fhir_bundle(client, record["id"])

    [device] = resources(bundle, "Device")
    assert device.deviceName[0].name == "tiny-untrained"  # the test model's card
    assert device.version[0].value == record["model_version"]
    [ai_provenance] = resources(bundle, "Provenance")
    assert ai_provenance.agent[0].who.reference == full_url_of(bundle, device)
    assert ai_provenance.agent[0].type.coding[0].code == "author"
    targets = {target.reference for target in ai_provenance.target}
    [report] = resources(bundle, "DiagnosticReport")
    assert full_url_of(bundle, report) in targets
    assert ai_provenance.entity[0].what.identifier.value == record["sop_uid_hash"]


def test_a_correction_makes_the_report_corrected_with_the_reviewed_label_and_its_own_provenance(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)
    other = next(name for name in record["probabilities"] if name != record["label"])
    review(client, record["id"], action="confirm")
    review(client, record["id"], action="correct", label=other, note="Dural tail.")

    bundle = fhir_bundle(client, record["id"])

    [report] = resources(bundle, "DiagnosticReport")
    assert report.status == "corrected"  # HL7: "modified to correct an error in the report"
    assert report.conclusionCode[0].coding[0].code == other
    reviews = [
        p for p in resources(bundle, "Provenance") if p.agent[0].type.coding[0].code == "verifier"
    ]
    assert len(reviews) == 2
    assert {p.agent[0].who.display for p in reviews} == {"test-admin"}
    assert reviews[-1].reason[0].text == "Dural tail."
    assert report.resultsInterpreter[0].display == "test-admin"


def test_a_rejected_ai_result_makes_the_report_and_its_observations_entered_in_error(
    client: TestClient, png_bytes: bytes
) -> None:
    record = client.post("/classify", files={"file": ("s.png", png_bytes, "image/png")}).json()
    review(client, record["id"], action="reject", note="Not a brain slice.")

    bundle = fhir_bundle(client, record["id"])

    [report] = resources(bundle, "DiagnosticReport")
    assert report.status == "entered-in-error"
    assert report.conclusionCode is None
    assert "rejected" in report.conclusion
    assert {obs.status for obs in resources(bundle, "Observation")} == {"entered-in-error"}


def test_an_unreviewed_reports_observations_are_preliminary_like_the_report(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)

    bundle = fhir_bundle(client, record["id"])

    [report] = resources(bundle, "DiagnosticReport")
    assert report.status == "preliminary"
    assert {obs.status for obs in resources(bundle, "Observation")} == {"preliminary"}


def test_a_confirmed_report_is_final_and_its_conclusion_is_not_marked_ai_asserted(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)
    review(client, record["id"], action="confirm")

    bundle = fhir_bundle(client, record["id"])

    [report] = resources(bundle, "DiagnosticReport")
    assert report.status == "final"
    assert report.meta is None or AIAST not in security_labels(report)
    observations = resources(bundle, "Observation")
    assert {obs.status for obs in observations} == {"final"}
    assert all(AIAST in security_labels(obs) for obs in observations)  # still the model's
    ai_provenance = next(
        p for p in resources(bundle, "Provenance") if p.agent[0].type.coding[0].code == "author"
    )
    assert full_url_of(bundle, report) not in {target.reference for target in ai_provenance.target}


def test_a_correction_makes_the_observations_final_and_the_report_the_radiologists(
    client: TestClient, png_bytes: bytes
) -> None:
    record = client.post("/classify", files={"file": ("s.png", png_bytes, "image/png")}).json()
    other = next(name for name in record["probabilities"] if name != record["label"])
    review(client, record["id"], action="correct", label=other)

    bundle = fhir_bundle(client, record["id"])

    [report] = resources(bundle, "DiagnosticReport")
    assert report.status == "corrected"
    assert report.meta is None or AIAST not in security_labels(report)
    assert report.conclusion.startswith("Radiologist test-admin corrected to")
    assert {obs.status for obs in resources(bundle, "Observation")} == {"final"}


def test_confirming_after_a_correction_is_corrected_not_final(
    client: TestClient, png_bytes: bytes
) -> None:
    record = client.post("/classify", files={"file": ("s.png", png_bytes, "image/png")}).json()
    other = next(name for name in record["probabilities"] if name != record["label"])
    review(client, record["id"], action="correct", label=other)
    review(client, record["id"], action="confirm")

    [report] = resources(fhir_bundle(client, record["id"]), "DiagnosticReport")

    # A released conclusion changed: HL7's `corrected`, though the latest verdict confirms.
    assert report.status == "corrected"
    assert report.conclusionCode[0].coding[0].code == record["label"]


def test_withdrawing_the_review_makes_the_report_preliminary_and_ai_asserted_again(
    client: TestClient, png_bytes: bytes
) -> None:
    record = client.post("/classify", files={"file": ("s.png", png_bytes, "image/png")}).json()
    review(client, record["id"], action="confirm")
    review(client, record["id"], action="withdraw")

    [report] = resources(fhir_bundle(client, record["id"]), "DiagnosticReport")

    assert report.status == "preliminary"
    assert AIAST in security_labels(report)


@pytest.mark.parametrize(
    ("label", "snomed"), [("pituitary", "254956000"), ("no_tumor", "58899004")]
)
def test_pituitary_and_no_tumour_carry_their_snomed_ct_codes(
    client: TestClient, png_bytes: bytes, label: str, snomed: str
) -> None:
    record = client.post("/classify", files={"file": ("s.png", png_bytes, "image/png")}).json()
    review(client, record["id"], action="correct", label=label)

    [report] = resources(fhir_bundle(client, record["id"]), "DiagnosticReport")

    assert report.conclusionCode[0].coding[0].code == label
    assert (SNOMED, snomed) in codes_of(report.conclusionCode[0])


def test_the_same_record_always_gives_the_same_resource_ids(
    client: TestClient, png_bytes: bytes
) -> None:
    record = client.post("/classify", files={"file": ("s.png", png_bytes, "image/png")}).json()

    first, second = fhir_bundle(client, record["id"]), fhir_bundle(client, record["id"])

    assert [e.fullUrl for e in first.entry] == [e.fullUrl for e in second.entry]


def test_an_integration_key_gets_404_for_another_keys_record(
    client: TestClient, make_api_key: Callable[..., str], png_bytes: bytes
) -> None:
    record = client.post("/classify", files={"file": ("s.png", png_bytes, "image/png")}).json()
    integration = bearer(make_api_key(Role.INTEGRATION))

    response = client.get(f"/records/{record['id']}/fhir", headers={"Authorization": integration})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_a_missing_record_gets_a_404_problem(client: TestClient) -> None:
    response = client.get("/records/424242/fhir")

    assert response.status_code == 404
    assert "424242" in response.json()["detail"]
