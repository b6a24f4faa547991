"""How close the model comes to what this CPU can do: its FLOPs per image against the
machine's measured float32 matrix-multiply peak."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import tensorflow as tf

from ml.model import build_model_for
from ml.preprocess import IMAGE_SIZE

PEAK_MATRIX_SIDE = 2048
PEAK_RUNS = 10


def model_flops(model_dir: Path) -> float:
    """Multiply-adds ×2 of every convolution and dense layer of the card's architecture."""
    card = json.loads((model_dir / "metadata.json").read_text())
    model = build_model_for(card["config"], IMAGE_SIZE)
    flops = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, out_channels = layer.output.shape
            kernel_h, kernel_w = layer.kernel_size
            in_channels = layer.input.shape[-1]
            flops += 2 * height * width * out_channels * kernel_h * kernel_w * in_channels
        elif isinstance(layer, keras.layers.Dense):
            flops += 2 * layer.input.shape[-1] * layer.units
    return float(flops)


def measured_peak_flops() -> float:
    """float32 FLOP/s of a large TensorFlow matmul on every core: what the CPU can sustain."""
    a = tf.random.uniform([PEAK_MATRIX_SIDE, PEAK_MATRIX_SIDE])
    b = tf.random.uniform([PEAK_MATRIX_SIDE, PEAK_MATRIX_SIDE])
    tf.linalg.matmul(a, b).numpy()
    best = float("inf")
    for _ in range(PEAK_RUNS):
        started = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * PEAK_MATRIX_SIDE**3 / best
