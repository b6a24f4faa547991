"""Score an exported model again and rewrite its card's figures and report, without
training: after the evaluation code gains a figure, or to check a committed model.

    python -m ml.reevaluate --data ../shared/datasets --model models/brain-tumor-cnn/0.7.0

The images are split exactly as the model's own run split them (its card's recipe and CT
suspects); the card's data hashes say whether they are the same files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ml.artifact import read_card
from ml.cache import prepare_grouped
from ml.config import config_from_card
from ml.evaluate import evaluate_exported
from ml.report import write_report
from ml.train import make_plan, training_targets


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    args = parser.parse_args(argv)
    card = read_card(args.model)
    data = prepare_grouped(args.data, args.cache_dir)
    index = {sample.key: i for i, sample in enumerate(data.samples)}
    suspects = np.array([index[key] for key in card["data"]["ct_suspects"]], dtype=np.int64)
    targets = training_targets(data, suspects)
    plan = make_plan(data, config_from_card(card["config"]), suspects)
    evaluation = evaluate_exported(args.model, data.samples, plan, targets)
    write_report(args.model, evaluation)
    return evaluation


if __name__ == "__main__":
    main()
