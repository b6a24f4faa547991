"""Put a shortcut-probe experiment's figures into a model's card, as a known limitation.

The experiment is the model's recipe trained without the pool's images whose look
contradicts their label (ml.looks), then scored on them: how often it calls a tumour of
another look no_tumor when nothing taught it otherwise. Train it, then merge:

    python -m ml.train --data ../shared/datasets --out var/experiments/shortcut \\
        --version 0.7.0-scanner-probe --patience 0 --train-sources sartaj --hold-out-probe
    python -m ml.shortcut --model models/brain-tumor-cnn/0.6.1 \\
        --experiment var/experiments/shortcut/0.7.0-scanner-probe
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ml.artifact import read_card
from ml.cross_source import save_card_and_report
from ml.labels import CLASSES
from ml.report import train_command
from ml.train import PROBE_SET

MERGED = "shortcut_probe"
NO_TUMOR = CLASSES.index("no_tumor")


def merge(model_dir: Path, experiment_dir: Path) -> dict:
    card = read_card(model_dir)
    experiment = read_card(experiment_dir)
    if PROBE_SET not in experiment["metrics"]:
        raise SystemExit(f"{experiment_dir} did not hold out the shortcut probe.")
    card[MERGED] = probe_figures(experiment)
    save_card_and_report(model_dir, card)
    return card[MERGED]


def probe_figures(experiment: dict) -> dict:
    metrics = experiment["metrics"][PROBE_SET]
    matrix = metrics["confusion_matrix"]
    tumour_rows = [row for k, row in enumerate(matrix) if k != NO_TUMOR]
    return {
        "experiment": experiment["version"],
        "command": train_command(experiment["config"], "var/experiments/shortcut"),
        "n": metrics["n"],
        "accuracy": metrics["accuracy"],
        "tumours": sum(sum(row) for row in tumour_rows),
        "tumours_called_no_tumor": sum(row[NO_TUMOR] for row in tumour_rows),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--experiment", type=Path, required=True)
    args = parser.parse_args(argv)
    merged = merge(args.model, args.experiment)
    print(
        f"{MERGED}: accuracy {merged['accuracy']:.3f}; "
        f"{merged['tumours_called_no_tumor']} of {merged['tumours']} tumours called no_tumor"
    )


if __name__ == "__main__":
    main()
