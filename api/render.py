"""Decoded pixels to PNG, so a browser can show any stored image (DICOM included)."""

import cv2
import numpy as np

from ml.decode import decode_image


class RenderError(ValueError):
    """The pixels could not be encoded as PNG."""


def encode_png(pixels: np.ndarray) -> bytes:
    """8-bit greyscale (H x W) pixels, as `ml.decode.decode_image` returns them, to PNG."""
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise RenderError("The image could not be encoded as PNG.")
    return encoded.tobytes()


def render_png(data: bytes, *, max_pixels: int) -> bytes:
    """A stored image file (PNG, JPEG or DICOM) as the PNG a browser can show.

    The pixels are the ones the model classified (for DICOM: the middle frame, windowed).
    """
    return encode_png(decode_image(data, max_pixels=max_pixels).pixels)
