"""Run the benchmarks and write bench/results.md: `python -m bench [--data DIR]`."""

from __future__ import annotations

import argparse
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from api.settings import Settings
from bench.model import time_model

RESULTS = Path(__file__).with_name("results.md")


def _machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("MEDIMG_DATA_DIR", "")))
    parser.add_argument("--model-dir", type=Path, default=Settings(_env_file=None).model_dir)
    args = parser.parse_args()
    timings = time_model(args.model_dir, args.data)
    lines = [
        "# Benchmark results",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {_machine()}.",
        "Reproduce: `make bench` (`python -m bench --data ../shared/datasets`).",
        "",
        f"## Model only ({args.model_dir})",
        "",
        "The SavedModel's serving signature, preprocessing included, on real 512×512 slices.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| batch 1 latency, median | {timings.batch1_p50_ms:.1f} ms |",
        f"| batch 1 latency, p95 | {timings.batch1_p95_ms:.1f} ms |",
        f"| batch 1 throughput | {timings.batch1_images_per_s:.0f} images/s |",
        f"| batch 32 throughput | {timings.batch32_images_per_s:.0f} images/s |",
        f"| size on disk | {timings.size_mb:.1f} MB |",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
