"""Model-only batch-1 latency of two exported models, interleaved in one process so that
both see the same load: 0.8.0 (width 16, each slice and its mirror) against 0.9.0 (width 24).

    mkdir -p /tmp/old && git archive 2106274 models/brain-tumor-cnn/0.8.0 | tar -x -C /tmp/old
    PYTHONPATH=. python research/tools/model_latency.py

A lab tool; the product's own speed figures come from `python -m bench`.
"""

import statistics
import time
from pathlib import Path

import tensorflow as tf

from ml.decode import decode_image

MODELS = {
    "0.8.0": "/tmp/old/models/brain-tumor-cnn/0.8.0",
    "0.9.0": "models/brain-tumor-cnn/0.9.0",
}
RUNS = 200


def slices(count: int = 32) -> list:
    folder = Path("../shared/datasets/brain-tumor-mri-sartaj/Testing")
    found = []
    for path in sorted(folder.rglob("*.jpg")):
        pixels = decode_image(path.read_bytes()).pixels
        if pixels.shape == (512, 512):
            found.append(pixels)
        if len(found) == count:
            break
    return found


def main() -> None:
    images = slices()
    serve = {k: tf.saved_model.load(v).signatures["serving_default"] for k, v in MODELS.items()}
    times: dict[str, list[float]] = {k: [] for k in MODELS}
    for signature in serve.values():
        for pixels in images[:5]:
            signature(image=tf.constant(pixels[None, :, :, None]))
    for run in range(RUNS):
        for name, signature in serve.items():
            batch = tf.constant(images[run % len(images)][None, :, :, None])
            started = time.perf_counter()
            signature(image=batch)
            times[name].append((time.perf_counter() - started) * 1000)
    for name, values in times.items():
        values.sort()
        p95 = values[int(0.95 * len(values))]
        print(f"{name}: batch-1 median {statistics.median(values):.2f} ms, p95 {p95:.2f} ms")


if __name__ == "__main__":
    main()
