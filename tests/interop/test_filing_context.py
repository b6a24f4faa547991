"""Filing context (#27): the results of a record from the PACS, the DICOM listener, or an
upload that asks for it file into the original study; the record, its stored image and
every list, figure and log line stay de-identified."""

import io
import logging
from collections.abc import Callable

import pydicom
import pytest
from alembic import command
from fastapi.testclient import TestClient
from pydicom import Dataset
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.db import create_db_and_tables, migrations_config
from api.models import FilingContext, Record
from tests.interop.conftest import DICOM, Pacs, mr_study, part10
from tests.interop.test_dicom_listener import (
    orthanc_sends_to_medimg,
    orthanc_store,
    records_of,
    results_in_orthanc,
    wait_for,
)

PATIENT_ID = "FILING-PID-4711"
PATIENT_NAME = "Filingtest^Jane"
ACCESSION = "ACC4711"
STUDY_DATE = "20261201"
STUDY_TIME = "101500"
# What would identify the patient or the study anywhere it does not belong.
IDENTIFYING = (PATIENT_ID, "Filingtest", ACCESSION)
QUALITATIVE_EVALUATIONS = "C0034375"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
# The revision before the filing context's, and the table it adds.
BEFORE_FILING_CONTEXT = "8c3d2f6a1e57"
TABLE = "filing_context"


def identified_study(slices: int = 1) -> list[Dataset]:
    """An MR study of a known patient, order and date, as a hospital's PACS holds it."""
    study = mr_study(slices)
    for dataset in study:
        dataset.PatientID = PATIENT_ID
        dataset.PatientName = PATIENT_NAME
        dataset.AccessionNumber = ACCESSION
        dataset.StudyDate = STUDY_DATE
        dataset.StudyTime = STUDY_TIME
    return study


def upload(client: TestClient, dataset: Dataset, **fields: str) -> dict:
    files = {"file": ("slice.dcm", part10(dataset), DICOM)}
    response = client.post("/classify", files=files, data=fields)
    assert response.status_code == 201, response.text
    return response.json()


def dicom_of(client: TestClient, path: str) -> Dataset:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return pydicom.dcmread(io.BytesIO(response.content))


def filing_note(report: Dataset) -> str | None:
    """The SR's text saying why it cannot be filed into the original study, if it has one."""
    for item in report.ContentSequence:
        if item.ConceptNameCodeSequence[0].CodeValue == QUALITATIVE_EVALUATIONS:
            return item.ContentSequence[0].TextValue
    return None


def assert_in_original_study(result: Dataset, original: Dataset) -> None:
    assert result.StudyInstanceUID == original.StudyInstanceUID
    assert result.PatientID == PATIENT_ID
    assert str(result.PatientName) == PATIENT_NAME
    assert result.AccessionNumber == ACCESSION
    assert (result.StudyDate, result.StudyTime) == (STUDY_DATE, STUDY_TIME)


def assert_sr_files_into(report: Dataset, original: Dataset) -> None:
    assert_in_original_study(report, original)
    evidence = report.CurrentRequestedProcedureEvidenceSequence[0]
    series = evidence.ReferencedSeriesSequence[0]
    assert (evidence.StudyInstanceUID, series.SeriesInstanceUID) == (
        original.StudyInstanceUID,
        original.SeriesInstanceUID,
    )
    assert series.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == original.SOPInstanceUID
    assert filing_note(report) is None


def pull(client: TestClient, study_uid: str, push: bool = False) -> dict:
    response = client.post(f"/pacs/studies/{study_uid}/classify", params={"push": push})
    assert response.status_code == 200, response.text
    return response.json()


def filing_contexts(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(FilingContext)).one()


# --- from the PACS and the listener -----------------------------------------------------------


def test_a_record_pulled_from_the_pacs_gets_an_sr_and_heatmap_in_the_original_study(
    pacs_client: TestClient, pacs: Pacs, dciodvfy: Callable[[bytes], list[str]]
) -> None:
    (original,) = identified_study()
    pacs.upload([original])
    (pulled,) = pull(pacs_client, original.StudyInstanceUID)["instances"]
    record_id = pulled["record"]["id"]

    report = dicom_of(pacs_client, f"/records/{record_id}/sr")
    heatmap = dicom_of(pacs_client, f"/records/{record_id}/heatmap.dcm")

    assert_sr_files_into(report, original)
    assert dciodvfy(part10(report)) == []
    assert_in_original_study(heatmap, original)
    assert heatmap.SourceImageSequence[0].ReferencedSOPInstanceUID == original.SOPInstanceUID
    assert dciodvfy(part10(heatmap)) == []


def test_a_review_made_after_the_pull_is_pushed_into_the_original_study_later(
    pacs_client: TestClient, pacs: Pacs
) -> None:
    (original,) = identified_study()
    pacs.upload([original])
    (pulled,) = pull(pacs_client, original.StudyInstanceUID)["instances"]
    review = {"action": "correct", "label": "meningioma"}
    reviewed = pacs_client.post(f"/records/{pulled['record']['id']}/reviews", json=review)
    assert reviewed.status_code == 201, reviewed.text

    pushed = pull(pacs_client, original.StudyInstanceUID, push=True)

    assert pushed["pushed_reports"] == 1
    found = pacs.instances(original.StudyInstanceUID)
    in_pacs = [pacs.instance_file(instance["ID"]) for instance in found]
    (report,) = [dataset for dataset in in_pacs if dataset.Modality == "SR"]
    assert_sr_files_into(report, original)
    assert report.VerificationFlag == "VERIFIED"


def test_a_record_the_listener_received_files_its_results_into_the_original_study(
    orthanc_listener_client: TestClient, pacs: Pacs, dciodvfy: Callable[[bytes], list[str]]
) -> None:
    (original,) = identified_study()

    sent = orthanc_sends_to_medimg(pacs, [orthanc_store(pacs, original)])

    assert sent.status_code == 200, sent.text
    sent_back = wait_for(
        "the SR and heatmap in Orthanc",
        lambda: (
            (found := results_in_orthanc(pacs, original.StudyInstanceUID))
            and len(found) >= 2
            and found
        ),
    )
    in_orthanc = [pacs.instance_file(instance["ID"]) for instance in sent_back]
    (sent_report,) = [d for d in in_orthanc if d.SOPClassUID == COMPREHENSIVE_SR]
    assert_sr_files_into(sent_report, original)
    # Read again later from what is stored, not from the instance held while it arrived.
    (record,) = records_of(orthanc_listener_client, original.SOPInstanceUID)
    report = dicom_of(orthanc_listener_client, f"/records/{record['id']}/sr")
    assert_sr_files_into(report, original)
    assert report.SOPInstanceUID == sent_report.SOPInstanceUID
    assert dciodvfy(part10(report)) == []


# --- uploads -----------------------------------------------------------------------------------


def test_an_ordinary_upload_s_sr_says_it_cannot_be_filed_into_the_original_study(
    client: TestClient,
) -> None:
    (original,) = identified_study()
    record = upload(client, original)

    report = dicom_of(client, f"/records/{record['id']}/sr")
    bundle = client.get(f"/records/{record['id']}/fhir").json()

    assert "Cannot be filed into the original study" in filing_note(report)
    assert "keep_filing_context=true" in filing_note(report)
    assert report.StudyInstanceUID != original.StudyInstanceUID
    assert report.PatientID == ""
    diagnostic_report = bundle["entry"][0]["resource"]
    assert not {"subject", "basedOn", "imagingStudy"} & diagnostic_report.keys()


def test_keep_filing_context_files_an_uploaded_dicom_s_sr_and_heatmap_into_the_original_study(
    client: TestClient, dciodvfy: Callable[[bytes], list[str]]
) -> None:
    (original,) = identified_study()

    record = upload(client, original, keep_filing_context="true")

    report = dicom_of(client, f"/records/{record['id']}/sr")
    assert_sr_files_into(report, original)
    assert dciodvfy(part10(report)) == []
    assert_in_original_study(dicom_of(client, f"/records/{record['id']}/heatmap.dcm"), original)
    # What medimg stores stays de-identified.
    stored = dicom_of(client, f"/records/{record['id']}/original")
    assert stored.StudyInstanceUID != original.StudyInstanceUID
    assert PATIENT_ID not in str(stored.get("PatientID", ""))


def test_keep_filing_context_is_refused_for_a_png_and_stores_nothing(
    client: TestClient, png_bytes: bytes, engine: Engine
) -> None:
    response = client.post(
        "/classify",
        files={"file": ("slice.png", png_bytes, "image/png")},
        data={"keep_filing_context": "true"},
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "keep_filing_context" in response.json()["detail"]
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Record)).one() == 0


def test_the_fhir_bundle_of_a_record_with_a_filing_context_names_its_patient_order_and_study(
    client: TestClient,
) -> None:
    (original,) = identified_study()
    record = upload(client, original, keep_filing_context="true")

    bundle = client.get(f"/records/{record['id']}/fhir").json()

    resources = [entry["resource"] for entry in bundle["entry"]]
    report = resources[0]
    study = {"system": "urn:dicom:uid", "value": f"urn:oid:{original.StudyInstanceUID}"}
    assert report["subject"]["identifier"]["value"] == PATIENT_ID
    assert report["subject"]["type"] == "Patient"
    assert report["basedOn"][0]["identifier"]["value"] == ACCESSION
    assert report["basedOn"][0]["type"] == "ServiceRequest"
    assert report["imagingStudy"][0]["identifier"] == study
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    assert observations
    for observation in observations:
        assert observation["subject"] == report["subject"]
        assert observation["derivedFrom"][0]["identifier"] == study


# --- kept apart ----------------------------------------------------------------------------------


def test_the_filing_context_never_appears_in_records_lists_stats_or_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    (original,) = identified_study()
    record = upload(client, original, keep_filing_context="true")
    assert dicom_of(client, f"/records/{record['id']}/sr").PatientID == PATIENT_ID

    answers = [
        client.get("/records").text,
        client.get("/records", params={"sort": "suspicion"}).text,
        client.get(f"/records/{record['id']}").text,
        client.get("/stats").text,
        client.get("/audit").text,
        str(record),
    ]

    secrets = (*IDENTIFYING, original.StudyInstanceUID, original.SOPInstanceUID)
    for answer in answers:
        assert not [secret for secret in secrets if secret in answer]
    assert not [secret for secret in secrets if secret in caplog.text]


def test_deleting_a_record_removes_its_filing_context(client: TestClient, engine: Engine) -> None:
    (original,) = identified_study()
    record = upload(client, original, keep_filing_context="true")
    assert filing_contexts(engine) == 1

    deleted = client.delete(f"/records/{record['id']}")

    assert deleted.status_code == 204, deleted.text
    assert filing_contexts(engine) == 0


def test_the_filing_context_migration_upgrades_and_downgrades_keeping_the_records(
    client: TestClient, engine: Engine
) -> None:
    upload(client, identified_study()[0], keep_filing_context="true")

    with engine.begin() as connection:
        command.downgrade(migrations_config(connection), BEFORE_FILING_CONTEXT)

    assert TABLE not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM record")).scalar_one() == 1

    create_db_and_tables(engine)

    assert TABLE in inspect(engine).get_table_names()
    assert filing_contexts(engine) == 0
