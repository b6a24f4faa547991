"""Every DICOM record the server accepted gets its SR and its Secondary Capture, however
sparse or odd its header: a derived object is built for it, or the upload was refused with a
reason (issue #29)."""

from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from fastapi.testclient import TestClient
from pydicom.data import get_testdata_file
from pydicom.uid import ComprehensiveSRStorage

from tests.interop.conftest import DICOM, part10

DERIVED = ("sr", "heatmap.dcm")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'medimg.db'}"  # rendering does not depend on the backend


@pytest.fixture
def lenient_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(raise_server_exceptions=False)


def without(*keywords: str) -> Callable[[pydicom.Dataset], None]:
    def change(dataset: pydicom.Dataset) -> None:
        for keyword in keywords:
            delattr(dataset, keyword)

    return change


def setting(keyword: str, value: object) -> Callable[[pydicom.Dataset], None]:
    return lambda dataset: setattr(dataset, keyword, value)


HEADERS = {
    "no-patient-sex": without("PatientSex"),
    "no-patient-name-id-birth-date": without("PatientName", "PatientID", "PatientBirthDate"),
    "no-sop-instance-uid": without("SOPInstanceUID"),
    "no-study-instance-uid": without("StudyInstanceUID"),
    "no-series-instance-uid": without("SeriesInstanceUID"),
    "non-image-sop-class": setting("SOPClassUID", ComprehensiveSRStorage),
    "unknown-specific-character-set": setting("SpecificCharacterSet", "ISO_IR 999"),
}


def mr_small_changed(change: Callable[[pydicom.Dataset], None]) -> bytes:
    dataset = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    change(dataset)
    return part10(dataset)


@pytest.mark.parametrize("change", HEADERS.values(), ids=HEADERS.keys())
def test_an_accepted_dicom_record_always_has_its_sr_and_secondary_capture(
    lenient_client: TestClient, change: Callable[[pydicom.Dataset], None]
) -> None:
    assert_derived_objects_or_a_reason(lenient_client, mr_small_changed(change))


def assert_derived_objects_or_a_reason(client: TestClient, upload: bytes) -> None:
    created = client.post("/classify", files={"file": ("x.dcm", upload, DICOM)})
    assert created.status_code in (201, 422), created.text
    if created.status_code == 422:
        assert created.json()["detail"], "a refusal says why"
        return

    record_id = created.json()["id"]
    for view in DERIVED:
        response = client.get(f"/records/{record_id}/{view}")
        assert response.status_code == 200, (view, response.text)
        assert pydicom.dcmread(pydicom.filebase.DicomBytesIO(response.content)).SOPInstanceUID


# pydicom's own files that once got an SR of 500: no Modality, no PixelSpacing, or a
# Modality (RTDOSE) that highdicom will not measure on.
LIBRARY_FILES = (
    "rtdose.dcm",
    "emri_small_RLE.dcm",
    "liver_1frame.dcm",
    "SC_jpeg_no_color_transform.dcm",
)


@pytest.mark.parametrize("name", LIBRARY_FILES)
def test_an_accepted_library_test_file_has_its_sr_and_secondary_capture(
    lenient_client: TestClient, name: str
) -> None:
    upload = Path(get_testdata_file(name)).read_bytes()
    assert_derived_objects_or_a_reason(lenient_client, upload)


# Decimal strings damaged as the fuzz damaged them: no number in them. SliceThickness is
# "0.8000"; the Image Orientation (Patient) is "1.0000\0.0000\0.0000\0.0000\1.0000\0.0000".
DAMAGED_DECIMALS = {
    "slice-thickness-stray-character": (b"0.8000", b"0.0*00"),
    "slice-thickness-nul-padded": (b"0.8000", b"0.8\x00\x00\x00"),
    "orientation-stray-character": (b"1.0000\\0.0000\\0.0000", b"1.0000\\0.0*00\\0.0000"),
    "orientation-nul-padded": (b"0.0000\\1.0000", b"0.0000\\1.0\x00\x00\x00"),
}


@pytest.mark.parametrize("damage", DAMAGED_DECIMALS.values(), ids=DAMAGED_DECIMALS.keys())
def test_a_damaged_decimal_string_never_costs_a_record_its_derived_objects(
    lenient_client: TestClient, damage: tuple[bytes, bytes]
) -> None:
    intact, damaged = damage
    upload = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    assert upload.count(intact) == 1 and len(intact) == len(damaged)
    assert_derived_objects_or_a_reason(lenient_client, upload.replace(intact, damaged))


def test_a_source_that_states_no_orientation_gets_a_capture_that_says_it_is_not_known(
    lenient_client: TestClient,
) -> None:
    upload = mr_small_changed(without("ImageOrientationPatient"))
    created = lenient_client.post("/classify", files={"file": ("x.dcm", upload, DICOM)})
    assert created.status_code == 201, created.text

    response = lenient_client.get(f"/records/{created.json()['id']}/heatmap.dcm")
    assert response.status_code == 200, response.text
    capture = pydicom.dcmread(pydicom.filebase.DicomBytesIO(response.content))
    assert "PatientOrientation" in capture
    assert not capture.PatientOrientation
