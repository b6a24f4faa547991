"""PHI-bearing DICOM files, and the identifying values of real ones to search a log for:
for tests/reliability/test_phi.py and `bench/reliability.py`."""

import datetime
import io
from collections.abc import Iterable

import pydicom
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence

from api.deidentify import _profile_rows

PRIVATE_CREATOR = "ZQVENDORX"
PRIVATE_VALUE = "ZQPRIVATEX^NOTE"
UPLOAD_NAME = "ZQFILENAMEX^Patient.dcm"
# Binary or enumerated values: set on the file, but not searchable as text.
UNSEARCHABLE_VRS = {"US", "SS", "UL", "SL", "FL", "FD", "AS", "SQ"}
# Who the patient is and where and by whom the image was made (the values the pydicom
# warning of issue #29 printed), and the instance UIDs that lead back to the study.
IDENTIFYING_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientAddress",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "AccessionNumber",
    "StudyID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
)
# Shorter values of a real file (a sex, "1" as an ID, an empty name) identify no one and
# would match unrelated text.
MIN_SEARCHABLE_CHARS = 6


def distinctive_value(vr: str, n: int) -> object:
    """A value valid for `vr`, unique to attribute number `n`, never a dummy the profile uses."""
    token = f"ZQ{n:04d}X"
    day = datetime.date(1901, 1, 1) + datetime.timedelta(days=37 * n)
    values = {
        "DA": day.strftime("%Y%m%d"),
        "TM": f"1122{n % 60:02d}.{n:06d}",
        "DT": day.strftime("%Y%m%d") + f"1122{n % 60:02d}.{n:06d}",
        "UI": f"1.2.826.0.1.3680043.99.777.{n}",
        "DS": f"9{n:03d}.75319",
        "IS": f"9{n:04d}3",
        "AS": f"{n % 99:03d}D",
        "US": 7000 + n,
        "OB": token.encode(),
        "UN": token.encode(),
        "PN": f"{token}^PATIENT",
    }
    if vr == "SQ":
        item = Dataset()
        item.CodeMeaning = f"{token}-ITEM"
        return Sequence([item])
    return values.get(vr, token)


def profile_attributes() -> list[tuple[int, str]]:
    """(tag, VR) of every listed attribute that can sit in a dataset (not group 0000/0002)."""
    attributes = []
    for tag_text, _ in _profile_rows():
        hex_tag = tag_text.strip("()").replace(",", "").replace("X", "0")
        tag = int(hex_tag, 16)
        if tag >> 16 in (0x0000, 0x0002):
            continue
        try:
            vr = dictionary_VR(tag).split(" or ")[0]
        except KeyError:
            continue
        attributes.append((tag, vr))
    return attributes


def identified_dicom() -> tuple[bytes, list[str]]:
    """The file, and every value in it that must not survive as searchable text."""
    dataset = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    secrets = [PRIVATE_CREATOR, PRIVATE_VALUE, "ZQFILENAMEX"]
    for n, (tag, vr) in enumerate(profile_attributes(), start=1):
        value = distinctive_value(vr, n)
        dataset.add_new(tag, vr, value)
        if vr not in UNSEARCHABLE_VRS:
            secrets.append(value.decode() if isinstance(value, bytes) else str(value))
        elif vr == "SQ":
            secrets.append(f"ZQ{n:04d}X-ITEM")
    block = dataset.private_block(0x0011, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", PRIVATE_VALUE)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue(), secrets


def dicom_whose_sop_instance_uid_swallows_the_patient() -> tuple[bytes, list[str]]:
    """A PHI-bearing file with one damaged length field: SOP Instance UID's length also
    covers every element after it up to the Patient's Sex (institution, referring physician,
    patient name, ID, birth date), so pydicom reads one invalid UI value made of them all
    and warns, quoting it. Returns the file and the values no log may show."""
    dataset = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    identifying = {
        "InstitutionName": "ZQHOSPITALX",
        "ReferringPhysicianName": "ZQREFERRERX^DOCTOR",
        "PatientName": "ZQDAMAGEDX^PATIENT",
        "PatientID": "ZQID4711X",
        "PatientBirthDate": "19360229",
    }
    for keyword, value in identifying.items():
        setattr(dataset, keyword, value)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    uid = data.index(b"\x08\x00\x18\x00UI")
    sex = data.index(b"\x10\x00\x40\x00CS")
    length = (sex - uid - 8).to_bytes(2, "little")
    damaged = data[: uid + 6] + length + data[uid + 8 :]
    return damaged, [value.split("^")[0] for value in identifying.values()]


def identifying_values(dicoms: Iterable[bytes]) -> set[str]:
    """The values of `IDENTIFYING_KEYWORDS` in real files, each part of a person's name
    apart (a log may quote one alone); files pydicom cannot read give none."""
    values: set[str] = set()
    for data in dicoms:
        try:
            dataset = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
            found = [str(dataset.get(keyword) or "") for keyword in IDENTIFYING_KEYWORDS]
        except (InvalidDicomError, ValueError, OSError, KeyError, TypeError):
            continue
        values |= {part.strip() for value in found for part in value.split("^")}
    return {value for value in values if len(value) >= MIN_SEARCHABLE_CHARS}


def lines_carrying(text: str, values: Iterable[str]) -> list[str]:
    """The lines of `text` that hold any of `values`."""
    wanted = list(values)
    return [line for line in text.splitlines() if any(value in line for value in wanted)]
