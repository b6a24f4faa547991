"""What is stored of a DICOM upload holds no patient identity, only salted UID hashes."""

import hashlib
import hmac
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from pydantic import SecretStr
from pydicom.data import get_testdata_file
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.models import Record
from ml.decode import decode_image
from tests.api.conftest import synthetic_head_slice

SALT = "hospital-shared-secret"
IDENTIFYING_VALUES = {
    "PatientName": "Doe^Jane",
    "PatientID": "PAT-0012345",
    "PatientBirthDate": "19700102",
    "InstitutionName": "St Example Hospital",
    "ReferringPhysicianName": "House^Gregory",
}
PRIVATE_VALUE = "ACME-PRIVATE-NOTE-42"
PRIVATE_CREATOR = "ACME SCANNER 1.0"


@pytest.fixture
def identified_dicom() -> pydicom.Dataset:
    dataset = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    for keyword, value in IDENTIFYING_VALUES.items():
        setattr(dataset, keyword, value)
    dataset.private_block(0x0029, PRIVATE_CREATOR, create=True).add_new(0x01, "LO", PRIVATE_VALUE)
    return dataset


def to_bytes(dataset: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def secrets_of(dataset: pydicom.Dataset) -> list[str]:
    uids = [dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID]
    return [*IDENTIFYING_VALUES.values(), PRIVATE_VALUE, PRIVATE_CREATOR, *uids]


def hmac_sha256(uid: str) -> str:
    return hmac.new(SALT.encode(), uid.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def client_with_salt(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(uid_hash_salt=SecretStr(SALT))


def test_no_identifying_value_reaches_the_blob_the_database_or_the_response(
    client_with_salt: TestClient,
    engine: Engine,
    identified_dicom: pydicom.Dataset,
    stored_blobs: Callable[[], list[Path]],
) -> None:
    response = client_with_salt.post(
        "/classify",
        files={"file": ("Doe^Jane.dcm", to_bytes(identified_dicom), "application/dicom")},
    )

    assert response.status_code == 201
    [blob] = stored_blobs()
    with Session(engine) as session:
        row = session.exec(select(Record)).one()
    stored_texts = {
        "blob": blob.read_bytes().decode("latin-1"),
        "row": repr(row.model_dump()),
        "response": response.text,
        "listing": client_with_salt.get("/records").text,
    }
    for secret in secrets_of(identified_dicom):
        for where, text in stored_texts.items():
            assert secret not in text, f"{secret!r} found in the {where}"


def test_the_file_name_of_a_dicom_upload_is_not_kept(
    client_with_salt: TestClient, identified_dicom: pydicom.Dataset
) -> None:
    # Exported files are often named after the patient.
    response = client_with_salt.post(
        "/classify",
        files={"file": ("Doe^Jane.dcm", to_bytes(identified_dicom), "application/dicom")},
    )

    assert response.json()["filename"] is None


def test_the_uid_hashes_are_hmac_sha256_of_the_original_uids_with_the_configured_salt(
    client_with_salt: TestClient, identified_dicom: pydicom.Dataset
) -> None:
    record = client_with_salt.post(
        "/classify", files={"file": ("x.dcm", to_bytes(identified_dicom), "application/dicom")}
    ).json()

    assert record["study_uid_hash"] == hmac_sha256(identified_dicom.StudyInstanceUID)
    assert record["series_uid_hash"] == hmac_sha256(identified_dicom.SeriesInstanceUID)
    assert record["sop_uid_hash"] == hmac_sha256(identified_dicom.SOPInstanceUID)


def test_the_stored_file_is_marked_deidentified_with_a_zeroed_preamble(
    client_with_salt: TestClient, identified_dicom: pydicom.Dataset
) -> None:
    identified_dicom.preamble = b"PATIENT Doe^Jane".ljust(128, b" ")
    record = client_with_salt.post(
        "/classify", files={"file": ("x.dcm", to_bytes(identified_dicom), "application/dicom")}
    ).json()

    stored = client_with_salt.get(f"/records/{record['id']}/original").content

    assert stored[:128] == bytes(128)
    dataset = pydicom.dcmread(io.BytesIO(stored))
    assert dataset.PatientIdentityRemoved == "YES"
    assert dataset.DeidentificationMethod


def test_png_and_jpeg_uploads_have_no_uid_hashes(
    client_with_salt: TestClient, png_bytes: bytes
) -> None:
    record = client_with_salt.post(
        "/classify", files={"file": ("slice.png", png_bytes, "image/png")}
    ).json()

    assert (record["study_uid_hash"], record["series_uid_hash"], record["sop_uid_hash"]) == (
        None,
        None,
        None,
    )


def test_the_file_meta_keeps_no_application_entity_title_or_private_information(
    client_with_salt: TestClient, identified_dicom: pydicom.Dataset
) -> None:
    meta = identified_dicom.file_meta
    meta.SourceApplicationEntityTitle = "DOE_JANE_WARD3"
    meta.SendingApplicationEntityTitle = "ST_EXAMPLE_MRI"
    meta.PrivateInformationCreatorUID = "1.2.3.4"
    meta.PrivateInformation = b"PAT-0012345 Doe^Jane"
    meta.ImplementationVersionName = "STEXAMPLE_WS7"
    record = client_with_salt.post(
        "/classify", files={"file": ("x.dcm", to_bytes(identified_dicom), "application/dicom")}
    ).json()

    stored = client_with_salt.get(f"/records/{record['id']}/original").content

    for secret in (b"DOE_JANE_WARD3", b"ST_EXAMPLE_MRI", b"PAT-0012345", b"STEXAMPLE_WS7"):
        assert secret not in stored
    kept_meta = pydicom.dcmread(io.BytesIO(stored)).file_meta
    assert "SourceApplicationEntityTitle" not in kept_meta
    assert "PrivateInformation" not in kept_meta
    assert kept_meta.MediaStorageSOPInstanceUID  # what a reader needs stays


PHI_TEXT = "Patient Doe^Jane, PAT-0012345, born 1970-01-02"


def png_with_text_chunks() -> bytes:
    info = PngInfo()
    info.add_text("Comment", PHI_TEXT)
    info.add_text("Author", PHI_TEXT, zip=True)  # zTXt
    info.add_itxt("Description", PHI_TEXT)
    exif = Image.Exif()
    exif[0x010E] = PHI_TEXT  # ImageDescription
    buffer = io.BytesIO()
    image = Image.fromarray(synthetic_head_slice())
    image.save(buffer, "PNG", pnginfo=info, exif=exif)
    return buffer.getvalue()


def jpeg_with_comment_and_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = PHI_TEXT
    buffer = io.BytesIO()
    image = Image.fromarray(synthetic_head_slice()).convert("RGB")
    image.save(buffer, "JPEG", comment=PHI_TEXT.encode(), exif=exif, progressive=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        pytest.param(png_with_text_chunks(), "image/png", id="png-text-itxt-ztxt-exif"),
        pytest.param(jpeg_with_comment_and_exif(), "image/jpeg", id="jpeg-comment-exif"),
    ],
)
def test_png_text_chunks_and_jpeg_comments_and_exif_are_neither_stored_nor_served(
    client_with_salt: TestClient,
    stored_blobs: Callable[[], list[Path]],
    data: bytes,
    media_type: str,
) -> None:
    assert PHI_TEXT.encode() in data or b"Doe^Jane" in zlib_inflated_text(data)
    record = client_with_salt.post("/classify", files={"file": ("s", data, media_type)}).json()

    served = client_with_salt.get(f"/records/{record['id']}/original").content
    [blob] = stored_blobs()

    for kept in (served, blob.read_bytes()):
        assert b"Doe^Jane" not in kept and b"Doe^Jane" not in zlib_inflated_text(kept)
        np.testing.assert_array_equal(decode_image(kept).pixels, decode_image(data).pixels)
    assert record["image_sha256"] == hashlib.sha256(served).hexdigest()


def zlib_inflated_text(data: bytes) -> bytes:
    """What a PNG's compressed text chunks say, inflated (zTXt and iTXt hide it from a grep)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return repr(getattr(image, "text", {})).encode()
