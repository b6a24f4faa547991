"""Score an exported model again and rewrite its card's figures and report, without
training: after the evaluation code gains a figure, or to check a committed model.

    python -m ml.reevaluate --data ../shared/datasets --model models/brain-tumor-cnn/0.12.0

The images are split exactly as the model's own run split them (its card's recipe and CT
suspects); the card's data hashes say whether they are the same files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ml.artifact import read_card
from ml.cache import prepare_grouped
from ml.evaluate import evaluate_exported
from ml.report import write_report
from ml.train import card_plan, training_targets


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    args = parser.parse_args(argv)
    card = read_card(args.model)
    data = prepare_grouped(args.data, args.cache_dir)
    plan, suspects = card_plan(data, card)
    targets = training_targets(data, suspects)
    evaluation = evaluate_exported(args.model, data.samples, plan, targets)
    write_report(args.model, evaluation)
    return evaluation


if __name__ == "__main__":
    main()
