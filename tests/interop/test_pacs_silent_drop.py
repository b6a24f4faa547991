"""A PACS that answers a push with 200 but does not store it (issue #27, item 2). The push
must fail with 502, and nothing be recorded as pushed:

- a real Orthanc whose Lua `ReceivedInstanceFilter` refuses medimg's SR and heatmap: its
  STOW-RS answer (Orthanc 1.10) even lists the dropped instances as stored;
- a proxy in front of the test Orthanc that answers STOW-RS 200 with empty
  ReferencedSOPSequence and FailedSOPSequence, as other PACSes do.
"""

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from tests.conftest import skip_or_fail
from tests.interop.conftest import Pacs, _StowRefusingProxy, mr_study
from tests.interop.test_pacs import assert_problem, classify_study, record_count

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USERNAME = PASSWORD = "medimg"
# Orthanc calls it for every instance it receives, STOW-RS included; false drops the
# instance, and its DICOMweb plugin still answers 200.
REFUSE_RESULTS_LUA = """
function ReceivedInstanceFilter(dicom, origin, info)
  return dicom.Modality ~= 'SR' and dicom.Modality ~= 'OT'
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_answering(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Orthanc exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            httpx.get(url, auth=(USERNAME, PASSWORD), timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("Orthanc did not answer within 30 s")


@pytest.fixture(scope="module")
def results_dropping_pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pacs]:
    """Its own Orthanc, on loopback and free ports, that drops every SR and OT instance."""
    binary = shutil.which("Orthanc")
    if binary is None or not DICOMWEB_PLUGIN.exists():
        skip_or_fail(
            "Orthanc with its DICOMweb plugin is missing: apt-get install orthanc-dicomweb"
        )
    base = tmp_path_factory.mktemp("orthanc-dropping")
    (base / "filter.lua").write_text(REFUSE_RESULTS_LUA)
    http_port = free_port()
    config = {
        "Name": "MEDIMG-TEST-DROPPING",
        "StorageDirectory": str(base / "storage"),
        "IndexDirectory": str(base / "storage"),
        "HttpPort": http_port,
        "DicomPort": free_port(),
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USERNAME: PASSWORD},
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "LuaScripts": [str(base / "filter.lua")],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "Host": f"127.0.0.1:{http_port}"},
    }
    (base / "orthanc.json").write_text(json.dumps(config))
    log = base / "orthanc.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [binary, str(base / "orthanc.json")], stdout=output, stderr=output
        )
    try:
        wait_until_answering(f"http://127.0.0.1:{http_port}/system", process, log)
        yield Pacs(f"http://127.0.0.1:{http_port}/dicom-web", USERNAME, PASSWORD)
    finally:
        process.terminate()
        process.wait(timeout=30)


class _StowDroppingProxy(_StowRefusingProxy):
    """Passes searches and retrievals through; answers every store 200, storing nothing."""

    def do_POST(self) -> None:  # noqa: N802 (the http.server naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        # PS3.18 10.5.3: the Store Instances Response Module, in DICOM JSON, naming nothing.
        body = json.dumps(
            {"00081198": {"vr": "SQ", "Value": []}, "00081199": {"vr": "SQ", "Value": []}}
        ).encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def stow_dropping_pacs_url(pacs: Pacs) -> Iterator[str]:
    upstream = urlsplit(pacs.dicomweb_url)
    handler = type(
        "Proxy", (_StowDroppingProxy,), {"upstream": f"{upstream.scheme}://{upstream.netloc}"}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}{upstream.path}"
    server.shutdown()
    server.server_close()


def client_of(make_client: Callable[..., TestClient], pacs: Pacs, url: str) -> TestClient:
    return make_client(
        pacs_url=url, pacs_username=pacs.username, pacs_password=SecretStr(pacs.password)
    )


def sop_uids_in(pacs: Pacs, study_uid: str) -> list[str]:
    return sorted(found["MainDicomTags"]["SOPInstanceUID"] for found in pacs.instances(study_uid))


def test_a_push_the_pacs_silently_drops_is_a_502_and_keeps_no_record(
    make_client: Callable[..., TestClient],
    results_dropping_pacs: Pacs,
    engine: Engine,
    stored_blobs: Callable[[], list],
) -> None:
    pacs = results_dropping_pacs
    pacs.empty()
    study = mr_study(slices=2)
    study_uid = study[0].StudyInstanceUID
    pacs.upload(study)
    client = client_of(make_client, pacs, pacs.dicomweb_url)

    response = classify_study(client, study_uid, push=True)

    assert_problem(response, 502, "dropped 4 of the 4", "STOW-RS", "QIDO-RS")
    assert record_count(engine) == 0
    assert stored_blobs() == []
    assert sop_uids_in(pacs, study_uid) == sorted(dataset.SOPInstanceUID for dataset in study)


def test_a_stow_answer_that_does_not_list_every_instance_sent_is_a_502_and_keeps_no_record(
    make_client: Callable[..., TestClient],
    pacs: Pacs,
    stow_dropping_pacs_url: str,
    engine: Engine,
    stored_blobs: Callable[[], list],
) -> None:
    study = mr_study(slices=2)
    pacs.upload(study)
    client = client_of(make_client, pacs, stow_dropping_pacs_url)

    response = classify_study(client, study[0].StudyInstanceUID, push=True)

    assert_problem(response, 502, "dropped 4 of the 4", "ReferencedSOPSequence")
    assert record_count(engine) == 0
    assert stored_blobs() == []
