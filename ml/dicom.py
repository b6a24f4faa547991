"""DICOM Part-10 bytes to display pixels, with the modality LUT and VOI window applied.

Frame policy for multi-frame files: the middle frame is classified, because in a
brain stack the middle slice is the one most likely to show the brain at its widest.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
import pydicom
from pydicom.filereader import _read_file_meta_info, read_dataset, read_preamble
from pydicom.pixels import apply_modality_lut, apply_voi_lut, pixel_array
from pydicom.uid import DeflatedExplicitVRLittleEndian

from ml.pixels import (
    DecodeCost,
    ImageDecodeError,
    ImageTooLargeError,
    check_pixel_count,
    mean_chroma,
    rescale_to_uint8,
    rescale_working_bytes,
    reserved,
    to_grey_uint8,
)

# Inflated bytes allowed per pixel: a 16-bit greyscale slice (MR, CT), plus room for the
# attributes around the pixel data. Inflating runs at ~200 MB/s here, so this also keeps a
# refusal under a second.
MAX_BYTES_PER_PIXEL = 2
INFLATED_HEADER_SLACK_BYTES = 1024 * 1024
PIXEL_DATA_TAG = 0x7FE00010
# Inflated a step at a time and thrown away: memory stays at one step whatever the ratio.
INFLATE_STEP_BYTES = 16 * 1024 * 1024


# Read here for the input gate (ml.ood.header_cue), so it need not parse the file again.
GATE_ATTRIBUTES = ("Modality", "BodyPartExamined")
# float64 copies of a greyscale frame the modality LUT and the VOI window hold at once.
WINDOWING_FLOAT_COPIES = 4
# The pixel decoders' own buffers, whatever the frame (2.3 MB measured for a 100×100 frame).
DECODER_OVERHEAD_BYTES = 4 * 1024 * 1024


def decode_dicom(
    data: bytes, *, max_pixels: int
) -> tuple[np.ndarray, float | None, dict[str, str]]:
    """The middle frame as 8-bit grey, its mean chroma when it was in colour, and the
    header attributes the input gate checks (as text, "" when absent)."""
    with reserved(decode_cost(data, max_pixels)):
        dataset = _read_dataset(data, max_pixels)
        header = {keyword: str(dataset.get(keyword, "") or "") for keyword in GATE_ATTRIBUTES}
        pixels, chroma = _middle_frame(dataset, max_pixels)
        return pixels, chroma, header


def decode_cost(data: bytes, max_pixels: int) -> DecodeCost:
    """What decoding the file will take, from its header alone (the first inflated MiB of
    a deflated one): the dataset as pydicom holds it, the frame, and its working copies.
    A header too damaged to tell costs nothing here; dcmread refuses it next."""
    deflated = _deflated_body(data)
    try:
        header = (
            _header_of_deflated(deflated)
            if deflated is not None
            else pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        )
        rows, columns = int(header.get("Rows", 0) or 0), int(header.get("Columns", 0) or 0)
        frames = int(header.get("NumberOfFrames", 1) or 1)
        samples = int(header.get("SamplesPerPixel", 1) or 1)
        sample_bytes = max(1, -(-int(header.get("BitsAllocated", 16) or 16) // 8))
    except Exception:  # a damaged header: _read_dataset refuses it with the usual message
        return DecodeCost(0, 0, 0, 0, len(data))
    if rows <= 0 or columns <= 0:
        return DecodeCost(0, 0, 0, 0, len(data))
    check_pixel_count(columns, rows, max_pixels, frames)
    return dicom_cost(rows, columns, frames, samples, sample_bytes, len(data), deflated is not None)


def dicom_cost(
    rows: int,
    columns: int,
    frames: int,
    samples: int,
    sample_bytes: int,
    file_bytes: int,
    deflated: bool,
) -> DecodeCost:
    pixels = rows * columns
    # pydicom keeps the file's Pixel Data value; a deflated file's, inflated, twice over.
    dataset = 2 * pixels * frames * samples * sample_bytes if deflated else file_bytes
    frame = pixels * samples * sample_bytes
    if samples == 1:
        working = pixels * (8 * WINDOWING_FLOAT_COPIES + 2)
    else:  # a BGR copy, its stretch to 8 bits and the float copy the chroma takes
        working = frame + pixels * samples * 9 + pixels
    peak = dataset + frame + working + rescale_working_bytes(pixels * samples)
    peak += DECODER_OVERHEAD_BYTES
    return DecodeCost(columns, rows, samples, 8 * sample_bytes, peak)


def _header_of_deflated(body: memoryview) -> pydicom.Dataset:
    head = zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, INFLATED_HEADER_SLACK_BYTES)
    return read_dataset(
        io.BytesIO(head), False, True, stop_when=lambda tag, *_: tag == PIXEL_DATA_TAG
    )


def _middle_frame(dataset: pydicom.Dataset, max_pixels: int) -> tuple[np.ndarray, float | None]:
    try:
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
        columns, rows = int(dataset.get("Columns", 0) or 0), int(dataset.get("Rows", 0) or 0)
        photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2"))
    except (TypeError, ValueError) as error:  # malformed IS/US values
        raise ImageDecodeError("The DICOM image size attributes are invalid.") from error
    check_pixel_count(columns, rows, max_pixels, frames)
    frame = _read_frame(dataset, index=frames // 2 if frames > 1 else None)
    if photometric.startswith("MONOCHROME"):
        return _window_greyscale(frame, dataset, invert=photometric == "MONOCHROME1"), None
    # pixel_array already converted YCbCr data to RGB.
    rgb = frame[..., ::-1] if frame.ndim == 3 else frame  # OpenCV wants BGR
    return to_grey_uint8(np.ascontiguousarray(rgb)), _colour_chroma(frame)


def _colour_chroma(frame: np.ndarray) -> float | None:
    if frame.ndim != 3 or frame.shape[2] != 3:
        return None
    if frame.dtype != np.uint8:
        frame = (frame.astype(np.float64) * 255.0 / max(float(frame.max()), 1.0)).astype(np.uint8)
    return mean_chroma(frame)


def _read_dataset(data: bytes, max_pixels: int) -> pydicom.Dataset:
    _refuse_deflate_bomb(data, max_pixels)
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
        _parse_every_element(dataset)
    except Exception as error:  # pydicom raises many exception types on bad input
        raise ImageDecodeError(
            "The DICOM file is damaged and cannot be read. Export the instance again."
        ) from error
    if "PixelData" not in dataset:
        raise ImageDecodeError("The DICOM file holds no image (no Pixel Data). Send an image.")
    return dataset


def _parse_every_element(dataset: pydicom.Dataset) -> None:
    """pydicom converts an element's bytes only when it is first read: an unknown VR
    (NotImplementedError) or a length that is no multiple of the VR's size
    (BytesLengthException) would otherwise surface later, wherever the element happens to
    be read. Reading each one here makes every such file one refusal, at the door."""
    for _ in dataset.iterall():  # iterall converts each element, sequences included
        pass


def _refuse_deflate_bomb(data: bytes, max_pixels: int) -> None:
    """A Deflated Explicit VR file is inflated whole by pydicom, before any size check: a few
    MiB can inflate to GiBs. Read its header from the first inflated MiB, then count the rest
    in bounded steps, keeping nothing, up to what the declared image needs."""
    pending = _deflated_body(data)
    if pending is None:
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as PS3.5 A.5 specifies
    try:
        head = inflater.decompress(pending, INFLATED_HEADER_SLACK_BYTES)
        limit = _inflated_size_limit(head, max_pixels)
        inflated, pending = len(head), inflater.unconsumed_tail
        while pending and inflated <= limit:
            inflated += len(inflater.decompress(pending, INFLATE_STEP_BYTES))
            pending = inflater.unconsumed_tail
    except zlib.error as error:
        raise ImageDecodeError("The deflated DICOM data is damaged. Export it again.") from error
    if inflated > limit:
        raise ImageTooLargeError(
            f"The deflated DICOM file inflates to more than {limit:,} bytes, more than its "
            "image needs. Export it again, uncompressed or with another transfer syntax."
        )


def _inflated_size_limit(head: bytes, max_pixels: int) -> int:
    """Bytes the dataset may inflate to: its declared image (refused at once if too many
    pixels) plus the attributes around it; the pixel ceiling's worth if undeclared."""
    ceiling = max_pixels * MAX_BYTES_PER_PIXEL + INFLATED_HEADER_SLACK_BYTES
    try:
        header = read_dataset(
            io.BytesIO(head), False, True, stop_when=lambda tag, *_: tag == PIXEL_DATA_TAG
        )
        rows, columns = int(header.get("Rows", 0) or 0), int(header.get("Columns", 0) or 0)
        frames = int(header.get("NumberOfFrames", 1) or 1)
        samples = int(header.get("SamplesPerPixel", 1) or 1)
        sample_bytes = -(-int(header.get("BitsAllocated", 16) or 16) // 8)
    except Exception:  # a damaged header: dcmread refuses it later, with the usual message
        return ceiling
    if rows <= 0 or columns <= 0:
        return ceiling
    check_pixel_count(columns, rows, max_pixels, frames)
    declared = rows * columns * frames * samples * sample_bytes
    return min(ceiling, declared + INFLATED_HEADER_SLACK_BYTES)


def _deflated_body(data: bytes) -> memoryview | None:
    """What follows the file meta of a Deflated Explicit VR file; None for other files."""
    file = io.BytesIO(data)
    try:
        read_preamble(file, False)
        # pydicom's own file-meta reader: its public wrapper only takes a path.
        syntax = _read_file_meta_info(file).get("TransferSyntaxUID")
    except Exception:  # a damaged header: dcmread refuses it next, with the usual message
        return None
    if syntax != DeflatedExplicitVRLittleEndian:
        return None
    return memoryview(data)[file.tell() :]


def _read_frame(dataset: pydicom.Dataset, index: int | None) -> np.ndarray:
    try:
        return pixel_array(dataset, index=index)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # the Rust RLE decoder panics (pyo3 PanicException)
        syntax = getattr(dataset.get("file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", "unknown transfer syntax")
        raise ImageDecodeError(
            f"The DICOM pixel data ({name}) cannot be decoded. "
            "Re-export it uncompressed or as JPEG, JPEG-LS, JPEG 2000 or RLE."
        ) from error


def _window_greyscale(frame: np.ndarray, dataset: pydicom.Dataset, invert: bool) -> np.ndarray:
    """Modality LUT (stored values → units), then the VOI window the scanner suggests."""
    try:
        values = apply_voi_lut(apply_modality_lut(frame, dataset), dataset)
    except Exception as error:
        raise ImageDecodeError("The DICOM LUT or window values are invalid.") from error
    if values.ndim != 2:
        raise ImageDecodeError("The DICOM frame is not a 2-D greyscale image.")
    display = rescale_to_uint8(np.asarray(values))
    return 255 - display if invert else display
