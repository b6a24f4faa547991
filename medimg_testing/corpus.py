"""A deterministic corpus of malformed images, made at test time from real files.

Seeds: the real DICOM files pydicom and pydicom-data ship (small ones, so thousands post
quickly) and PNG/JPEG slices encoded by OpenCV. Each corpus file is one seed put through one
to three mutations: byte flips, boundary integers written over length and size fields,
truncation, inserted/deleted/duplicated chunks, broken magic bytes and polyglot splices.
The same seed number always gives the same files, so a failure can be replayed.
"""

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import data_store  # the pydicom-data package
import numpy as np
from pydicom.data import DATA_ROOT

from medimg_testing.bombs import costly_png, deflated_dicom_bomb

MAX_SEED_BYTES = 48 * 1024
DICOM_PREAMBLE_BYTES = 128
# Values that break length and size fields: zero, one, sign boundaries, all ones.
BOUNDARY_INTEGERS = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)
Mutation = Callable[[random.Random, bytes, list[bytes]], bytes]


@dataclass(frozen=True)
class CorpusFile:
    name: str  # seed and mutations, for replaying a failure
    data: bytes


@cache
def seed_files() -> tuple[tuple[str, bytes], ...]:
    """Real DICOM files (pydicom + pydicom-data) and OpenCV-made PNG/JPEG slices."""
    # Listed from the installed packages: get_testdata_files() would try to download more.
    folders = (Path(DATA_ROOT) / "test_files", Path(data_store.__file__).parent / "data")
    dicoms = sorted(
        (path for folder in folders for path in folder.glob("*.dcm") if _small(path)),
        key=lambda path: path.name,
    )
    seeds = [(path.name, path.read_bytes()) for path in dicoms]
    seeds += [(name, data) for name, data in raster_seeds()]
    return tuple(seeds)


def raster_seeds() -> list[tuple[str, bytes]]:
    grey = synthetic_slice(64)
    wide = np.ascontiguousarray(cv2.cvtColor(synthetic_slice(48), cv2.COLOR_GRAY2BGR))
    deep = (grey.astype(np.uint16) * 257).astype(np.uint16)
    return [
        ("grey.png", _encode(".png", grey)),
        ("colour.png", _encode(".png", wide)),
        ("sixteen-bit.png", _encode(".png", deep)),
        ("grey.jpg", _encode(".jpg", grey)),
        ("colour.jpg", _encode(".jpg", wide)),
        ("progressive.jpg", _encode(".jpg", grey, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])),
    ]


def synthetic_slice(size: int) -> np.ndarray:
    pixels = np.zeros((size, size), dtype=np.uint8)
    cv2.ellipse(pixels, (size // 2, size // 2), (size * 2 // 5, size * 9 // 20), 0, 0, 360, 140, -1)
    cv2.circle(pixels, (size // 3, size // 3), max(1, size // 10), 230, -1)
    return pixels


def make_corpus(count: int, seed: int = 20261126) -> list[CorpusFile]:
    rng = random.Random(seed)
    seeds = seed_files()
    others = [data for _, data in seeds]
    corpus = [CorpusFile(name, data) for name, data in edge_cases(seeds)]
    while len(corpus) < count:
        name, data = rng.choice(seeds)
        applied = rng.choices(list(MUTATIONS), k=rng.randint(1, 3))
        for mutation in applied:
            data = MUTATIONS[mutation](rng, data, others)
        corpus.append(CorpusFile(f"{len(corpus)}:{name}:{'+'.join(applied)}", data))
    return corpus


def edge_cases(seeds: tuple[tuple[str, bytes], ...]) -> list[tuple[str, bytes]]:
    """Files every parser must survive, whatever the random draw."""
    png, jpeg = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"
    dicom_header = bytes(DICOM_PREAMBLE_BYTES) + b"DICM"
    cases = [("zero-byte", b""), ("one-byte", b"\x00"), ("png-magic-only", png)]
    cases += [("jpeg-magic-only", jpeg), ("dicom-magic-only", dicom_header)]
    cases += [("dicom-magic-then-zeros", dicom_header + bytes(4096))]
    cases += [("png-magic-then-dicom", png + seeds[0][1]), ("jpeg-then-png", jpeg + png)]
    # Legal but costly (issue #29): under the pixel cap, over the decode memory budget (413);
    # and one within it that a server must decode without trouble.
    cases += [("png-rgba-16-bit-6000", costly_png(6000))]
    cases += [("png-rgba-16-bit-1024", costly_png(1024))]
    cases += [("dicom-deflated-16-bit-6014", deflated_dicom_bomb(69))]
    return cases


def flip_bytes(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        out[_offset(rng, out)] = rng.randrange(256)
    return bytes(out)


def boundary_integer(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Overwrite what may be a length or size field (most are 2 or 4 bytes, little-endian)."""
    width = rng.choice((2, 4))
    if len(data) < width:
        return data
    value = rng.choice(BOUNDARY_INTEGERS) & (0xFFFF if width == 2 else 0xFFFFFFFF)
    offset = min(_offset(rng, data), len(data) - width)
    order = rng.choice("<>")  # PNG and JPEG are big-endian, DICOM (mostly) little
    packed = struct.pack(order + ("H" if width == 2 else "I"), value)
    return data[:offset] + packed + data[offset + width :]


def truncate(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def insert_chunk(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    offset = _offset(rng, data) if data else 0
    return data[:offset] + rng.randbytes(rng.randint(1, 64)) + data[offset:]


def delete_chunk(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    if len(data) < 2:
        return data
    offset = _offset(rng, data)
    return data[:offset] + data[offset + rng.randint(1, 256) :]


def duplicate_chunk(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    if not data:
        return data
    offset = _offset(rng, data)
    chunk = data[offset : offset + rng.randint(1, 256)]
    return data[:offset] + chunk * rng.randint(2, 8) + data[offset:]


def break_magic(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Damage the bytes the type is recognised by (PNG/JPEG start, DICOM's "DICM")."""
    spot = rng.choice((0, 1, 2, DICOM_PREAMBLE_BYTES, DICOM_PREAMBLE_BYTES + 3))
    if spot >= len(data):
        return data
    return data[:spot] + bytes([data[spot] ^ 0x20]) + data[spot + 1 :]


def polyglot(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    """Another file's head in front, or this one's head on another file's body."""
    other = rng.choice(others)
    cut = rng.randint(1, min(len(other), 512))
    if rng.random() < 0.5:
        return other[:cut] + data
    return data[: DICOM_PREAMBLE_BYTES + 4] + other[cut:]


MUTATIONS: dict[str, Mutation] = {
    "flip": flip_bytes,
    "boundary": boundary_integer,
    "truncate": truncate,
    "insert": insert_chunk,
    "delete": delete_chunk,
    "duplicate": duplicate_chunk,
    "magic": break_magic,
    "polyglot": polyglot,
}


def _offset(rng: random.Random, data: bytes | bytearray) -> int:
    # Headers are where parsers decide sizes and types: aim there half the time.
    if rng.random() < 0.5:
        return rng.randrange(min(len(data), 1024))
    return rng.randrange(len(data))


def _encode(extension: str, pixels: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, encoded = cv2.imencode(extension, pixels, params or [])
    assert ok, f"OpenCV could not encode {extension}"
    return encoded.tobytes()


def _small(path: Path) -> bool:
    return path.stat().st_size <= MAX_SEED_BYTES
