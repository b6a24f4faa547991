"""Decoding: the one path from file bytes to greyscale pixels, DICOM included."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from pydicom.data import get_testdata_file

from ml.decode import (
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageTypeError,
    decode_image,
    mean_chroma,
    rescale_to_uint8,
    sniff_media_type,
)


def _head_slice(size: int = 96) -> np.ndarray:
    image = np.zeros((size, size), np.uint8)
    cv2.ellipse(image, (size // 2, size // 2), (size // 3, size // 2 - 6), 0, 0, 360, 180, -1)
    return image


def _encode(suffix: str, pixels: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(suffix, pixels)
    assert ok
    return buffer.tobytes()


def test_a_png_decodes_to_the_same_grey_pixels():
    pixels = _head_slice()
    decoded = decode_image(_encode(".png", pixels))
    assert decoded.media_type == "image/png"
    assert (decoded.width, decoded.height) == (96, 96)
    np.testing.assert_array_equal(decoded.pixels, pixels)


def test_a_colour_jpeg_decodes_to_one_grey_channel():
    colour = cv2.cvtColor(_head_slice(), cv2.COLOR_GRAY2BGR)
    decoded = decode_image(_encode(".jpg", colour))
    assert decoded.media_type == "image/jpeg"
    assert decoded.pixels.ndim == 2 and decoded.pixels.dtype == np.uint8


def test_a_sixteen_bit_png_is_rescaled_to_eight_bits():
    pixels = _head_slice().astype(np.uint16) * 200
    decoded = decode_image(_encode(".png", pixels))
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.max() == 255


def stretched_pixel_by_pixel(values: np.ndarray) -> np.ndarray:
    """The stretch's definition, each pixel in float64."""
    values = values.astype(np.float64)
    low, high = values.min(), values.max()
    return np.clip(np.rint((values - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).integers(0, 4096, (64, 80), dtype=np.uint16),  # 12-bit MR
        np.random.default_rng(2).integers(-1024, 3071, (50, 40), dtype=np.int16),  # CT units
        np.random.default_rng(3).integers(0, 65536, (30, 30), dtype=np.uint16),  # full range
        np.random.default_rng(4).integers(-(2**31), 2**31 - 1, (20, 20), dtype=np.int32),
        np.random.default_rng(5).normal(100, 30, (20, 20)),  # a windowed float image
    ],
    ids=["uint16-12bit", "int16", "uint16-full", "int32-wide", "float"],
)
def test_stretching_to_eight_bits_equals_its_definition_for_every_pixel_type(values):
    np.testing.assert_array_equal(rescale_to_uint8(values), stretched_pixel_by_pixel(values))


def test_a_flat_image_stretches_to_black():
    assert not rescale_to_uint8(np.full((4, 4), 900, np.uint16)).any()


@pytest.mark.parametrize(
    "name",
    [
        "MR_small.dcm",  # uncompressed MR, signed 16-bit
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",  # JPEG 2000
        "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS
        "JPEG2000.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",  # colour JPEG baseline
        "emri_small.dcm",  # multi-frame MR
    ],
)
def test_real_dicom_files_decode_including_compressed_transfer_syntaxes(name):
    data = Path(get_testdata_file(name)).read_bytes()
    assert sniff_media_type(data) == "application/dicom"
    decoded = decode_image(data)
    assert decoded.pixels.dtype == np.uint8 and decoded.pixels.ndim == 2
    assert decoded.pixels.max() > decoded.pixels.min(), "windowing must keep contrast"


def test_the_compressed_and_uncompressed_mr_decode_to_the_same_pixels():
    plain = decode_image(Path(get_testdata_file("MR_small.dcm")).read_bytes()).pixels
    rle = decode_image(Path(get_testdata_file("MR_small_RLE.dcm")).read_bytes()).pixels
    np.testing.assert_array_equal(plain, rle)


def test_a_dicom_without_pixel_data_is_refused_with_a_reason():
    data = Path(get_testdata_file("rtplan.dcm")).read_bytes()
    with pytest.raises(ImageDecodeError, match="no image"):
        decode_image(data)


def test_text_is_refused_as_an_unsupported_type():
    with pytest.raises(UnsupportedImageTypeError, match="not a PNG, JPEG or DICOM"):
        decode_image(b"patient name, diagnosis\n")


def test_an_empty_file_is_refused():
    with pytest.raises(ImageDecodeError, match="empty"):
        decode_image(b"")


def test_a_truncated_jpeg_is_refused_as_damaged():
    data = _encode(".jpg", _head_slice(256))
    with pytest.raises(ImageDecodeError):
        decode_image(data[:200])


def test_an_image_with_too_many_pixels_is_refused_before_decoding():
    data = _encode(".png", np.zeros((400, 400), np.uint8))
    with pytest.raises(ImageTooLargeError, match="more than"):
        decode_image(data, max_pixels=100_000)


def test_mean_chroma_is_the_mean_spread_between_the_colour_planes_of_each_pixel():
    colour = np.random.default_rng(3).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    planes = colour.astype(np.int16)
    expected = float((planes.max(axis=2) - planes.min(axis=2)).mean())
    assert mean_chroma(colour) == pytest.approx(expected, abs=1e-9)
    grey = np.repeat(colour[:, :, :1], 3, axis=2)
    assert mean_chroma(grey) == 0.0
