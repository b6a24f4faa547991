"""Polyglots and served content: an executable header in a DICOM preamble is not kept, and
every blob the API serves has a fixed type, `nosniff` and a download name."""

import io

import pydicom
from pydicom.data import get_testdata_file

from medimg_testing.corpus import raster_seeds
from medimg_testing.server import LiveServer

# A Windows PE header ("MZ", the DOS stub's text): the classic DICOM/executable polyglot.
EXECUTABLE_HEADER = b"MZ\x90\x00\x03\x00\x00\x00This program cannot be run in DOS mode.\r\n"


def dicom_with_executable_preamble() -> bytes:
    dataset = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    dataset.preamble = EXECUTABLE_HEADER.ljust(128, b"\x00")
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_an_executable_header_in_the_dicom_preamble_is_zeroed_in_the_stored_file(
    live_server: LiveServer,
) -> None:
    upload = dicom_with_executable_preamble()
    assert upload.startswith(b"MZ")

    with live_server.client() as client:
        record = client.post("/classify", files={"file": ("x.dcm", upload)}).json()
        served = client.get(f"/records/{record['id']}/original").content

    stored = live_server.storage_dir / record["image_sha256"][:2] / record["image_sha256"]
    for blob in (served, stored.read_bytes()):
        assert blob[:128] == bytes(128)
        assert blob[128:132] == b"DICM"
        assert b"This program cannot be run" not in blob


def test_every_served_blob_has_a_fixed_type_nosniff_and_a_download_name(
    live_server: LiveServer,
) -> None:
    uploads = [("x.dcm", dicom_with_executable_preamble(), "application/dicom")]
    uploads += [
        (name, data, "image/png" if name.endswith("png") else "image/jpeg")
        for name, data in raster_seeds()[::3]
    ]
    with live_server.client() as client:
        for name, data, media_type in uploads:
            record = client.post("/classify", files={"file": (name, data)}).json()
            for path, expected_type in [("original", media_type), ("image", "image/png")]:
                response = client.get(f"/records/{record['id']}/{path}")

                assert response.status_code == 200
                assert response.headers["content-type"] == expected_type
                assert response.headers["x-content-type-options"] == "nosniff"
                assert response.headers["content-disposition"].startswith(
                    ("inline; filename=", "attachment; filename=")
                )
