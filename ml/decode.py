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

from ml.pixels import (
    DecodeCost,
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageTypeError,
    check_pixel_count,
    mean_chroma,
    rescale_working_bytes,
    reserved,
    to_grey_uint8,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
DICOM_MAGIC_OFFSET = 128
DEFAULT_MAX_PIXELS = 40_000_000


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


def decode_cost(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodeCost:
    """What `decode_image` will hold at most to decode `data`, from its header alone."""
    media_type = sniff_media_type(data)
    if media_type is None:
        raise UnsupportedImageTypeError("This file is not a PNG, JPEG or DICOM image.")
    if media_type == "application/dicom":
        from ml.dicom import decode_cost as dicom_decode_cost

        return dicom_decode_cost(data, max_pixels)
    return _check_raster_size(data, media_type, max_pixels)


def _decode_raster(
    data: bytes, media_type: str, max_pixels: int
) -> tuple[np.ndarray, float | None]:
    cost = _check_raster_size(data, media_type, max_pixels)
    with reserved(cost):
        buffer = np.frombuffer(data, dtype=np.uint8)
        pixels = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise ImageDecodeError(
                f"The {media_type} file is damaged or truncated and cannot be decoded. "
                "Export it again."
            )
        chroma = None
        if pixels.ndim == 3 and pixels.shape[2] >= 3:
            # Integer division truncates exactly as float division then astype did, in 2
            # bytes a sample instead of 8.
            colour = pixels if pixels.dtype == np.uint8 else (pixels // 257).astype(np.uint8)
            chroma = mean_chroma(colour[:, :, :3])
            del colour
        return to_grey_uint8(pixels), chroma


# Channels OpenCV delivers for each Pillow mode (IMREAD_UNCHANGED): a palette or grey with
# alpha may become BGRA; an unknown mode is counted as the most, four.
_CHANNELS_BY_MODE = {"1": 1, "L": 1, "I": 1, "I;16": 1, "I;16B": 1, "RGB": 3, "YCbCr": 3}
MAX_CHANNELS = 4


def raster_cost(width: int, height: int, mode: str, rawmode: str) -> DecodeCost:
    """Peak bytes of `_decode_raster`, from the arrays it makes: the decoded image; for a
    colour one the 8-bit copy and planes the chroma needs; for a 16-bit one the stretched
    copy; the grey result; and one step of the stretch's 8-byte working copies."""
    channels = _CHANNELS_BY_MODE.get(mode, MAX_CHANNELS)
    sample_bytes = 2 if mode.startswith("I") or ";16" in rawmode else 1
    pixels = width * height
    decoded = pixels * channels * sample_bytes
    colour = 0
    if channels >= 3:  # the 16-bit image's 8-bit copy, then the planes mean_chroma splits
        to_eight_bits = 3 * channels * pixels if sample_bytes > 1 else 0
        planes = (channels * pixels if sample_bytes > 1 else 0) + 6 * pixels
        colour = max(to_eight_bits, planes + (3 * pixels if channels > 3 else 0))
    stretched = pixels * channels if sample_bytes > 1 else 0
    peak = decoded + max(colour, stretched) + pixels + rescale_working_bytes(pixels * channels)
    return DecodeCost(width, height, channels, 8 * sample_bytes, peak)


def _check_raster_size(data: bytes, media_type: str, max_pixels: int) -> DecodeCost:
    """Read only the header, so a tiny file that inflates to gigapixels is refused early."""
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
            mode, rawmode = header.mode, _rawmode(header)
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
    return raster_cost(width, height, mode, rawmode)


def _rawmode(header: Image.Image) -> str:
    """How the file stores its samples (e.g. "RGBA;16B"): Pillow's mode alone says "RGBA"
    for a 16-bit RGBA PNG, which OpenCV decodes to 16 bits a sample."""
    tiles = getattr(header, "tile", None) or []
    args = tiles[0][3] if tiles else ""
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""
