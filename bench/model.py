"""Model-only speed of the exported SavedModel on this machine's CPUs.

    python -m bench            # writes bench/results.md

Times the serving signature (preprocessing included) on real 512×512 dataset slices at
batch 1 and batch 32, after warm-up, and reports the model's size on disk.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from ml.decode import decode_image
from ml.inference import Classifier

WARMUP = 5
BATCH_1_RUNS = 200
BATCH_32_RUNS = 20


@dataclass(frozen=True)
class ModelTimings:
    batch1_p50_ms: float
    batch1_p95_ms: float
    batch32_images_per_s: float
    batch1_images_per_s: float
    size_mb: float


def _same_size_slices(data_dir: Path, count: int) -> np.ndarray:
    folder = data_dir / "brain-tumor-mri-sartaj" / "Testing"
    slices = []
    for path in sorted(folder.rglob("*.jpg")):
        pixels = decode_image(path.read_bytes()).pixels
        if pixels.shape == (512, 512):
            slices.append(pixels)
        if len(slices) == count:
            break
    return np.stack(slices)[..., np.newaxis]


def _time_calls(call, runs: int) -> list[float]:
    for _ in range(WARMUP):
        call()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def time_model(model_dir: Path, data_dir: Path) -> ModelTimings:
    serve = Classifier.load(model_dir)._serve
    images = _same_size_slices(data_dir, 32)
    one = tf.constant(images[:1])
    batch = tf.constant(images)
    single = _time_calls(lambda: serve(image=one), BATCH_1_RUNS)
    batched = _time_calls(lambda: serve(image=batch), BATCH_32_RUNS)
    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    return ModelTimings(
        batch1_p50_ms=1000 * statistics.median(single),
        batch1_p95_ms=1000 * statistics.quantiles(single, n=20)[18],
        batch32_images_per_s=32 / statistics.median(batched),
        batch1_images_per_s=1 / statistics.median(single),
        size_mb=size / 1e6,
    )
