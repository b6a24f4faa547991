"""Damaged uploads and extreme query values shared by the tests and the reliability bench
(issue #29): a DICOM element with an unknown VR or an odd value length, a PNG whose head
crop collapses to one row, date-times at and past the calendar's edge, forged cursors."""

import base64
import json
import struct
from pathlib import Path

import cv2
import numpy as np
from pydicom.data import get_testdata_file

ROWS_US = b"\x28\x00\x10\x00US"
MODALITY_CS = b"\x08\x00\x60\x00CS"


def mr_small() -> bytes:
    return Path(get_testdata_file("MR_small.dcm")).read_bytes()


def with_unknown_vr(data: bytes, element: bytes) -> bytes:
    """The element's explicit VR replaced by one no standard defines."""
    at = data.index(element)
    return data[: at + 4] + b"ZZ" + data[at + 6 :]


def with_odd_value_length(data: bytes, element: bytes) -> bytes:
    """One byte more in a binary element's value, its length field saying so (3 for a US)."""
    at = data.index(element)
    length = struct.unpack("<H", data[at + 6 : at + 8])[0]
    value_end = at + 8 + length
    return (
        data[: at + 6]
        + struct.pack("<H", length + 1)
        + data[at + 8 : value_end]
        + b"\x00"
        + data[value_end:]
    )


def head_of_one_bright_row(size: int) -> bytes:
    """Black but for one white row: the head crop collapses to a one-pixel-high box."""
    pixels = np.zeros((size, size), dtype=np.uint8)
    pixels[size // 2, :] = 255
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    return encoded.tobytes()


# Each an instant whose UTC time falls outside years 1 to 9999.
OUT_OF_CALENDAR = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
# Each within the calendar once in UTC: valid bounds, answered as any other.
AT_THE_CALENDAR_EDGE = ["0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59+14:00"]


def cursor(created_at: str, record_id: object, sort: str = "newest") -> str:
    raw = json.dumps({"t": created_at, "i": record_id, "s": sort}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
