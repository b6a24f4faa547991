"""De-identify DICOM Part-10 bytes with the PS3.15 Basic Application Level Confidentiality Profile.

The actions per attribute come from the standard's own table (Table E.1-1), shipped as
`api/data/ps315_basic_profile.tsv`, so updating to a newer revision means replacing that file.
Private attributes are removed and the 128-byte preamble is zeroed, because both can carry
identifying data that no table lists.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from api.interop.common import underivable_reason
from ml.decode import ImageDecodeError

PROFILE_PATH = Path(__file__).parent / "data" / "ps315_basic_profile.tsv"
DEIDENTIFICATION_METHOD = "DICOM PS3.15 E.1 Basic Application Level Confidentiality Profile"
# DCM code for the Basic Application Confidentiality Profile (PS3.16 CID 7050).
BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
PREAMBLE_LENGTH = 128
_TAG_PATTERN = re.compile(r"^\(([0-9A-FX]{4}),([0-9A-FX]{4})\)$")
_ROW_START = re.compile(r"^\([0-9A-FX]{4},[0-9A-FX]{4}\)\t")

# Combined codes (X/Z, X/D, Z/D, …) keep an attribute only where the IOD requires it. The
# profile has no IOD tables, so these are the attributes with a combined code that the
# common image IODs (MR, CT, SC) require as Type 2; every other one takes the first action.
TYPE_2_IN_COMMON_IODS = frozenset(
    {
        0x00100020,  # Patient ID (Patient Module)
        0x00080023,  # Content Date (General Image Module, 2C)
        0x00080033,  # Content Time (General Image Module, 2C)
        0x00180010,  # Contrast/Bolus Agent (Contrast/Bolus Module)
    }
)

# Dummy values per VR: valid for the VR, and obviously not real data.
_DUMMY_TEXT = "ANONYMOUS"
_DUMMY_BY_VR = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000Y",
    "DS": "0",
    "IS": "0",
    "US": 0,
    "SS": 0,
    "UL": 0,
    "SL": 0,
    "UV": 0,
    "SV": 0,
    "FL": 0.0,
    "FD": 0.0,
}
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})


@dataclass(frozen=True)
class DeidentifiedDicom:
    data: bytes  # the de-identified Part-10 file
    # The original identifiers, so the caller can keep salted hashes of them (never the UIDs).
    study_instance_uid: str | None
    series_instance_uid: str | None
    sop_instance_uid: str | None


@dataclass(frozen=True)
class _Rule:
    mask: int
    value: int
    code: str

    def matches(self, tag: int) -> bool:
        return tag & self.mask == self.value


def deidentify_dicom(data: bytes, *, uid_salt: str) -> DeidentifiedDicom:
    """Apply the profile; the same input and salt always give the same bytes."""
    dataset = _read(data)
    try:
        if (reason := underivable_reason(dataset)) is not None:
            raise ImageDecodeError(reason)
        originals = tuple(_uid_or_none(dataset, name) for name in _HASHED_UIDS)
        dataset.remove_private_tags()
        dataset.walk(lambda parent, element: _apply_profile(parent, element, uid_salt))
        _mark_as_deidentified(dataset, uid_salt)
        return DeidentifiedDicom(_write(dataset), *originals)
    except ImageDecodeError:
        raise
    except Exception as error:
        # pydicom parses elements lazily: a damaged one (bad VR, odd length, misplaced
        # group 0000/0002) only fails here, when the walk or the writer reaches it.
        raise ImageDecodeError(
            "The DICOM file has damaged or misplaced attributes and cannot be de-identified "
            "safely. Export the instance again."
        ) from error


def salted_uid_hash(uid: str, salt: str) -> str:
    """HMAC-SHA256(key=salt, message=the UID's ASCII text), as lowercase hex."""
    return hmac.new(salt.encode(), uid.strip().encode("ascii"), hashlib.sha256).hexdigest()


def replacement_uid(uid: str, salt: str) -> str:
    # Derived, not random: every reference to one UID (in any file) gets the same new UID.
    return str(generate_uid(entropy_srcs=[salt, uid.strip()]))


_HASHED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def _uid_or_none(dataset: Dataset, keyword: str) -> str | None:
    value = str(dataset.get(keyword) or "").strip()
    # A UID is digits and dots; anything outside ASCII cannot be hashed as the contract says.
    if not value.isascii():
        raise ImageDecodeError(
            f"The DICOM {keyword} holds characters a UID cannot have. Export the instance again."
        )
    return value or None


def _read(data: bytes) -> Dataset:
    try:
        return pydicom.dcmread(io.BytesIO(data))
    except Exception as error:  # pydicom raises many exception types on bad input
        raise ImageDecodeError(
            "The DICOM file is damaged and cannot be read. Export the instance again."
        ) from error


def _write(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _apply_profile(parent: Dataset, element: DataElement, salt: str) -> None:
    code = _code_for(element.tag)
    if code is None:
        return
    action = _resolve(code, element.tag)
    if action == "X":
        del parent[element.tag]
    elif action == "Z":
        element.value = Sequence() if element.VR == "SQ" else None
    elif action == "D":
        element.value = _dummy_value(element)
    elif action == "U" and element.value:
        element.value = _replace_uids(element.value, salt)
    # "U*" on a sequence: keep it; the UIDs inside are replaced as the walk reaches them.


def _resolve(code: str, tag: int) -> str:
    actions = code.split("/")
    if len(actions) == 1 or tag not in TYPE_2_IN_COMMON_IODS:
        return actions[0]
    return "Z" if "Z" in actions else actions[-1]


def _dummy_value(element: DataElement) -> object:
    if element.VR == "SQ":
        return Sequence()
    if element.VR in _BINARY_VRS:
        return b"\x00\x00"
    return _DUMMY_BY_VR.get(element.VR, _DUMMY_TEXT)


def _replace_uids(value: object, salt: str) -> object:
    if isinstance(value, str):
        return replacement_uid(value, salt)
    return [replacement_uid(uid, salt) for uid in value]


def _mark_as_deidentified(dataset: Dataset, salt: str) -> None:
    dataset.preamble = b"\x00" * PREAMBLE_LENGTH
    meta = dataset.file_meta
    if "SOPInstanceUID" in dataset:
        # The file meta is not walked; it must name the same (new) instance as the dataset.
        meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    elif "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = replacement_uid(meta.MediaStorageSOPInstanceUID, salt)
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = DEIDENTIFICATION_METHOD
    code_value, scheme, meaning = BASIC_PROFILE_CODE
    method_code = Dataset()
    method_code.CodeValue = code_value
    method_code.CodingSchemeDesignator = scheme
    method_code.CodeMeaning = meaning
    dataset.DeidentificationMethodCodeSequence = Sequence([method_code])


def _code_for(tag: int) -> str | None:
    exact, masked = _profile_rules()
    if tag in exact:
        return exact[tag]
    return next((rule.code for rule in masked if rule.matches(tag)), None)


@cache
def _profile_rules() -> tuple[dict[int, str], tuple[_Rule, ...]]:
    exact: dict[int, str] = {}
    masked: list[_Rule] = []
    for tag_text, code in _profile_rows():
        group, element = _TAG_PATTERN.fullmatch(tag_text).groups()
        rule = _rule_for(group + element, code)
        if rule.mask == 0xFFFFFFFF:
            exact[rule.value] = code
        else:
            masked.append(rule)
    return exact, tuple(masked)


def _rule_for(tag_hex: str, code: str) -> _Rule:
    # "X" in the standard's tag column (e.g. (50XX,XXXX)) stands for any hex digit.
    mask = int("".join("0" if digit == "X" else "F" for digit in tag_hex), 16)
    value = int(tag_hex.replace("X", "0"), 16)
    return _Rule(mask=mask, value=value, code=code)


def _profile_rows() -> list[tuple[str, str]]:
    """(tag, basic_profile code) per attribute, from the standard's table.

    A row starts with its tag; a name that spans lines in the source (e.g. "Icon Image
    Sequence (see Note 11)") is joined back before its columns are read.
    """
    text = PROFILE_PATH.read_text(encoding="utf-8")
    rows: list[str] = []
    for line in text.splitlines():
        if line.startswith(("#", "tag\t")):
            continue
        if _ROW_START.match(line):
            rows.append(line)
        elif rows and line.strip():
            rows[-1] += " " + line
    columns = [row.split("\t") for row in rows]
    return [(cells[0], cells[2].strip()) for cells in columns if cells[2].strip()]
