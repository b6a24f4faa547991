"""File bytes to greyscale pixels: the one place that decodes PNG, JPEG and DICOM.

Training, the audit and the API all call `decode_image`, so what the model saw in
training is exactly what it sees in serving.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
DICOM_MAGIC_OFFSET = 128
DEFAULT_MAX_PIXELS = 40_000_000
# Brain slices are about square; even a cropped or padded one is nowhere near 10:1.
MAX_ASPECT_RATIO = 10
# Integer images spanning fewer levels than this are stretched through a lookup table.
MAX_LOOKUP_LEVELS = 1 << 16


class ImageDecodeError(ValueError):
    """The bytes are not an image we can read; the message says what to do."""


class UnsupportedImageTypeError(ImageDecodeError):
    """The bytes are not PNG, JPEG or DICOM."""


class ImageTooLargeError(ImageDecodeError):
    """The image has more pixels than we agree to decode."""


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # uint8, H x W, greyscale
    media_type: str
    width: int
    height: int
    # Mean max(R,G,B) - min(R,G,B) of a colour source before it became grey; None for a grey
    # one. Measured here, where the colour planes are at hand, so nobody decodes them again.
    chroma: float | None = None
    # A DICOM file's Modality and BodyPartExamined, for the input gate; None for PNG/JPEG.
    dicom_header: dict[str, str] | None = None


def sniff_media_type(data: bytes) -> str | None:
    """Tell the type from the file's magic bytes; never trust a declared type."""
    if data.startswith(PNG_MAGIC):
        return "image/png"
    if data.startswith(JPEG_MAGIC):
        return "image/jpeg"
    if data[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + 4] == b"DICM":
        return "application/dicom"
    return None


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    if not data:
        raise ImageDecodeError("The file is empty. Choose a PNG, JPEG or DICOM image.")
    media_type = sniff_media_type(data)
    if media_type is None:
        raise UnsupportedImageTypeError(
            "This file is not a PNG, JPEG or DICOM image. Export the slice as one of these."
        )
    if media_type == "application/dicom":
        from ml.dicom import decode_dicom  # pydicom is only imported when needed

        pixels, chroma, dicom_header = decode_dicom(data, max_pixels=max_pixels)
    else:
        (pixels, chroma), dicom_header = _decode_raster(data, media_type, max_pixels), None
    height, width = pixels.shape
    return DecodedImage(
        pixels=pixels,
        media_type=media_type,
        width=width,
        height=height,
        chroma=chroma,
        dicom_header=dicom_header,
    )


def _decode_raster(
    data: bytes, media_type: str, max_pixels: int
) -> tuple[np.ndarray, float | None]:
    _check_raster_size(data, media_type, max_pixels)
    buffer = np.frombuffer(data, dtype=np.uint8)
    pixels = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ImageDecodeError(
            f"The {media_type} file is damaged or truncated and cannot be decoded. Export it again."
        )
    chroma = None
    if pixels.ndim == 3 and pixels.shape[2] >= 3:
        colour = pixels if pixels.dtype == np.uint8 else (pixels / 257).astype(np.uint8)
        chroma = mean_chroma(colour[:, :, :3])
    return to_grey_uint8(pixels), chroma


def mean_chroma(colour: np.ndarray) -> float:
    """Mean of max - min over the three colour planes of a uint8 image (0 for grey).

    Per plane with OpenCV: numpy's reduction across the interleaved channel axis took
    30 ms of a 512×512 upload, most of a request (py-spy, bench/results.md)."""
    first, second, third = cv2.split(np.ascontiguousarray(colour))
    high = cv2.max(cv2.max(first, second), third)
    low = cv2.min(cv2.min(first, second), third)
    return float(cv2.mean(cv2.subtract(high, low))[0])


def _check_raster_size(data: bytes, media_type: str, max_pixels: int) -> None:
    """Read only the header, so a tiny file that inflates to gigapixels is refused early."""
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
            if media_type == "image/png":
                # Every chunk's length and CRC, without inflating anything: OpenCV trusts a
                # chunk's declared length, and a 400-byte file claiming a 3 GB chunk stalls it
                # for seconds.
                header.verify()
    except Image.DecompressionBombError as error:
        # Pillow refuses more than twice its own pixel cap before it tells the size.
        raise ImageTooLargeError(
            f"The image declares more than {max_pixels:,} pixels, the most allowed. "
            "Send a single slice at its acquired resolution."
        ) from error
    except Exception as error:  # Pillow raises many types for a broken header
        raise ImageDecodeError(
            f"The {media_type} header is damaged and cannot be read. Export the image again."
        ) from error
    check_pixel_count(width, height, max_pixels)


def check_pixel_count(width: int, height: int, max_pixels: int, frames: int = 1) -> None:
    if width <= 0 or height <= 0:
        raise ImageDecodeError("The image has no pixels.")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        # Scaled to the model's square input, its short side would round to no pixel at all.
        raise ImageDecodeError(
            f"The image is {width}×{height} pixels, too long and thin to be an MRI slice. "
            "Send the slice itself, not a strip or a montage."
        )
    if width * height * frames > max_pixels:
        raise ImageTooLargeError(
            f"The image is {width}×{height} pixels, more than the {max_pixels:,} allowed. "
            "Send a single slice at its acquired resolution."
        )


def to_grey_uint8(pixels: np.ndarray) -> np.ndarray:
    """Any decoded array (grey, BGR, BGRA, 16-bit, float) to 8-bit greyscale."""
    if pixels.dtype != np.uint8:
        pixels = rescale_to_uint8(pixels)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2GRAY)
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    elif pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim != 2:
        raise ImageDecodeError("The image has an unexpected pixel layout; send a 2-D slice.")
    return np.ascontiguousarray(pixels)


def rescale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Min-max stretch to 0..255, rounded half to even.

    Integer pixels (most DICOM and 16-bit PNG) take few distinct levels: each level is
    scaled once, exactly as a float pixel would be, and the image is a table lookup: 0.34
    instead of 2.55 ms on a 512×512 12-bit slice."""
    low, high = np.min(values), np.max(values)
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    if values.dtype.kind in "iu" and int(high) - int(low) < MAX_LOOKUP_LEVELS:
        levels = np.arange(int(low), int(high) + 1, dtype=np.float64)
        table = _stretched(levels, float(low), float(high))
        return table[values.astype(np.intp) - int(low)]
    return _stretched(values.astype(np.float64), float(low), float(high))


def _stretched(values: np.ndarray, low: float, high: float) -> np.ndarray:
    scaled = (values - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
