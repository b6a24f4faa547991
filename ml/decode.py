"""File bytes to greyscale pixels: the one place that decodes PNG, JPEG and DICOM.

Training, the audit and the API all call `decode_image`, so what the model saw in
training is exactly what it sees in serving.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
# Samples stretched at a time: the 8-byte index or float copies a stretch needs stay this
# small whatever the image (a whole 16-bit RGBA 6000×6000 PNG took 2.3 GB of them).
RESCALE_STEP_SAMPLES = 1 << 18
# Bytes per sample of one step's working copies (`_stretched` holds about four float64s).
RESCALE_WORKING_BYTES_PER_SAMPLE = 4 * 8
MIB = 1024 * 1024


class ImageDecodeError(ValueError):
    """The bytes are not an image we can read; the message says what to do."""


class UnsupportedImageTypeError(ImageDecodeError):
    """The bytes are not PNG, JPEG or DICOM."""


class ImageTooLargeError(ImageDecodeError):
    """The image has more pixels than we agree to decode."""


class DecodeBudgetError(ImageTooLargeError):
    """Decoding the image would take more memory than one decode may use."""


class DecodeMemoryBusyError(RuntimeError):
    """Other decodes hold so much memory that this one must wait: the server's state, not
    the image's fault (503 with Retry-After, not 4xx)."""


@dataclass(frozen=True)
class DecodeCost:
    """What decoding an image will take, told from its header before any pixel is decoded."""

    width: int
    height: int
    channels: int
    bits: int  # per sample, as the codec delivers them
    peak_bytes: int  # the most memory the decode holds at once, working copies included

    def describe(self) -> str:
        channels = f"{self.channels} channel{'s' if self.channels > 1 else ''}"
        return f"{self.width}×{self.height} pixels, {channels} of {self.bits} bits"


class DecodeMemory:
    """The memory decodes may hold: `per_decode` for any one image (more: 413), and `total`
    across every decode in progress in this process (more: wait, 503 with Retry-After).

    Without the total, four legal-but-costly images at once took a server from 1.5 to
    6 GB (issue #29); with it, concurrent decodes cannot hold more than `total` bytes."""

    def __init__(self, per_decode: int, total: int) -> None:
        self.per_decode = min(per_decode, total)
        self.total = total
        self.in_use = 0
        self._lock = threading.Lock()

    @contextmanager
    def reserve(self, cost: DecodeCost) -> Iterator[None]:
        if cost.peak_bytes > self.per_decode:
            raise DecodeBudgetError(
                f"Decoding this image ({cost.describe()}) takes about "
                f"{_mib(cost.peak_bytes)} MiB of memory, more than the {_mib(self.per_decode)} "
                "MiB one image may use. Send a single greyscale slice at its acquired "
                "resolution (8 or 16 bits, no alpha channel)."
            )
        with self._lock:
            if self.in_use + cost.peak_bytes > self.total:
                raise DecodeMemoryBusyError(
                    f"other images being decoded hold {_mib(self.in_use)} of the "
                    f"{_mib(self.total)} MiB decoding may use, and this one needs "
                    f"{_mib(cost.peak_bytes)} MiB."
                )
            self.in_use += cost.peak_bytes
        try:
            yield
        finally:
            with self._lock:
                self.in_use -= cost.peak_bytes


def _mib(size: int) -> str:
    return f"{-(-size // MIB):,}"


# None: no memory budget (training and tools); the API sets one at start-up.
_decode_memory: DecodeMemory | None = None


def use_decode_memory(memory: DecodeMemory | None) -> None:
    """Every later decode in this process counts against `memory` (None: no budget)."""
    global _decode_memory
    _decode_memory = memory


def decode_memory() -> DecodeMemory | None:
    return _decode_memory


@contextmanager
def reserved(cost: DecodeCost) -> Iterator[None]:
    """Hold `cost` against the process's decode memory while the pixels are decoded."""
    memory = _decode_memory
    if memory is None:
        yield
        return
    with memory.reserve(cost):
        yield


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


def mean_chroma(colour: np.ndarray) -> float:
    """Mean of max - min over the three colour planes of a uint8 image (0 for grey).

    Per plane with OpenCV: numpy's reduction across the interleaved channel axis took
    30 ms of a 512×512 upload, most of a request (py-spy, bench/results.md)."""
    first, second, third = cv2.split(np.ascontiguousarray(colour))
    high = cv2.max(cv2.max(first, second), third)
    low = cv2.min(cv2.min(first, second), third)
    return float(cv2.mean(cv2.subtract(high, low))[0])


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


def rescale_working_bytes(samples: int) -> int:
    """What `rescale_to_uint8` holds besides its input and output, for `samples` samples."""
    return RESCALE_WORKING_BYTES_PER_SAMPLE * min(samples, RESCALE_STEP_SAMPLES)


def _rawmode(header: Image.Image) -> str:
    """How the file stores its samples (e.g. "RGBA;16B"): Pillow's mode alone says "RGBA"
    for a 16-bit RGBA PNG, which OpenCV decodes to 16 bits a sample."""
    tiles = getattr(header, "tile", None) or []
    args = tiles[0][3] if tiles else ""
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""


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
        return _in_steps(values, lambda step: table[step.astype(np.intp) - int(low)])
    return _in_steps(
        values, lambda step: _stretched(step.astype(np.float64), float(low), float(high))
    )


def _in_steps(values: np.ndarray, stretch) -> np.ndarray:
    """`stretch` (elementwise, to uint8) over the samples a step at a time, so its 8-byte
    working copies stay RESCALE_STEP_SAMPLES long; the result is the same as in one go."""
    flat = values.reshape(-1)
    result = np.empty(flat.shape, dtype=np.uint8)
    for start in range(0, flat.size, RESCALE_STEP_SAMPLES):
        stop = start + RESCALE_STEP_SAMPLES
        result[start:stop] = stretch(flat[start:stop])
    return result.reshape(values.shape)


def _stretched(values: np.ndarray, low: float, high: float) -> np.ndarray:
    scaled = (values - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
