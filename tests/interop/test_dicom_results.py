"""GET /records/{id}/sr and /heatmap.dcm: DICOM files that dciodvfy accepts, that reference
the stored (de-identified) image, and that carry the record's result."""

import io
from collections.abc import Callable
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from fastapi.testclient import TestClient
from pydicom.sr.codedict import codes
from pydicom.uid import ComprehensiveSRStorage, SecondaryCaptureImageStorage

from ml.labels import CLASSES
from tests.interop.conftest import classify_dicom, mr_study, part10

# The SNOMED CT codes the SR gives the classes and findings that have one
# (api/interop/codes.py).
CLASS_CODES = {
    "glioma": "393564001",
    "meningioma": "302820008",
    "pituitary": "254956000",
    "no_tumor": "58899004",
}
FINDING_CODES = {"no_tumour": ("58899004", "SCT")}
SR_REVIEW_GROUP = "Radiologist review of record"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    # Rendering a stored record does not depend on the database backend, so these tests run
    # on SQLite only; the PACS tests, which write in transactions, run on both.
    return f"sqlite:///{tmp_path / 'medimg.db'}"


def get_dicom(client: TestClient, path: str) -> bytes:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/dicom"
    return response.content


def stored_original(client: TestClient, record_id: int) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(get_dicom(client, f"/records/{record_id}/original")))


def test_the_sr_passes_dciodvfy_without_errors(
    client: TestClient, mr_dicom_bytes: bytes, dciodvfy: Callable[[bytes], list[str]]
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)

    assert dciodvfy(get_dicom(client, f"/records/{record['id']}/sr")) == []


def test_dciodvfy_reports_an_sr_that_lacks_a_required_attribute(
    client: TestClient, mr_dicom_bytes: bytes, dciodvfy: Callable[[bytes], list[str]]
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)
    report = pydicom.dcmread(io.BytesIO(get_dicom(client, f"/records/{record['id']}/sr")))
    del report.ValueType  # Type 1 in the SR Document Content module
    broken = io.BytesIO()
    report.save_as(broken, enforce_file_format=True)

    assert dciodvfy(broken.getvalue()) != []


def test_the_sr_references_the_stored_image_and_names_the_model_as_observer(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)
    original = stored_original(client, record["id"])

    data = get_dicom(client, f"/records/{record['id']}/sr")

    report = hd.sr.srread(io.BytesIO(data))
    assert report.SOPClassUID == ComprehensiveSRStorage
    assert report.StudyInstanceUID == original.StudyInstanceUID
    evidence = report.CurrentRequestedProcedureEvidenceSequence[0]
    referenced = evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert referenced.ReferencedSOPInstanceUID == original.SOPInstanceUID
    # The originals are never kept, so they cannot be referenced.
    assert original.SOPInstanceUID != pydicom.dcmread(io.BytesIO(mr_dicom_bytes)).SOPInstanceUID
    [group] = report.content.get_image_measurement_groups()
    assert group.source_images[0].referenced_sop_instance_uid == original.SOPInstanceUID
    observer = report.content.get_observer_contexts(observer_type=codes.DCM.Device)[0]
    assert observer.observer_identifying_attributes.model_name == "tiny-untrained 0.0.0-test"


def test_the_sr_states_the_finding_first_then_every_probability_and_the_class(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)

    report = hd.sr.srread(io.BytesIO(get_dicom(client, f"/records/{record['id']}/sr")))

    [group] = report.content.get_image_measurement_groups()
    assert (group.finding_type.value, group.finding_type.scheme_designator) == (
        FINDING_CODES.get(record["finding"], (record["finding"], "99MEDIMG"))
    )
    assert [site.value.value for site in group.finding_sites] == [codes.SCT.Brain.value]
    measurements = group.get_measurements()
    assert measurements[0].name.meaning == "Probability that any tumour is present"
    assert abs(float(measurements[0].value) - record["tumour_probability"]) < 1e-6
    measured = {m.name.value: m.value for m in measurements[1:]}
    expected = {f"P-{name}": p for name, p in record["probabilities"].items()}
    assert expected.keys() <= measured.keys()
    for name, probability in expected.items():
        assert abs(float(measured[name]) - probability) < 1e-6
    evaluations = {e.name.value: e.value for e in group.get_qualitative_evaluations()}
    assert evaluations["tumour-class"].value == CLASS_CODES.get(record["label"], record["label"])
    assert evaluations[codes.DCM.Modality.value].value == "MR"
    assert evaluations["image-kind"].value == "brain_mri"


def test_the_sr_names_its_private_coding_scheme(client: TestClient, mr_dicom_bytes: bytes) -> None:
    record = classify_dicom(client, mr_dicom_bytes)

    report = pydicom.dcmread(io.BytesIO(get_dicom(client, f"/records/{record['id']}/sr")))

    [scheme] = report.CodingSchemeIdentificationSequence
    assert scheme.CodingSchemeDesignator == "99MEDIMG"
    assert scheme.CodingSchemeName.startswith("medimg")
    assert scheme.CodingSchemeResponsibleOrganization == "medimg"


def test_the_sr_of_an_image_not_read_for_tumours_holds_what_it_is_and_no_class(
    make_client: Callable[..., TestClient],
    chest_xray_model_dir: Path,
    mr_dicom_bytes: bytes,
    dciodvfy: Callable[[bytes], list[str]],
) -> None:
    client = make_client(model_dir=chest_xray_model_dir)
    record = classify_dicom(client, mr_dicom_bytes)
    assert record["suitability"] == "out_of_distribution"

    data = get_dicom(client, f"/records/{record['id']}/sr")

    report = hd.sr.srread(io.BytesIO(data))
    [group] = report.content.get_image_measurement_groups()
    assert group.finding_type is None
    assert [site.value.value for site in group.finding_sites] == [codes.SCT.Chest.value]
    assert [m.name.value for m in group.get_measurements()] == ["P-image-kind"]
    evaluations = {e.name.value: e.value.value for e in group.get_qualitative_evaluations()}
    assert evaluations == {
        codes.DCM.Modality.value: "DX",
        "image-kind": "chest_xray",
        "suitability": "out_of_distribution",
    }
    assert not any(name.encode() in data for name in CLASSES)
    assert dciodvfy(data) == []


def test_a_png_record_has_no_sr_and_gets_409(client: TestClient, png_bytes: bytes) -> None:
    record = client.post("/classify", files={"file": ("s.png", png_bytes, "image/png")}).json()

    response = client.get(f"/records/{record['id']}/sr")

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "DICOM source image" in response.json()["detail"]


def test_the_heatmap_is_a_secondary_capture_in_the_stored_images_study_passing_dciodvfy(
    client: TestClient, mr_dicom_bytes: bytes, dciodvfy: Callable[[bytes], list[str]]
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)
    original = stored_original(client, record["id"])

    data = get_dicom(client, f"/records/{record['id']}/heatmap.dcm")

    assert dciodvfy(data) == []
    capture = pydicom.dcmread(io.BytesIO(data))
    assert capture.SOPClassUID == SecondaryCaptureImageStorage
    assert capture.StudyInstanceUID == original.StudyInstanceUID
    assert capture.SeriesInstanceUID != original.SeriesInstanceUID
    assert (capture.Rows, capture.Columns) == (record["height"], record["width"])
    assert capture.PhotometricInterpretation == "RGB"


def test_the_heatmap_overlay_is_the_grey_slice_tinted_by_the_map(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)

    data = get_dicom(client, f"/records/{record['id']}/heatmap.dcm")

    rgb = pydicom.dcmread(io.BytesIO(data)).pixel_array.astype(int)
    # A grey slice has equal channels; the colour map makes them differ where the map is.
    tinted = np.any(rgb[..., 0] != rgb[..., 2], axis=None)
    assert tinted


def test_a_png_record_has_no_dicom_heatmap_and_gets_409(
    client: TestClient, png_bytes: bytes
) -> None:
    record = client.post("/classify", files={"file": ("s.png", png_bytes, "image/png")}).json()

    response = client.get(f"/records/{record['id']}/heatmap.dcm")

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


def review(client: TestClient, record_id: int, **body) -> dict:
    response = client.post(f"/records/{record_id}/reviews", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def get_sr(client: TestClient, record_id: int) -> hd.sr.ComprehensiveSR:
    return hd.sr.srread(io.BytesIO(get_dicom(client, f"/records/{record_id}/sr")))


def review_group(report: hd.sr.ComprehensiveSR):
    groups = report.content.get_image_measurement_groups()
    return [g for g in groups if g.tracking_identifier.startswith(SR_REVIEW_GROUP)]


def item_codes(group) -> set[str]:
    """The concept codes of a measurement group's own content items."""
    [container] = group
    return {item.ConceptNameCodeSequence[0].CodeValue for item in container.ContentSequence}


def predecessor_uids(report: pydicom.Dataset) -> list[str]:
    return [
        instance.ReferencedSOPInstanceUID
        for study in report.PredecessorDocumentsSequence
        for series in study.ReferencedSeriesSequence
        for instance in series.ReferencedSOPSequence
    ]


def test_an_unreviewed_sr_is_complete_but_unverified_and_preliminary(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)

    report = get_sr(client, record["id"])

    assert (report.CompletionFlag, report.VerificationFlag, report.PreliminaryFlag) == (
        "COMPLETE",
        "UNVERIFIED",
        "PRELIMINARY",
    )
    assert "PredecessorDocumentsSequence" not in report
    assert review_group(report) == []


def test_a_correction_makes_a_verified_final_sr_revision_with_the_radiologists_class(
    client: TestClient, mr_dicom_bytes: bytes, dciodvfy: Callable[[bytes], list[str]]
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)
    first = get_sr(client, record["id"])
    other = next(name for name in CLASS_CODES if name != record["label"])
    stored_review = review(client, record["id"], action="correct", label=other)

    data = get_dicom(client, f"/records/{record['id']}/sr")

    assert dciodvfy(data) == []
    report = hd.sr.srread(io.BytesIO(data))
    assert (report.CompletionFlag, report.VerificationFlag, report.PreliminaryFlag) == (
        "COMPLETE",
        "VERIFIED",
        "FINAL",
    )
    [verifier] = report.VerifyingObserverSequence
    assert verifier.VerifyingObserverName == "test-admin^"
    [key] = verifier.VerifyingObserverIdentificationCodeSequence
    assert key.CodeValue == str(stored_review["reviewer_key_id"])
    # A new instance in the same series, naming the AI's as its predecessor.
    assert report.SOPInstanceUID != first.SOPInstanceUID
    assert report.SeriesInstanceUID == first.SeriesInstanceUID
    assert predecessor_uids(report) == [first.SOPInstanceUID]
    # The conclusion is the radiologist's; the AI's group still says what the model said.
    [conclusion] = review_group(report)
    assert (conclusion.finding_type.value, conclusion.finding_type.scheme_designator) == (
        CLASS_CODES[other],
        "SCT",
    )
    # A person's conclusion: no algorithm, unlike the AI's group.
    [ai_group] = [g for g in report.content.get_image_measurement_groups() if g != conclusion]
    assert codes.DCM.AlgorithmName.value in item_codes(ai_group)
    assert codes.DCM.AlgorithmName.value not in item_codes(conclusion)
    person = report.content.get_observer_contexts(observer_type=codes.DCM.Person)
    assert person[0].observer_identifying_attributes.name == "test-admin^"


def test_each_review_makes_a_new_revision_that_names_the_one_before(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)
    review(client, record["id"], action="confirm")
    confirmed = get_sr(client, record["id"])
    review(client, record["id"], action="reject", note="Motion artefact.")

    rejected = get_sr(client, record["id"])

    assert predecessor_uids(rejected) == [confirmed.SOPInstanceUID]
    assert rejected.VerificationFlag == "VERIFIED"
    [verdict] = review_group(rejected)
    assert verdict.finding_type is None  # a rejection concludes no class
    [evaluation] = verdict.get_qualitative_evaluations()
    assert evaluation.value.value == "rejected"
    # The same revision every time it is asked for: a PACS stores it once.
    assert get_sr(client, record["id"]).SOPInstanceUID == rejected.SOPInstanceUID


def test_a_withdrawn_review_makes_an_unverified_preliminary_revision(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)
    review(client, record["id"], action="confirm")
    confirmed = get_sr(client, record["id"])
    review(client, record["id"], action="withdraw")

    withdrawn = get_sr(client, record["id"])

    assert (withdrawn.VerificationFlag, withdrawn.PreliminaryFlag) == ("UNVERIFIED", "PRELIMINARY")
    assert predecessor_uids(withdrawn) == [confirmed.SOPInstanceUID]
    assert review_group(withdrawn) == []


@pytest.mark.parametrize(
    "body",
    [{"action": "confirm"}, {"action": "correct", "label": "pituitary"}, {"action": "reject"}],
    ids=["confirm", "correct", "reject"],
)
def test_every_reviewed_sr_passes_dciodvfy_without_errors(
    client: TestClient,
    mr_dicom_bytes: bytes,
    dciodvfy: Callable[[bytes], list[str]],
    body: dict,
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)
    review(client, record["id"], **body)

    assert dciodvfy(get_dicom(client, f"/records/{record['id']}/sr")) == []


@pytest.mark.parametrize("label", ["pituitary", "no_tumor"])
def test_a_correction_to_pituitary_or_no_tumour_is_a_snomed_ct_conclusion_in_the_sr(
    client: TestClient, mr_dicom_bytes: bytes, label: str
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)
    review(client, record["id"], action="correct", label=label)

    [conclusion] = review_group(get_sr(client, record["id"]))

    assert (conclusion.finding_type.value, conclusion.finding_type.scheme_designator) == (
        CLASS_CODES[label],
        "SCT",
    )


def test_the_heatmap_references_its_source_image_and_names_the_body_part_without_laterality(
    client: TestClient, mr_dicom_bytes: bytes
) -> None:
    record = classify_dicom(client, mr_dicom_bytes)
    original = stored_original(client, record["id"])

    capture = pydicom.dcmread(io.BytesIO(get_dicom(client, f"/records/{record['id']}/heatmap.dcm")))

    [source] = capture.SourceImageSequence
    assert source.ReferencedSOPInstanceUID == original.SOPInstanceUID
    assert source.ReferencedSOPClassUID == original.SOPClassUID
    assert source.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
    assert capture.BodyPartExamined == "BRAIN"
    assert "Laterality" not in capture


def test_the_slices_of_one_study_share_one_sr_series_and_one_heatmap_series(
    client: TestClient, dciodvfy: Callable[[bytes], list[str]]
) -> None:
    slices = mr_study(slices=2)
    records = [classify_dicom(client, part10(dataset)) for dataset in slices]

    reports = [get_sr(client, record["id"]) for record in records]
    captures = [
        pydicom.dcmread(io.BytesIO(get_dicom(client, f"/records/{r['id']}/heatmap.dcm")))
        for r in records
    ]

    assert len({report.SeriesInstanceUID for report in reports}) == 1
    assert len({capture.SeriesInstanceUID for capture in captures}) == 1
    assert len({report.SOPInstanceUID for report in reports}) == 2
    assert len({capture.SOPInstanceUID for capture in captures}) == 2
    # Numbered like their slices, so a viewer shows them in the slices' order.
    assert [capture.InstanceNumber for capture in captures] == [1, 2]
    assert [report.InstanceNumber for report in reports] == [1, 2]
    assert all(dciodvfy(part10(capture)) == [] for capture in captures)
