"""Decoding: the one path from file bytes to greyscale pixels, DICOM included."""

import io
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from medimg_testing.bombs import MIB, costly_png, deflated_dicom_bomb
from ml import pixels
from ml.decode import decode_cost, decode_image, sniff_media_type
from ml.pixels import (
    DecodeBudgetError,
    DecodeMemory,
    DecodeMemoryBusyError,
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageTypeError,
    mean_chroma,
    rescale_to_uint8,
    use_decode_memory,
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


def test_stretching_a_step_at_a_time_equals_stretching_in_one_go(monkeypatch):
    monkeypatch.setattr(pixels, "RESCALE_STEP_SAMPLES", 7)  # steps that split rows
    for values in (
        np.random.default_rng(6).integers(0, 4096, (33, 21), dtype=np.uint16),
        np.random.default_rng(7).normal(100, 30, (19, 23)),
        np.random.default_rng(8).integers(0, 65535, (9, 11, 4), dtype=np.uint16),
    ):
        np.testing.assert_array_equal(rescale_to_uint8(values), stretched_pixel_by_pixel(values))


@pytest.fixture
def decode_memory_of():
    """Set the process's decode memory (one decode's budget, the total) for one test."""

    def use(per_decode: int, total: int) -> DecodeMemory:
        memory = DecodeMemory(per_decode, total)
        use_decode_memory(memory)
        return memory

    yield use
    use_decode_memory(None)


def _synthetic_dicom(side: int, samples: int, bits: int, syntax=ExplicitVRLittleEndian) -> bytes:
    """Random pixels with a rescale and a window, so every working copy is made."""
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = syntax
    dataset.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.SOPInstanceUID = generate_uid()
    dataset.Rows = dataset.Columns = side
    dataset.SamplesPerPixel = samples
    dataset.BitsAllocated = dataset.BitsStored = bits
    dataset.HighBit = bits - 1
    dataset.PixelRepresentation = 0
    dataset.PhotometricInterpretation = "MONOCHROME2" if samples == 1 else "RGB"
    if samples > 1:
        dataset.PlanarConfiguration = 0
    else:
        dataset.RescaleSlope, dataset.RescaleIntercept = 2, -100
        dataset.WindowCenter, dataset.WindowWidth = 300, 400
    shape = (side, side, samples) if samples > 1 else (side, side)
    dtype = np.uint8 if bits == 8 else np.uint16
    dataset.PixelData = np.random.default_rng(0).integers(0, 250, shape, dtype=dtype).tobytes()
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _random(shape: tuple[int, ...], dtype=np.uint8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 250, shape, dtype=dtype)


def _random_png(shape: tuple[int, ...], dtype) -> bytes:
    return _encode(".png", _random(shape, dtype))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_random_png((700, 700), np.uint8), id="png-grey-8"),
        pytest.param(_random_png((700, 700), np.uint16), id="png-grey-16"),
        pytest.param(_random_png((700, 700, 3), np.uint8), id="png-rgb-8"),
        pytest.param(_random_png((700, 700, 4), np.uint16), id="png-rgba-16"),
        pytest.param(costly_png(700), id="png-rgba-16-black"),
        pytest.param(_encode(".jpg", _random((700, 700, 3))), id="jpeg-rgb"),
        pytest.param(_synthetic_dicom(700, 1, 16), id="dicom-mr-16"),
        pytest.param(_synthetic_dicom(700, 3, 16), id="dicom-rgb-16"),
        pytest.param(_synthetic_dicom(700, 1, 16, DeflatedExplicitVRLittleEndian), id="deflated"),
        pytest.param(Path(get_testdata_file("MR2_J2KI.dcm")).read_bytes(), id="jpeg2000"),
        pytest.param(Path(get_testdata_file("SC_rgb_rle_16bit.dcm")).read_bytes(), id="rle-rgb"),
    ],
)
def test_a_decode_holds_no_more_memory_than_its_header_said_it_would(data):
    cost = decode_cost(data)
    tracemalloc.start()
    try:
        decode_image(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= cost.peak_bytes, f"{cost.describe()}: {peak:,} > {cost.peak_bytes:,} bytes"


@pytest.mark.parametrize(
    ("data", "described"),
    [
        # 285 KB; before the budget it took +1.67 GB RSS to decode (issue #29)
        pytest.param(costly_png(6000), "6000×6000 pixels, 4 channels of 16 bits", id="png"),
        # 70 KB deflated, 16-bit 6014×6014; before, +594 MiB
        pytest.param(deflated_dicom_bomb(69), "6014×6014 pixels, 1 channel of 16 bits", id="dcm"),
    ],
)
def test_an_image_under_the_pixel_cap_too_costly_to_decode_is_refused_from_its_header(
    decode_memory_of, data, described
):
    decode_memory_of(256 * MIB, 1024 * MIB)
    tracemalloc.start()
    try:
        with pytest.raises(DecodeBudgetError, match=f"{described}.*more than the 256 MiB"):
            decode_image(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MIB, "no pixel may be decoded before the refusal"


def test_decodes_that_together_would_pass_the_total_wait_for_each_other(decode_memory_of):
    png = _random_png((700, 700), np.uint8)
    need = decode_cost(png).peak_bytes
    memory = decode_memory_of(need, need + need // 2)
    # A decode in progress on another thread holds its share; this one may not join it.
    busy = pytest.raises(DecodeMemoryBusyError, match="other images being decoded")
    with memory.reserve(decode_cost(png)), busy:
        decode_image(png)
    assert decode_image(png).width == 700
    assert memory.in_use == 0
