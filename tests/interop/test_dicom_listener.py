"""The DICOM listener (C-ECHO and C-STORE SCP, results back by C-STORE SCU) over real
associations: with pynetdicom as the sender, and with the test Orthanc both as the sending
modality and as the destination of the results (scripts/orthanc-test-server.sh)."""

import copy
import hashlib
import hmac
import io
import re
import socket
import time
from collections.abc import Callable
from typing import Any

import psutil
import pydicom
import pytest
from fastapi.testclient import TestClient
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import BasicTextSRStorage, Verification

from api.interop.quiet_studies import QuietStudies
from api.interop.scu import DicomNode, DicomSendError, send_instances
from api.interop.study_results import MAX_SEND_ATTEMPTS
from api.settings import DEFAULT_UID_HASH_SALT
from tests.interop.conftest import LISTENER_MODALITY, Pacs, mr_study, part10

# The AE title the listener answers to.
LISTENER_AE = "MEDIMG"
# Generous bounds on waits (a loaded two-core machine); never a speed requirement.
WAIT_S = 120.0
POLL_S = 0.25
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
SUCCESS = 0x0000


# --- helpers ---------------------------------------------------------------------------------


def uid_hash(uid: str) -> str:
    return hmac.new(DEFAULT_UID_HASH_SALT.encode(), uid.encode(), hashlib.sha256).hexdigest()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(what: str, found: Callable[[], Any]) -> Any:
    """`found()`'s first truthy value within WAIT_S; fails saying what never happened."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if value := found():
            return value
        time.sleep(POLL_S)
    pytest.fail(f"{what} did not happen within {WAIT_S:g} s")


def records_of(client: TestClient, sop_uid: str) -> list[dict]:
    listed = client.get("/records", params={"limit": 100}).raise_for_status().json()
    return [record for record in listed["data"] if record["sop_uid_hash"] == uid_hash(sop_uid)]


def metric(client: TestClient, name: str, label: str, value: str) -> float:
    text = client.get("/metrics").raise_for_status().text
    pattern = rf'^{name}_total\{{{label}="{value}"\}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def mr_dataset() -> Dataset:
    """pydicom's MR_small (an MR head slice), with UIDs of its own."""
    return mr_study(slices=1)[0]


def ct_dataset() -> Dataset:
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    return dataset


def c_store(port: int, dataset: Dataset, called_ae: str = LISTENER_AE) -> Dataset:
    """One C-STORE from pynetdicom as the sender; the status it got back."""
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(dataset.SOPClassUID, dataset.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title=called_ae)
    assert assoc.is_established, "the listener refused the association"
    try:
        return assoc.send_c_store(dataset)
    finally:
        assoc.release()


# --- when a study is complete -----------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_study_is_complete_only_once_the_quiet_period_passes_without_a_new_instance() -> None:
    clock = FakeClock()
    studies: QuietStudies[str] = QuietStudies(10.0, clock)
    studies.add("study", "instance-1", "first")
    clock.now = 9.0
    studies.add("study", "instance-2", "second")
    clock.now = 18.0

    assert studies.take_complete() == []
    clock.now = 19.0
    (complete,) = studies.take_complete()
    assert (complete.study_uid, complete.items, complete.attempts) == (
        "study",
        ["first", "second"],
        0,
    )
    assert len(studies) == 0


def test_an_instance_that_arrives_twice_is_one_item_of_its_study() -> None:
    clock = FakeClock()
    studies: QuietStudies[str] = QuietStudies(1.0, clock)
    studies.add("study", "instance", "first copy")
    studies.add("study", "instance", "second copy")
    clock.now = 5.0

    (complete,) = studies.take_complete()

    assert complete.items == ["second copy"]


def test_a_study_tried_again_waits_another_quiet_period_and_keeps_what_arrived_since() -> None:
    clock = FakeClock()
    studies: QuietStudies[str] = QuietStudies(1.0, clock)
    studies.add("study", "a", "a")
    clock.now = 2.0
    (failed,) = studies.take_complete()
    studies.add("study", "b", "b")

    studies.retry(failed, instance_uid=lambda item: item)

    assert studies.take_complete() == []
    clock.now = 3.5
    (again,) = studies.take_complete()
    assert (sorted(again.items), again.attempts) == (["a", "b"], 1)


# --- the listener alone, with pynetdicom as the sender ----------------------------------------


@pytest.fixture
def listener_port() -> int:
    return free_port()


@pytest.fixture
def listener_client(make_client: Callable[..., TestClient], listener_port: int) -> TestClient:
    """An API whose DICOM listener is on `listener_port`, with no result destination."""
    return make_client(dicom_enabled=True, dicom_port=listener_port)


def test_the_api_starts_no_dicom_listener_unless_asked(client: TestClient) -> None:
    # `make run` and the container ask (MEDIMG_DICOM_ENABLED); the API alone opens no port.
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", 11112, ae_title=LISTENER_AE)
    if assoc.is_established:  # a developer's `make run`, not this test's app
        assoc.release()
        pytest.skip("port 11112 is taken by another listener here")
    assert client.app.state.settings.dicom_enabled is False


def test_the_listener_answers_c_echo_with_success(
    listener_client: TestClient, listener_port: int
) -> None:
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", listener_port, ae_title=LISTENER_AE)
    assert assoc.is_established
    status = assoc.send_c_echo()
    assoc.release()

    assert status.Status == SUCCESS


def test_an_association_addressed_to_another_ae_title_is_rejected(
    listener_client: TestClient, listener_port: int
) -> None:
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(Verification)

    assoc = ae.associate("127.0.0.1", listener_port, ae_title="NOTMEDIMG")

    assert assoc.is_rejected


def test_an_mr_instance_sent_by_c_store_is_stored_as_a_record_of_its_sender(
    listener_client: TestClient, listener_port: int
) -> None:
    dataset = mr_dataset()

    status = c_store(listener_port, dataset)

    assert status.Status == SUCCESS
    (record,) = records_of(listener_client, dataset.SOPInstanceUID)
    assert record["source_system"] == "TESTSCU"
    assert record["media_type"] == "application/dicom"
    assert record["study_uid_hash"] == uid_hash(dataset.StudyInstanceUID)
    assert record["label"] is not None
    assert metric(listener_client, "medimg_dicom_instances", "outcome", "stored") == 1


def test_the_stored_instance_is_de_identified_like_an_upload(
    listener_client: TestClient, listener_port: int
) -> None:
    dataset = mr_dataset()
    dataset.PatientName = "Doe^Jane"
    c_store(listener_port, dataset)
    (record,) = records_of(listener_client, dataset.SOPInstanceUID)

    original = listener_client.get(f"/records/{record['id']}/original")

    stored = pydicom.dcmread(io.BytesIO(original.content))
    assert "Doe" not in str(stored.get("PatientName", ""))
    assert stored.SOPInstanceUID != dataset.SOPInstanceUID


def test_an_instance_sent_twice_makes_one_record(
    listener_client: TestClient, listener_port: int
) -> None:
    dataset = mr_dataset()

    first = c_store(listener_port, dataset)
    second = c_store(listener_port, copy.deepcopy(dataset))

    assert (first.Status, second.Status) == (SUCCESS, SUCCESS)
    assert len(records_of(listener_client, dataset.SOPInstanceUID)) == 1
    assert metric(listener_client, "medimg_dicom_instances", "outcome", "existing") == 1


def test_a_ct_instance_is_refused_with_a_failure_status_and_counted(
    listener_client: TestClient, listener_port: int
) -> None:
    dataset = ct_dataset()

    status = c_store(listener_port, dataset)

    assert status.Status == 0xC001
    assert "Modality CT" in status.ErrorComment
    assert records_of(listener_client, dataset.SOPInstanceUID) == []
    assert metric(listener_client, "medimg_dicom_refused_instances", "reason", "not_mr_brain") == 1


def test_an_instance_without_pixels_is_refused_as_a_sop_class_not_supported(
    listener_client: TestClient, listener_port: int
) -> None:
    report = Dataset()
    report.SOPClassUID = BasicTextSRStorage
    report.SOPInstanceUID = generate_uid()
    report.StudyInstanceUID = generate_uid()
    report.SeriesInstanceUID = generate_uid()
    report.Modality = "SR"
    report.file_meta = pydicom.dataset.FileMetaDataset()
    report.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian

    status = c_store(listener_port, report)

    assert status.Status == 0x0122
    assert metric(listener_client, "medimg_dicom_refused_instances", "reason", "not_an_image") == 1


def test_an_mr_instance_whose_pixels_cannot_be_decoded_is_refused_and_stores_nothing(
    listener_client: TestClient, listener_port: int, stored_blobs: Callable[[], list]
) -> None:
    dataset = mr_dataset()
    dataset.PixelData = dataset.PixelData[:100]  # far fewer bytes than rows × columns need

    status = c_store(listener_port, dataset)

    assert status.Status == 0xC002
    assert records_of(listener_client, dataset.SOPInstanceUID) == []
    assert stored_blobs() == []
    assert metric(listener_client, "medimg_dicom_refused_instances", "reason", "undecodable") == 1


def test_the_listener_keeps_working_after_refusing_instances(
    listener_client: TestClient, listener_port: int
) -> None:
    broken = mr_dataset()
    broken.PixelData = b""
    c_store(listener_port, ct_dataset())
    c_store(listener_port, broken)
    dataset = mr_dataset()

    status = c_store(listener_port, dataset)

    assert status.Status == SUCCESS
    assert len(records_of(listener_client, dataset.SOPInstanceUID)) == 1


def test_results_for_a_destination_that_is_down_are_tried_a_few_times_and_counted(
    make_client: Callable[..., TestClient], listener_port: int
) -> None:
    client = make_client(
        dicom_enabled=True,
        dicom_port=listener_port,
        dicom_study_quiet_seconds=0.2,
        dicom_destination_ae_title="NOBODY",
        dicom_destination_host="127.0.0.1",
        dicom_destination_port=free_port(),  # nothing listens there
    )

    status = c_store(listener_port, mr_dataset())

    assert status.Status == SUCCESS
    failures = wait_for(
        f"{MAX_SEND_ATTEMPTS} failed sends",
        lambda: (
            metric(client, "medimg_dicom_result_sends", "outcome", "failed") >= MAX_SEND_ATTEMPTS
        ),
    )
    assert failures
    time.sleep(1.0)  # five quiet periods: no try beyond the last
    assert metric(client, "medimg_dicom_result_sends", "outcome", "failed") == MAX_SEND_ATTEMPTS


def test_a_listener_whose_port_is_taken_stops_the_api_from_starting_and_says_why(
    make_client: Callable[..., TestClient],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(RuntimeError, match="MEDIMG_DICOM_PORT"):
            make_client(dicom_enabled=True, dicom_port=port)


# --- with the test Orthanc as the sending modality and as the destination --------------------


def orthanc_store(pacs: Pacs, dataset: Dataset) -> str:
    """Put `dataset` in Orthanc over its REST API; its Orthanc id."""
    with pacs.rest as rest:
        stored = rest.post("/instances", content=part10(dataset)).raise_for_status()
    return stored.json()["ID"]


def orthanc_sends_to_medimg(pacs: Pacs, orthanc_ids: list[str]):
    """Orthanc C-STOREs the instances to the listener (its `medimg` modality)."""
    with pacs.rest as rest:
        rest.timeout = WAIT_S
        return rest.post(
            f"/modalities/{LISTENER_MODALITY}/store",
            json={"Resources": orthanc_ids, "Synchronous": True},
        )


def results_in_orthanc(pacs: Pacs, study_uid: str) -> list[dict]:
    """The study's instances that medimg sent to Orthanc over DICOM, with their metadata."""
    results = []
    with pacs.rest as rest:
        for instance in pacs.instances(study_uid):
            metadata = rest.get(f"/instances/{instance['ID']}/metadata?expand").json()
            if metadata.get("RemoteAET") == LISTENER_AE:
                results.append({**instance, "metadata": metadata})
    return results


def sop_class_of(pacs: Pacs, instance: dict) -> str:
    return str(pacs.instance_file(instance["ID"]).SOPClassUID)


def test_orthanc_can_c_echo_the_listener(orthanc_listener_client: TestClient, pacs: Pacs) -> None:
    with pacs.rest as rest:
        echoed = rest.post(f"/modalities/{LISTENER_MODALITY}/echo", json={})

    assert echoed.status_code == 200, echoed.text


def test_an_mr_image_orthanc_sends_becomes_a_record_with_its_result(
    orthanc_listener_client: TestClient, pacs: Pacs
) -> None:
    dataset = mr_dataset()

    sent = orthanc_sends_to_medimg(pacs, [orthanc_store(pacs, dataset)])

    assert sent.status_code == 200, sent.text
    (record,) = records_of(orthanc_listener_client, dataset.SOPInstanceUID)
    assert record["source_system"] == "MEDIMGTEST"  # Orthanc's AE title
    assert record["finding"] is not None
    assert record["label"] in record["probabilities"]


def test_after_the_quiet_period_the_sr_and_heatmap_arrive_in_orthanc_by_c_store(
    orthanc_listener_client: TestClient, pacs: Pacs
) -> None:
    study = mr_study(slices=2)
    study_uid = study[0].StudyInstanceUID

    sent = orthanc_sends_to_medimg(pacs, [orthanc_store(pacs, dataset) for dataset in study])

    assert sent.status_code == 200, sent.text
    results = wait_for(
        "an SR and a heatmap for each slice in Orthanc",
        lambda: (found := results_in_orthanc(pacs, study_uid)) and len(found) >= 4 and found,
    )
    classes = sorted(sop_class_of(pacs, instance) for instance in results)
    assert classes == sorted([COMPREHENSIVE_SR] * 2 + [SECONDARY_CAPTURE] * 2)
    assert {instance["metadata"]["Origin"] for instance in results} == {"DicomProtocol"}
    assert metric(orthanc_listener_client, "medimg_dicom_result_sends", "outcome", "sent") == 1


def test_orthanc_learns_that_a_ct_image_was_refused_and_the_listener_keeps_working(
    orthanc_listener_client: TestClient, pacs: Pacs
) -> None:
    ct, mr = ct_dataset(), mr_dataset()

    refused = orthanc_sends_to_medimg(pacs, [orthanc_store(pacs, ct)])
    accepted = orthanc_sends_to_medimg(pacs, [orthanc_store(pacs, mr)])

    assert refused.status_code >= 400
    assert records_of(orthanc_listener_client, ct.SOPInstanceUID) == []
    refusals = metric(
        orthanc_listener_client, "medimg_dicom_refused_instances", "reason", "not_mr_brain"
    )
    assert refusals == 1
    assert accepted.status_code == 200, accepted.text
    assert len(records_of(orthanc_listener_client, mr.SOPInstanceUID)) == 1


def test_the_same_instance_orthanc_sends_twice_makes_one_record(
    orthanc_listener_client: TestClient, pacs: Pacs
) -> None:
    dataset = mr_dataset()
    orthanc_id = orthanc_store(pacs, dataset)

    first = orthanc_sends_to_medimg(pacs, [orthanc_id])
    second = orthanc_sends_to_medimg(pacs, [orthanc_id])

    assert (first.status_code, second.status_code) == (200, 200)
    assert len(records_of(orthanc_listener_client, dataset.SOPInstanceUID)) == 1


def non_loopback_address() -> str | None:
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    return None


def test_the_test_orthanc_admits_only_medimg_on_loopback_over_dicom(pacs: Pacs) -> None:
    with pacs.rest as rest:
        system = rest.get("/system").raise_for_status().json()
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no network address but loopback to call from")

    def echo_from(source: str, calling_ae: str) -> bool:
        ae = AE(ae_title=calling_ae)
        ae.add_requested_context(Verification)
        assoc = ae.associate(
            source, system["DicomPort"], ae_title=system["DicomAet"], bind_address=(source, 0)
        )
        established = assoc.is_established
        if established:
            assoc.release()
        return established

    assert echo_from("127.0.0.1", LISTENER_AE)
    assert not echo_from("127.0.0.1", "SOMEONE")
    assert not echo_from(address, LISTENER_AE)


def test_medimg_sends_to_orthanc_as_a_modality_orthanc_knows(pacs: Pacs) -> None:
    # The SCU side alone: an MR slice stored in Orthanc from the listener's AE title.
    with pacs.rest as rest:
        system = rest.get("/system").raise_for_status().json()
    dataset = mr_dataset()
    destination = DicomNode(system["DicomAet"], "127.0.0.1", int(system["DicomPort"]))

    send_instances([dataset], destination, calling_ae=LISTENER_AE)

    (stored,) = pacs.instances(dataset.StudyInstanceUID)
    assert stored["MainDicomTags"]["SOPInstanceUID"] == dataset.SOPInstanceUID


def test_a_destination_that_refuses_the_association_is_a_send_error(pacs: Pacs) -> None:
    with pacs.rest as rest:
        system = rest.get("/system").raise_for_status().json()
    destination = DicomNode(system["DicomAet"], "127.0.0.1", int(system["DicomPort"]))

    with pytest.raises(DicomSendError, match="did not accept an association"):
        send_instances([mr_dataset()], destination, calling_ae="UNKNOWNAE")
