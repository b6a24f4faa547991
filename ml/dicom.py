"""DICOM Part-10 bytes to display pixels, with the modality LUT and VOI window applied.

Frame policy for multi-frame files: the middle frame is classified, because in a
brain stack the middle slice is the one most likely to show the brain at its widest.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut, apply_voi_lut, pixel_array

from ml.decode import ImageDecodeError, check_pixel_count, rescale_to_uint8, to_grey_uint8


def decode_dicom(data: bytes, *, max_pixels: int) -> np.ndarray:
    dataset = _read_dataset(data)
    try:
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
        columns, rows = int(dataset.get("Columns", 0) or 0), int(dataset.get("Rows", 0) or 0)
        photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2"))
    except (TypeError, ValueError) as error:  # malformed IS/US values
        raise ImageDecodeError("The DICOM image size attributes are invalid.") from error
    check_pixel_count(columns, rows, max_pixels, frames)
    frame = _read_frame(dataset, index=frames // 2 if frames > 1 else None)
    if photometric.startswith("MONOCHROME"):
        return _window_greyscale(frame, dataset, invert=photometric == "MONOCHROME1")
    # pixel_array already converted YCbCr and palette data to RGB.
    rgb = frame[..., ::-1] if frame.ndim == 3 else frame  # OpenCV wants BGR
    return to_grey_uint8(np.ascontiguousarray(rgb))


def _read_dataset(data: bytes) -> pydicom.Dataset:
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
    except Exception as error:  # pydicom raises many exception types on bad input
        raise ImageDecodeError(
            "The DICOM file is damaged and cannot be read. Export the instance again."
        ) from error
    if "PixelData" not in dataset:
        raise ImageDecodeError("The DICOM file holds no image (no Pixel Data). Send an image.")
    return dataset


def _read_frame(dataset: pydicom.Dataset, index: int | None) -> np.ndarray:
    try:
        return pixel_array(dataset, index=index)
    except Exception as error:
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
    display = rescale_to_uint8(np.asarray(values, dtype=np.float64))
    return 255 - display if invert else display
