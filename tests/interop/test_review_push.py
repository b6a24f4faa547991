"""A review's result is pushed where the record came from (#27): a PACS-pulled record's new SR
revision is stored back by STOW-RS, a listener record's sent by C-STORE, after the review is
answered; a PACS that is down never fails the review, and an upload pushes nothing."""

import logging
import re
from collections.abc import Callable

import highdicom as hd
import pydicom
import pytest
from fastapi.testclient import TestClient

from tests.interop.conftest import DICOM, Pacs, mr_study, part10
from tests.interop.test_dicom_listener import (
    orthanc_sends_to_medimg,
    orthanc_store,
    records_of,
    results_in_orthanc,
    wait_for,
)

PUSHES = "medimg_review_result_pushes_total"
# The source system the pacs_client fixture gives PACS records.
PACS_SOURCE = "orthanc-test"
SNOMED_CLASS = {"glioma": "393564001", "meningioma": "302820008"}


def pulled_record(client: TestClient, study_uid: str) -> dict:
    response = client.post(f"/pacs/studies/{study_uid}/classify")
    assert response.status_code == 200, response.text
    (pulled,) = response.json()["instances"]
    return pulled["record"]


def another_class(record: dict) -> str:
    return "meningioma" if record["label"] != "meningioma" else "glioma"


def correct(client: TestClient, record: dict, label: str):
    return client.post(
        f"/records/{record['id']}/reviews", json={"action": "correct", "label": label}
    )


def pushes(client: TestClient, destination: str, outcome: str) -> float:
    text = client.get("/metrics").raise_for_status().text
    pattern = rf'^{PUSHES}\{{destination="{destination}",outcome="{outcome}"\}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def any_pushes(client: TestClient) -> bool:
    text = client.get("/metrics").raise_for_status().text
    return re.search(rf"^{PUSHES}\{{", text, re.MULTILINE) is not None


def verified_srs_in(pacs: Pacs, study_uid: str) -> list[pydicom.Dataset]:
    found = [pacs.instance_file(item["ID"]) for item in pacs.instances(study_uid)]
    return [d for d in found if d.Modality == "SR" and d.VerificationFlag == "VERIFIED"]


def concluded_class(report: pydicom.Dataset) -> str:
    groups = hd.sr.ComprehensiveSR.from_dataset(report).content.get_image_measurement_groups()
    (review,) = [g for g in groups if g.tracking_identifier.startswith("Radiologist review")]
    return review.finding_type.value


def test_a_correction_of_a_pacs_record_stores_a_verified_sr_revision_in_the_original_study(
    pacs_client: TestClient, pacs: Pacs
) -> None:
    (original,) = mr_study(slices=1)
    pacs.upload([original])
    record = pulled_record(pacs_client, original.StudyInstanceUID)
    label = another_class(record)

    reviewed = correct(pacs_client, record, label)

    assert reviewed.status_code == 201, reviewed.text
    (revision,) = wait_for(
        "a verified SR revision in the PACS",
        lambda: verified_srs_in(pacs, original.StudyInstanceUID),
    )
    assert revision.StudyInstanceUID == original.StudyInstanceUID
    assert (revision.VerificationFlag, revision.PreliminaryFlag) == ("VERIFIED", "FINAL")
    assert concluded_class(revision) == SNOMED_CLASS[label]
    assert pushes(pacs_client, "pacs", "pushed") == 1


def test_with_the_pacs_down_the_review_is_still_saved_and_the_failed_push_is_counted(
    pacs_client: TestClient,
    pacs: Pacs,
    make_client: Callable[..., TestClient],
    closed_port_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (original,) = mr_study(slices=1)
    original.PatientID = "PUSH-PID-0815"
    pacs.upload([original])
    record = pulled_record(pacs_client, original.StudyInstanceUID)
    # The same database and records; its PACS has gone down since the pull.
    down = make_client(pacs_url=closed_port_url, pacs_source_system=PACS_SOURCE)

    with caplog.at_level(logging.INFO, logger="api.interop.review_push"):
        reviewed = correct(down, record, another_class(record))

    assert reviewed.status_code == 201, reviewed.text
    history = down.get(f"/records/{record['id']}/reviews").raise_for_status().json()
    assert history["count"] == 1
    assert pushes(down, "pacs", "failed") == 1
    assert pushes(down, "pacs", "pushed") == 0
    assert verified_srs_in(pacs, original.StudyInstanceUID) == []
    (logged,) = [r.getMessage() for r in caplog.records if r.name.endswith("review_push")]
    assert f"record {record['id']} was not pushed" in logged
    assert "PUSH-PID-0815" not in logged and original.StudyInstanceUID not in logged


def test_a_review_of_a_plain_upload_pushes_nothing(pacs_client: TestClient, pacs: Pacs) -> None:
    (original,) = mr_study(slices=1)
    files = {"file": ("slice.dcm", part10(original), DICOM)}
    uploaded = pacs_client.post("/classify", files=files)
    assert uploaded.status_code == 201, uploaded.text

    reviewed = correct(pacs_client, uploaded.json(), another_class(uploaded.json()))

    assert reviewed.status_code == 201, reviewed.text
    assert not any_pushes(pacs_client)
    assert pacs.instances(original.StudyInstanceUID) == []


def test_a_review_of_a_listener_record_sends_its_verified_sr_revision_by_c_store(
    orthanc_listener_client: TestClient, pacs: Pacs
) -> None:
    (original,) = mr_study(slices=1)
    sent = orthanc_sends_to_medimg(pacs, [orthanc_store(pacs, original)])
    assert sent.status_code == 200, sent.text
    (record,) = records_of(orthanc_listener_client, original.SOPInstanceUID)
    label = another_class(record)

    reviewed = correct(orthanc_listener_client, record, label)

    assert reviewed.status_code == 201, reviewed.text
    (revision,) = wait_for(
        "a verified SR revision sent to Orthanc by C-STORE",
        lambda: [
            report
            for instance in results_in_orthanc(pacs, original.StudyInstanceUID)
            if (report := pacs.instance_file(instance["ID"])).Modality == "SR"
            and report.VerificationFlag == "VERIFIED"
        ],
    )
    assert revision.StudyInstanceUID == original.StudyInstanceUID
    assert concluded_class(revision) == SNOMED_CLASS[label]
    assert pushes(orthanc_listener_client, "dicom", "pushed") == 1
