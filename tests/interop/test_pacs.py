"""POST /pacs/studies/{uid}/classify against a real Orthanc on loopback: pull, classify,
push back, idempotency, and every PACS failure leaving nothing behind."""

import copy
import hashlib
import hmac
import io
from collections.abc import Callable

import highdicom as hd
import pydicom
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.models import Record
from api.settings import DEFAULT_UID_HASH_SALT
from tests.interop.conftest import Pacs, mr_study, part10

SOURCE = "orthanc-test"


def classify_study(client: TestClient, study_uid: str, push: bool = False):
    return client.post(f"/pacs/studies/{study_uid}/classify", params={"push": push})


def uid_hash(uid: str) -> str:
    return hmac.new(DEFAULT_UID_HASH_SALT.encode(), uid.encode(), hashlib.sha256).hexdigest()


def record_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Record)).one()


def assert_problem(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    for word in words:
        assert word in detail


def test_pulling_a_study_makes_one_record_per_mr_image_with_the_pacs_as_source(
    pacs_client: TestClient, pacs: Pacs
) -> None:
    study = mr_study(slices=3)
    pacs.upload(study)

    response = classify_study(pacs_client, study[0].StudyInstanceUID)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["study_uid_hash"] == uid_hash(study[0].StudyInstanceUID)
    assert [item["outcome"] for item in answer["instances"]] == ["created"] * 3
    assert {item["sop_uid_hash"] for item in answer["instances"]} == {
        uid_hash(dataset.SOPInstanceUID) for dataset in study
    }
    for item in answer["instances"]:
        assert item["record"]["source_system"] == SOURCE
        assert item["record"]["sop_uid_hash"] == item["sop_uid_hash"]
        assert item["record"]["media_type"] == "application/dicom"
    listed = pacs_client.get("/records", params={"source_system": SOURCE}).json()
    assert listed["count"] == 3


def test_pulling_the_same_study_twice_creates_no_duplicates(
    pacs_client: TestClient, pacs: Pacs, engine: Engine
) -> None:
    study = mr_study(slices=2)
    pacs.upload(study)
    first = classify_study(pacs_client, study[0].StudyInstanceUID).json()

    second = classify_study(pacs_client, study[0].StudyInstanceUID)

    assert second.status_code == 200, second.text
    assert [item["outcome"] for item in second.json()["instances"]] == ["existing"] * 2
    first_ids = sorted(item["record"]["id"] for item in first["instances"])
    assert sorted(item["record"]["id"] for item in second.json()["instances"]) == first_ids
    assert record_count(engine) == 2


def test_push_stores_an_sr_and_a_heatmap_per_image_next_to_the_study(
    pacs_client: TestClient, pacs: Pacs, dciodvfy: Callable[[bytes], list[str]]
) -> None:
    study = mr_study(slices=2)
    study_uid = study[0].StudyInstanceUID
    pacs.upload(study)

    response = classify_study(pacs_client, study_uid, push=True)

    assert response.status_code == 200, response.text
    assert (response.json()["pushed_reports"], response.json()["pushed_heatmaps"]) == (2, 2)
    in_pacs = [pacs.instance_file(found["ID"]) for found in pacs.instances(study_uid)]
    assert sorted(dataset.Modality for dataset in in_pacs) == ["MR", "MR", "OT", "OT", "SR", "SR"]
    # In the PACS the results name the PACS's own images, so its viewer links them.
    originals = {dataset.SOPInstanceUID for dataset in study}
    for report in (dataset for dataset in in_pacs if dataset.Modality == "SR"):
        [group] = hd.sr.ComprehensiveSR.from_dataset(report).content.get_image_measurement_groups()
        assert group.source_images[0].referenced_sop_instance_uid in originals
        assert dciodvfy(part10(report)) == []


def test_a_second_pull_with_push_skips_its_own_results_and_adds_nothing_to_the_pacs(
    pacs_client: TestClient, pacs: Pacs, engine: Engine
) -> None:
    study = mr_study(slices=1)
    pacs.upload(study)
    classify_study(pacs_client, study[0].StudyInstanceUID, push=True)

    again = classify_study(pacs_client, study[0].StudyInstanceUID, push=True)

    assert again.status_code == 200, again.text
    outcomes = sorted(item["outcome"] for item in again.json()["instances"])
    assert outcomes == ["existing", "skipped", "skipped"]  # the MR image, its SR and heatmap
    assert len(pacs.instances(study[0].StudyInstanceUID)) == 3
    assert record_count(engine) == 1


def test_a_study_the_pacs_does_not_have_gets_404(pacs_client: TestClient, pacs: Pacs) -> None:
    response = classify_study(pacs_client, "1.2.3.4.5.6.7")

    assert_problem(response, 404, "1.2.3.4.5.6.7")


def test_an_image_medimg_cannot_read_fails_the_whole_study_and_keeps_nothing(
    pacs_client: TestClient, pacs: Pacs, engine: Engine, stored_blobs: Callable[[], list]
) -> None:
    study = mr_study(slices=2)
    without_pixels = copy.deepcopy(study[1])
    del without_pixels.PixelData
    pacs.upload([study[0], without_pixels])

    response = classify_study(pacs_client, study[0].StudyInstanceUID)

    assert_problem(response, 422, "Nothing of the study was stored")
    assert record_count(engine) == 0
    assert stored_blobs() == []


def test_a_failed_push_keeps_no_record_and_no_image(
    make_client: Callable[..., TestClient],
    pacs: Pacs,
    stow_refusing_pacs_url: str,
    engine: Engine,
    stored_blobs: Callable[[], list],
) -> None:
    study = mr_study(slices=2)
    pacs.upload(study)
    client = make_client(
        pacs_url=stow_refusing_pacs_url,
        pacs_username=pacs.username,
        pacs_password=SecretStr(pacs.password),
    )

    response = classify_study(client, study[0].StudyInstanceUID, push=True)

    assert_problem(response, 502, "HTTP 500", "STOW-RS")
    assert record_count(engine) == 0
    assert stored_blobs() == []
    assert len(pacs.instances(study[0].StudyInstanceUID)) == 2


def test_wrong_pacs_credentials_get_502_naming_the_settings_to_fix(
    make_client: Callable[..., TestClient], pacs: Pacs
) -> None:
    client = make_client(
        pacs_url=pacs.dicomweb_url, pacs_username=pacs.username, pacs_password=SecretStr("x")
    )

    response = classify_study(client, "1.2.3.4")

    assert_problem(response, 502, "HTTP 401", "MEDIMG_PACS_PASSWORD")
    assert pacs.password not in response.text


def test_a_pacs_that_is_down_gets_502_and_nothing_is_stored(
    make_client: Callable[..., TestClient], closed_port_url: str, engine: Engine
) -> None:
    client = make_client(pacs_url=closed_port_url)

    response = classify_study(client, "1.2.3.4")

    assert_problem(response, 502, "could not be reached", "MEDIMG_PACS_URL")
    assert record_count(engine) == 0


def test_a_pacs_that_does_not_answer_in_time_gets_504(
    make_client: Callable[..., TestClient], silent_server_url: str, engine: Engine
) -> None:
    client = make_client(pacs_url=silent_server_url, pacs_timeout_seconds=0.5)

    response = classify_study(client, "1.2.3.4")

    assert_problem(response, 504, "did not answer within 0.5 s")
    assert record_count(engine) == 0


def test_without_a_configured_pacs_the_route_answers_409_naming_the_setting(
    client: TestClient,
) -> None:
    response = classify_study(client, "1.2.3.4")

    assert_problem(response, 409, "MEDIMG_PACS_URL")


def test_a_malformed_study_uid_gets_422(client: TestClient) -> None:
    response = classify_study(client, "not-a-uid")

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_the_pulled_image_is_stored_de_identified(pacs_client: TestClient, pacs: Pacs) -> None:
    study = mr_study(slices=1)
    study[0].PatientName = "Doe^Jane"
    pacs.upload(study)

    answer = classify_study(pacs_client, study[0].StudyInstanceUID).json()

    record_id = answer["instances"][0]["record"]["id"]
    stored = pacs_client.get(f"/records/{record_id}/original").content
    assert b"Doe^Jane" not in stored
    assert study[0].SOPInstanceUID.encode() not in stored
    assert pydicom.dcmread(io.BytesIO(stored)).PatientIdentityRemoved == "YES"


def pacs_files(pacs: Pacs, study_uid: str, modality: str) -> list[pydicom.Dataset]:
    found = [pacs.instance_file(item["ID"]) for item in pacs.instances(study_uid)]
    return [dataset for dataset in found if dataset.Modality == modality]


def test_push_files_every_sr_in_one_series_and_every_heatmap_in_another_per_study(
    pacs_client: TestClient, pacs: Pacs, dciodvfy: Callable[[bytes], list[str]]
) -> None:
    study = mr_study(slices=3)
    for dataset in study:
        dataset.StudyDescription = "MRI BRAIN W/O CONTRAST"
    study_uid = study[0].StudyInstanceUID
    pacs.upload(study)

    response = classify_study(pacs_client, study_uid, push=True)

    assert response.status_code == 200, response.text
    reports, captures = pacs_files(pacs, study_uid, "SR"), pacs_files(pacs, study_uid, "OT")
    assert (len(reports), len(captures)) == (3, 3)
    assert len({report.SeriesInstanceUID for report in reports}) == 1
    assert len({capture.SeriesInstanceUID for capture in captures}) == 1
    # Each heatmap names the PACS's own slice it was drawn over, and the study as it is.
    by_uid = {dataset.SOPInstanceUID: dataset for dataset in study}
    for capture in captures:
        [source] = capture.SourceImageSequence
        assert capture.InstanceNumber == by_uid[source.ReferencedSOPInstanceUID].InstanceNumber
        assert capture.StudyDescription == "MRI BRAIN W/O CONTRAST"
        assert capture.BodyPartExamined == "BRAIN"
        assert "Laterality" not in capture
        assert dciodvfy(part10(capture)) == []


def test_a_push_after_a_correction_files_a_verified_sr_revision_with_the_radiologists_class(
    pacs_client: TestClient, pacs: Pacs, dciodvfy: Callable[[bytes], list[str]]
) -> None:
    study = mr_study(slices=1)
    study_uid = study[0].StudyInstanceUID
    pacs.upload(study)
    first = classify_study(pacs_client, study_uid, push=True).json()
    record = first["instances"][0]["record"]
    [ai_report] = pacs_files(pacs, study_uid, "SR")
    other = "meningioma" if record["label"] != "meningioma" else "glioma"
    reviewed = pacs_client.post(
        f"/records/{record['id']}/reviews", json={"action": "correct", "label": other}
    )
    assert reviewed.status_code == 201, reviewed.text

    again = classify_study(pacs_client, study_uid, push=True)

    assert again.status_code == 200, again.text
    assert again.json()["pushed_reports"] == 1
    [revision] = [
        report
        for report in pacs_files(pacs, study_uid, "SR")
        if report.SOPInstanceUID != ai_report.SOPInstanceUID
    ]
    assert (revision.VerificationFlag, revision.PreliminaryFlag) == ("VERIFIED", "FINAL")
    assert revision.SeriesInstanceUID == ai_report.SeriesInstanceUID
    [predecessor] = revision.PredecessorDocumentsSequence[0].ReferencedSeriesSequence
    assert predecessor.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == (
        ai_report.SOPInstanceUID
    )
    groups = hd.sr.ComprehensiveSR.from_dataset(revision).content.get_image_measurement_groups()
    [conclusion] = [g for g in groups if g.tracking_identifier.startswith("Radiologist review")]
    # The radiologist's class, in SNOMED CT, replaces the model's as the conclusion.
    assert (
        conclusion.finding_type.value == {"meningioma": "302820008", "glioma": "393564001"}[other]
    )
    assert dciodvfy(part10(revision)) == []
