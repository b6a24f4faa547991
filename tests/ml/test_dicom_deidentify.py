"""De-identification with the DICOM PS3.15 Basic Application Level Confidentiality Profile."""

import hashlib
import hmac
import io
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from api.deidentify import deidentify_dicom, salted_uid_hash
from ml.decode import decode_image

SALT = "test-salt"
PATIENT_NAME = "Doe^Jane"
PRIVATE_VALUE = "PRIVATE-SCANNER-NOTE"


def mr_dataset() -> pydicom.Dataset:
    return pydicom.dcmread(get_testdata_file("MR_small.dcm"))


def to_bytes(dataset: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def deidentified(dataset: pydicom.Dataset, salt: str = SALT) -> pydicom.Dataset:
    result = deidentify_dicom(to_bytes(dataset), uid_salt=salt)
    return pydicom.dcmread(io.BytesIO(result.data))


def test_patient_attributes_are_emptied_or_removed_as_the_profile_says() -> None:
    dataset = mr_dataset()
    dataset.PatientName = PATIENT_NAME
    dataset.PatientID = "PAT-12345"
    dataset.PatientBirthDate = "19700101"
    dataset.PatientAge = "056Y"
    dataset.InstitutionName = "St Example Hospital"
    dataset.StudyDate = "20240102"

    result = deidentified(dataset)

    assert result.PatientName == ""  # Z
    assert result.PatientBirthDate == ""  # Z
    assert result.StudyDate == ""  # Z
    assert result.PatientID == ""  # Z/D, Type 2 in the Patient Module: kept, empty
    assert "PatientAge" not in result  # X
    assert "InstitutionName" not in result  # X/Z/D, Type 3: removed


def test_a_d_attribute_gets_a_dummy_value_not_the_original() -> None:
    dataset = mr_dataset()
    dataset.ClinicalTrialSponsorName = "Acme Pharma"

    result = deidentified(dataset)

    assert result.ClinicalTrialSponsorName not in ("", "Acme Pharma")


def test_private_attributes_are_removed_and_the_preamble_is_zeroed() -> None:
    dataset = mr_dataset()
    block = dataset.private_block(0x0011, "ACME SCANNER", create=True)
    block.add_new(0x10, "LO", PRIVATE_VALUE)
    dataset.preamble = b"PREAMBLE-SECRET".ljust(128, b"!")

    data = deidentify_dicom(to_bytes(dataset), uid_salt=SALT).data

    assert PRIVATE_VALUE.encode() not in data
    assert b"ACME SCANNER" not in data
    assert data[:128] == bytes(128)


def test_overlay_and_curve_groups_are_removed_through_the_tables_wildcards() -> None:
    dataset = mr_dataset()
    dataset.add_new(0x60023000, "OW", b"\x01\x02" * 8)  # Overlay Data, group 6002
    dataset.add_new(0x60024000, "LT", "overlay comment with a name")
    dataset.add_new(0x50000005, "US", 2)  # a curve attribute, group 5000

    result = deidentified(dataset)

    assert {0x60023000, 0x60024000, 0x50000005}.isdisjoint(result.keys())


def test_the_icon_image_sequence_is_removed() -> None:
    # Its row spans several lines in the standard's table; it must still be read.
    dataset = mr_dataset()
    icon = Dataset()
    icon.Rows = 1
    dataset.IconImageSequence = Sequence([icon])

    assert "IconImageSequence" not in deidentified(dataset)


def test_uids_are_replaced_consistently_wherever_they_appear() -> None:
    dataset = mr_dataset()
    reference = Dataset()
    reference.SeriesInstanceUID = dataset.SeriesInstanceUID
    reference.ReferencedSOPInstanceUID = dataset.SOPInstanceUID
    dataset.ReferencedSeriesSequence = Sequence([reference])  # not in the table: kept
    originals = {dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID}

    result = deidentified(dataset)

    new_uids = {result.StudyInstanceUID, result.SeriesInstanceUID, result.SOPInstanceUID}
    assert new_uids.isdisjoint(originals)
    nested = result.ReferencedSeriesSequence[0]
    assert nested.SeriesInstanceUID == result.SeriesInstanceUID
    assert nested.ReferencedSOPInstanceUID == result.SOPInstanceUID
    assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID
    assert result.SOPClassUID == dataset.SOPClassUID  # a class, not an instance: kept


def test_the_result_is_marked_as_deidentified() -> None:
    result = deidentified(mr_dataset())

    assert result.PatientIdentityRemoved == "YES"
    assert "PS3.15" in result.DeidentificationMethod
    assert result.DeidentificationMethodCodeSequence[0].CodeValue == "113100"


def test_the_same_file_and_salt_always_give_the_same_bytes_and_another_salt_other_uids() -> None:
    data = to_bytes(mr_dataset())

    first = deidentify_dicom(data, uid_salt=SALT)
    again = deidentify_dicom(data, uid_salt=SALT)
    other = deidentify_dicom(data, uid_salt="another-salt")

    assert first.data == again.data
    first_uid = pydicom.dcmread(io.BytesIO(first.data)).SOPInstanceUID
    assert first_uid != pydicom.dcmread(io.BytesIO(other.data)).SOPInstanceUID


def test_the_original_uids_are_returned_for_hashing_and_the_hash_is_hmac_sha256() -> None:
    dataset = mr_dataset()

    result = deidentify_dicom(to_bytes(dataset), uid_salt=SALT)

    assert result.study_instance_uid == dataset.StudyInstanceUID
    assert result.series_instance_uid == dataset.SeriesInstanceUID
    assert result.sop_instance_uid == dataset.SOPInstanceUID
    expected = hmac.new(SALT.encode(), dataset.SOPInstanceUID.encode(), hashlib.sha256)
    assert salted_uid_hash(dataset.SOPInstanceUID, SALT) == expected.hexdigest()


@pytest.mark.parametrize(
    "name",
    [
        "MR_small.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "emri_small.dcm",
    ],
)
def test_the_pixels_survive_deidentification_unchanged(name: str) -> None:
    data = Path(get_testdata_file(name)).read_bytes()

    result = deidentify_dicom(data, uid_salt=SALT)

    assert (decode_image(result.data).pixels == decode_image(data).pixels).all()
