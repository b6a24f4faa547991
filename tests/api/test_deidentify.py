"""What is stored of a DICOM upload holds no patient identity, only salted UID hashes."""

import hashlib
import hmac
import io
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pydicom.data import get_testdata_file
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.models import Record

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
