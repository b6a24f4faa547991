"""Put a shortcut-probe experiment's figures into a model's card, as a known limitation.

The experiment is the model's recipe trained without the pool's images whose look
contradicts their label (ml.looks), then scored on them: how often it calls a tumour of
another look no_tumor when nothing taught it otherwise. A recipe that weighs those images
(--look-weight) is measured by two runs instead, each holding out one half of the probe and
training on the other (--probe-half 0 and 1); pass both and their figures are pooled.
Train, then merge:

    python -m ml.train --data ../shared/datasets --out var/experiments/shortcut \\
        --version 0.6.1-scanner-probe --patience 0 --train-sources sartaj --hold-out-probe
    python -m ml.shortcut --model models/brain-tumor-cnn/0.6.1 \\
        --experiment var/experiments/shortcut/0.6.1-scanner-probe
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ml.artifact import read_card
from ml.cross_source import save_card_and_report
from ml.labels import CLASSES, NO_TUMOR
from ml.report import train_command
from ml.train import PROBE_SET

MERGED = "shortcut_probe"
NO_TUMOR_INDEX = CLASSES.index(NO_TUMOR)


def merge(model_dir: Path, experiment_dirs: list[Path]) -> dict:
    card = read_card(model_dir)
    experiments = [read_card(path) for path in experiment_dirs]
    for path, experiment in zip(experiment_dirs, experiments, strict=True):
        if PROBE_SET not in experiment["metrics"]:
            raise SystemExit(f"{path} did not hold out the shortcut probe.")
    card[MERGED] = probe_figures(experiments)
    save_card_and_report(model_dir, card)
    return card[MERGED]


def probe_figures(experiments: list[dict]) -> dict:
    """The experiments' held-out probe images, counted together."""
    matrix = np.sum([e["metrics"][PROBE_SET]["confusion_matrix"] for e in experiments], axis=0)
    tumour_rows = np.delete(matrix, NO_TUMOR_INDEX, axis=0)
    return {
        "experiments": [e["version"] for e in experiments],
        "commands": [train_command(e["config"], "var/experiments/shortcut") for e in experiments],
        "look_weight": experiments[0]["config"].get("look_weight", 1),
        "n": int(matrix.sum()),
        "accuracy": float(np.trace(matrix) / matrix.sum()),
        "tumours": int(tumour_rows.sum()),
        "tumours_called_no_tumor": int(tumour_rows[:, NO_TUMOR_INDEX].sum()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--experiment", type=Path, nargs="+", required=True)
    args = parser.parse_args(argv)
    merged = merge(args.model, args.experiment)
    print(
        f"{MERGED}: accuracy {merged['accuracy']:.3f}; "
        f"{merged['tumours_called_no_tumor']} of {merged['tumours']} tumours called no_tumor"
    )


if __name__ == "__main__":
    main()
