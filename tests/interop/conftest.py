"""A real PACS (Orthanc with DICOMweb, scripts/orthanc-test-server.sh), real DICOM files and
Debian's dciodvfy, for the interop tests."""

import copy
import io
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pydicom
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

# The API tests' tiny models, whose recognisers read every image as brain MRI, or as a chest
# X-ray.
from tests.api.conftest import chest_xray_model_dir as chest_xray_model_dir
from tests.api.conftest import encode, synthetic_head_slice
from tests.api.conftest import tiny_model_dir as tiny_model_dir
from tests.conftest import skip_or_fail

ORTHANC_URL_ENV = "MEDIMG_TEST_ORTHANC_URL"
DICOM = "application/dicom"
# The test Orthanc's entry for medimg's DICOM listener, and the listener's quiet period.
LISTENER_MODALITY = "medimg"
LISTENER_QUIET_S = 1.0


@dataclass(frozen=True)
class Pacs:
    """The test Orthanc: its DICOMweb root and credentials, and its REST API for set-up."""

    dicomweb_url: str
    username: str
    password: str

    @property
    def rest(self) -> httpx.Client:
        root = self.dicomweb_url.rsplit("/dicom-web", 1)[0]
        return httpx.Client(base_url=root, auth=(self.username, self.password), timeout=30)

    def upload(self, datasets: list[pydicom.Dataset]) -> None:
        with self.rest as rest:
            for dataset in datasets:
                rest.post("/instances", content=part10(dataset)).raise_for_status()

    def empty(self) -> None:
        with self.rest as rest:
            for study in rest.get("/studies").raise_for_status().json():
                rest.delete(f"/studies/{study}").raise_for_status()

    def instances(self, study_uid: str) -> list[dict]:
        """Every instance of the study, as Orthanc's own REST API lists it (not DICOMweb)."""
        with self.rest as rest:
            found = rest.post(
                "/tools/find",
                json={
                    "Level": "Instance",
                    "Query": {"StudyInstanceUID": study_uid},
                    "Expand": True,
                },
            )
            return found.raise_for_status().json()

    def instance_file(self, orthanc_id: str) -> pydicom.Dataset:
        with self.rest as rest:
            data = rest.get(f"/instances/{orthanc_id}/file").raise_for_status().content
        return pydicom.dcmread(io.BytesIO(data))


@pytest.fixture(scope="session")
def pacs_server() -> Pacs:
    url = os.environ.get(ORTHANC_URL_ENV)
    if not url:
        skip_or_fail(
            f"set {ORTHANC_URL_ENV} to a DICOMweb root with credentials, e.g. the URL "
            "`scripts/orthanc-test-server.sh start` prints, to run the PACS tests"
        )
    parts = urlsplit(url)
    without_credentials = parts._replace(netloc=f"{parts.hostname}:{parts.port}")
    return Pacs(urlunsplit(without_credentials), parts.username or "", parts.password or "")


@pytest.fixture
def pacs(pacs_server: Pacs) -> Iterator[Pacs]:
    """The test PACS, empty at the start of each test."""
    pacs_server.empty()
    yield pacs_server
    pacs_server.empty()


@pytest.fixture
def pacs_client(make_client: Callable[..., TestClient], pacs: Pacs) -> TestClient:
    """An API client whose PACS is the test Orthanc."""
    return make_client(
        pacs_url=pacs.dicomweb_url,
        pacs_username=pacs.username,
        pacs_password=SecretStr(pacs.password),
        pacs_source_system="orthanc-test",
    )


@pytest.fixture
def listener_entry(pacs: Pacs) -> dict:
    """Where the test Orthanc sends to medimg: its `medimg` modality."""
    with pacs.rest as rest:
        answer = rest.get(f"/modalities/{LISTENER_MODALITY}/configuration")
    if answer.status_code != 200:
        skip_or_fail(
            f"the test Orthanc has no `{LISTENER_MODALITY}` modality: restart it with the "
            "current scripts/orthanc-test-server.sh"
        )
    return answer.json()


@pytest.fixture
def orthanc_listener_client(
    make_client: Callable[..., TestClient], pacs: Pacs, listener_entry: dict
) -> TestClient:
    """An API whose listener is the one Orthanc knows, sending its results back to Orthanc."""
    with pacs.rest as rest:
        system = rest.get("/system").raise_for_status().json()
    return make_client(
        dicom_enabled=True,
        dicom_ae_title=listener_entry["AET"],
        dicom_host=listener_entry["Host"],
        dicom_port=int(listener_entry["Port"]),
        dicom_study_quiet_seconds=LISTENER_QUIET_S,
        dicom_destination_ae_title=system["DicomAet"],
        dicom_destination_host="127.0.0.1",
        dicom_destination_port=int(system["DicomPort"]),
    )


def part10(dataset: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def mr_study(slices: int) -> list[pydicom.Dataset]:
    """`slices` MR images of one new study and series (pydicom's MR_small, new UIDs)."""
    template = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    study_uid, series_uid = generate_uid(), generate_uid()
    datasets = []
    for number in range(1, slices + 1):
        dataset = copy.deepcopy(template)
        dataset.StudyInstanceUID = study_uid
        dataset.SeriesInstanceUID = series_uid
        dataset.SOPInstanceUID = generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.InstanceNumber = number
        datasets.append(dataset)
    return datasets


@pytest.fixture
def png_bytes() -> bytes:
    return encode(synthetic_head_slice(), ".png")


@pytest.fixture
def mr_dicom_bytes() -> bytes:
    return Path(get_testdata_file("MR_small.dcm")).read_bytes()


def classify_dicom(client: TestClient, data: bytes) -> dict:
    response = client.post("/classify", files={"file": ("slice.dcm", data, DICOM)})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def dciodvfy(tmp_path: Path) -> Callable[[bytes], list[str]]:
    """Debian dicom3tools' IOD checker: the error lines it reports for a DICOM file."""
    binary = shutil.which("dciodvfy")
    if binary is None:
        skip_or_fail("dciodvfy is missing: apt-get install dicom3tools")

    def errors_of(data: bytes) -> list[str]:
        checked_file = tmp_path / "checked.dcm"
        checked_file.write_bytes(data)
        checked = subprocess.run(
            [binary, str(checked_file)], capture_output=True, timeout=60, check=False
        )
        output = (checked.stdout + checked.stderr).decode(errors="replace")
        # "Abort" when it cannot even read the file.
        return [line for line in output.splitlines() if line.startswith(("Error", "Abort"))]

    return errors_of


def forward_get(handler: BaseHTTPRequestHandler) -> None:
    """Answer a proxy's GET with what its `upstream` PACS answers to the same request."""
    headers = {
        name: value
        for name, value in handler.headers.items()
        if name.lower() in ("authorization", "accept")
    }
    answer = httpx.get(handler.upstream + handler.path, headers=headers, timeout=30)
    handler.send_response(answer.status_code)
    handler.send_header("Content-Type", answer.headers.get("content-type", ""))
    handler.send_header("Content-Length", str(len(answer.content)))
    handler.end_headers()
    handler.wfile.write(answer.content)


class _StowRefusingProxy(BaseHTTPRequestHandler):
    """Passes searches and retrievals through to the real PACS; refuses every store."""

    upstream: str = ""

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
        forward_get(self)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "storage is full")

    def log_message(self, *args) -> None:
        pass  # keep the test output clean


@pytest.fixture
def stow_refusing_pacs_url(pacs: Pacs) -> Iterator[str]:
    """A DICOMweb root in front of the test PACS that answers every STOW-RS with 500."""
    upstream = urlsplit(pacs.dicomweb_url)
    handler = type(
        "Proxy", (_StowRefusingProxy,), {"upstream": f"{upstream.scheme}://{upstream.netloc}"}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}{upstream.path}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_server_url() -> Iterator[str]:
    """A port that accepts connections and never answers: a hung PACS."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/dicom-web"


@pytest.fixture
def closed_port_url() -> str:
    """A port nothing listens on: a PACS that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/dicom-web"
