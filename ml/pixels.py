"""What decoding any format needs, whatever the codec: the errors it raises, the memory it
may hold, and the conversion of decoded samples to 8-bit greyscale. `ml.decode` (PNG, JPEG,
and the dispatch) and `ml.dicom` both build on it, so neither imports the other's module at
load time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np

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


def mean_chroma(colour: np.ndarray) -> float:
    """Mean of max - min over the three colour planes of a uint8 image (0 for grey).

    Per plane with OpenCV: numpy's reduction across the interleaved channel axis took
    30 ms of a 512×512 upload, most of a request (py-spy, bench/results.md)."""
    first, second, third = cv2.split(np.ascontiguousarray(colour))
    high = cv2.max(cv2.max(first, second), third)
    low = cv2.min(cv2.min(first, second), third)
    return float(cv2.mean(cv2.subtract(high, low))[0])


def rescale_working_bytes(samples: int) -> int:
    """What `rescale_to_uint8` holds besides its input and output, for `samples` samples."""
    return RESCALE_WORKING_BYTES_PER_SAMPLE * min(samples, RESCALE_STEP_SAMPLES)


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
