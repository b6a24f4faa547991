"""Model-only batch-1 latency of exported models, interleaved in one process so that all
see the same load. Without arguments, 0.8.0 (width 16) against 0.9.0 (width 24); or name
them, e.g. 0.9.0 against 0.10.0:

    mkdir -p /tmp/old && git archive 2106274 models/brain-tumor-cnn/0.8.0 | tar -x -C /tmp/old
    PYTHONPATH=. python research/tools/model_latency.py
    PYTHONPATH=. python research/tools/model_latency.py 0.9.0=var/old-models/0.9.0 \
        0.10.0=models/brain-tumor-cnn/0.10.0

A lab tool; the product's own speed figures come from `python -m bench`.
"""

import statistics
import sys
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


def main(models: dict[str, str]) -> None:
    images = slices()
    serve = {k: tf.saved_model.load(v).signatures["serving_default"] for k, v in models.items()}
    times: dict[str, list[float]] = {k: [] for k in models}
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
    named = dict(argument.split("=", 1) for argument in sys.argv[1:])
    main(named or MODELS)
