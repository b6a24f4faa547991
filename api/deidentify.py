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
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, generate_uid

from api.interop.common import underivable_reason
from ml.pixels import ImageDecodeError

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
# File meta (group 0002) that names the systems and people the file passed through, or
# carries private data; the profile's table lists none of them, as it covers the dataset.
FILE_META_IDENTIFYING = (
    "SourceApplicationEntityTitle",  # (0002,0016)
    "SendingApplicationEntityTitle",  # (0002,0017)
    "ReceivingApplicationEntityTitle",  # (0002,0018)
    "SourcePresentationAddress",  # (0002,0026)
    "SendingPresentationAddress",  # (0002,0027)
    "ReceivingPresentationAddress",  # (0002,0028)
    "PrivateInformationCreatorUID",  # (0002,0100)
    "PrivateInformation",  # (0002,0102)
)
# This service writes the de-identified file, so it names itself as the implementation.
IMPLEMENTATION_VERSION_NAME = "MEDIMG_DEID"

# PNG chunks kept: those that say how to read the pixels. Text (tEXt, zTXt, iTXt), EXIF,
# time, ICC profile names and private chunks go: any may hold a name, a date or an ID.
PNG_KEPT_CHUNKS = frozenset(
    {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"pHYs"}
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG markers dropped: APP1-APP13 and APP15 (EXIF, XMP, IPTC, ICC, vendor data) and COM.
# APP0 (JFIF density) and APP14 (Adobe colour transform) stay: the decoder reads them.
JPEG_DROPPED_MARKERS = frozenset(range(0xE1, 0xEE)) | {0xEF, 0xFE}
JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
JPEG_SOS, JPEG_EOI = 0xDA, 0xD9


# What a result needs to be filed into the original study: the image's UIDs, and the
# patient and study attributes an SR or Secondary Capture copies from its source, so that it
# agrees with the study it joins. The FilingContext column (api/models.py) that keeps each,
# read before the profile removes it; only when the caller asks (api/interop/filing.py).
FILING_ATTRIBUTES = {
    "study_instance_uid": "StudyInstanceUID",
    "series_instance_uid": "SeriesInstanceUID",
    "sop_instance_uid": "SOPInstanceUID",
    "patient_id": "PatientID",
    "issuer_of_patient_id": "IssuerOfPatientID",
    "patient_name": "PatientName",
    "patient_birth_date": "PatientBirthDate",
    "patient_sex": "PatientSex",
    "accession_number": "AccessionNumber",
    "study_id": "StudyID",
    "study_date": "StudyDate",
    "study_time": "StudyTime",
    "study_description": "StudyDescription",
    "referring_physician_name": "ReferringPhysicianName",
}


@dataclass(frozen=True)
class DeidentifiedDicom:
    data: bytes  # the de-identified Part-10 file
    # The original identifiers, so the caller can keep salted hashes of them (never the UIDs).
    study_instance_uid: str | None
    series_instance_uid: str | None
    sop_instance_uid: str | None
    # The original's FILING_ATTRIBUTES, by column; None unless asked for.
    filing_identifiers: dict[str, str | None] | None = None


@dataclass(frozen=True)
class _Rule:
    mask: int
    value: int
    code: str

    def matches(self, tag: int) -> bool:
        return tag & self.mask == self.value


def deidentify_dicom(
    data: bytes, *, uid_salt: str, keep_filing_identifiers: bool = False
) -> DeidentifiedDicom:
    """Apply the profile; the same input and salt always give the same bytes.

    `keep_filing_identifiers`: also answer the original's identifiers that file a result
    into its study (FILING_ATTRIBUTES); the file written is de-identified all the same."""
    dataset = _read(data)
    try:
        if (reason := underivable_reason(dataset)) is not None:
            raise ImageDecodeError(reason)
        originals = tuple(_uid_or_none(dataset, name) for name in _HASHED_UIDS)
        filing = filing_identifiers(dataset) if keep_filing_identifiers else None
        dataset.remove_private_tags()
        dataset.walk(lambda parent, element: _apply_profile(parent, element, uid_salt))
        _mark_as_deidentified(dataset, uid_salt)
        return DeidentifiedDicom(_write(dataset), *originals, filing_identifiers=filing)
    except ImageDecodeError:
        raise
    except Exception as error:
        # pydicom parses elements lazily: a damaged one (bad VR, odd length, misplaced
        # group 0000/0002) only fails here, when the walk or the writer reaches it.
        raise ImageDecodeError(
            "The DICOM file has damaged or misplaced attributes and cannot be de-identified "
            "safely. Export the instance again."
        ) from error


def filing_identifiers(dataset: Dataset) -> dict[str, str | None]:
    """The FILING_ATTRIBUTES of `dataset`, by FilingContext column: decoded text (a Person
    Name with its components, a date as sent), so that laid back into a file of the same
    character set each is written as it came; None where empty or absent."""
    return {
        column: _text_or_none(dataset.get(keyword)) for column, keyword in FILING_ATTRIBUTES.items()
    }


def _text_or_none(value: object) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def strip_raster_metadata(data: bytes, media_type: str) -> bytes:
    """A PNG or JPEG without its text, comments and EXIF: the same pixels, nothing else.

    The bytes come back unchanged when there is nothing to strip. A file whose structure
    cannot be followed is refused (ImageDecodeError), as a DICOM file is, rather than
    stored with what it may carry."""
    try:
        if media_type == "image/png":
            return _strip_png(data)
        if media_type == "image/jpeg":
            return _strip_jpeg(data)
    except (IndexError, ValueError, struct.error) as error:
        raise ImageDecodeError(
            f"The {media_type} file's structure cannot be followed, so its text and comments "
            "cannot be removed safely. Export the image again."
        ) from error
    return data


def _strip_png(data: bytes) -> bytes:
    kept, dropped, at = [PNG_SIGNATURE], False, len(PNG_SIGNATURE)
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data):
            raise ValueError("a PNG chunk runs past the end of the file")
        if kind in PNG_KEPT_CHUNKS:
            kept.append(data[at:end])
        else:
            dropped = True
        at = end
        if kind == b"IEND":
            dropped = dropped or at < len(data)  # whatever trails the image goes too
            break
    return b"".join(kept) if dropped else data


def _strip_jpeg(data: bytes) -> bytes:
    kept, at = [data[:2]], 2  # SOI
    while at < len(data):
        if data[at] != 0xFF:
            raise ValueError("a JPEG marker was expected")
        while data[at + 1] == 0xFF:  # fill bytes before a marker
            at += 1
        marker = data[at + 1]
        if marker == JPEG_EOI:
            kept.append(data[at : at + 2])  # whatever trails the image goes
            break
        if marker in JPEG_STANDALONE_MARKERS:
            kept.append(data[at : at + 2])
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        end = at + 2 + length
        if length < 2 or end > len(data):
            raise ValueError("a JPEG segment runs past the end of the file")
        if marker not in JPEG_DROPPED_MARKERS:
            kept.append(data[at:end])
        at = end
        if marker == JPEG_SOS:  # the entropy-coded scan runs to the next real marker
            scan_end = _end_of_scan(data, at)
            kept.append(data[at:scan_end])
            at = scan_end
    else:
        raise ValueError("the JPEG has no end-of-image marker")
    stripped = b"".join(kept)
    return stripped if len(stripped) < len(data) else data


def _end_of_scan(data: bytes, at: int) -> int:
    while True:
        at = data.index(b"\xff", at)
        following = data[at + 1]
        # 0xFF00 is an escaped data byte, 0xFFD0-D7 a restart marker: both part of the scan.
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            at += 1
            continue
        return at


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
    for keyword in FILE_META_IDENTIFYING:
        if keyword in meta:
            delattr(meta, keyword)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
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
