"""Put a cross-source experiment's figures into a model's card and evaluation report.

The experiment is the same recipe trained without any Nickparvar image, scored on the whole
Nickparvar folder (minus near-copies of the test folder): how the recipe does on a source
it never saw. Train it, then merge its figures into the model it speaks for:

    python -m ml.train --data ../shared/datasets --out var/experiments/cross-source \\
        --version 0.3.0-sartaj-only --train-sources sartaj
    python -m ml.cross_source --model models/brain-tumor-cnn/0.3.0 \\
        --experiment var/experiments/cross-source/0.3.0-sartaj-only
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ml.artifact import read_card, write_card
from ml.evaluate import UNSEEN_SOURCE_SET
from ml.report import REPORT_FILE, markdown, train_command
from ml.trust_eval import TRUST_HEADING

UNSEEN = UNSEEN_SOURCE_SET
MERGED = "cross_source_nickparvar"


def merge(model_dir: Path, experiment_dir: Path) -> dict:
    card = read_card(model_dir)
    experiment = read_card(experiment_dir)
    if UNSEEN not in experiment["metrics"]:
        raise SystemExit(f"{experiment_dir} was trained with Nickparvar images: no unseen source.")
    card["metrics"][MERGED] = experiment["metrics"][UNSEEN]
    card["cross_source"] = {
        "experiment": experiment["version"],
        "trained_on": experiment["config"]["train_sources"],
        "train_data": experiment["data"]["train"],
        "config": experiment["config"],
        "training_seconds": experiment["training"]["seconds"],
        "command": train_command(experiment["config"], "var/experiments/cross-source"),
    }
    save_card_and_report(model_dir, card)
    return card["metrics"][MERGED]


def save_card_and_report(model_dir: Path, card: dict) -> None:
    """The card as given, and its report regenerated from it (title and trust kept)."""
    write_card(model_dir, card)
    report = model_dir / REPORT_FILE
    old = report.read_text() if report.exists() else ""
    report.write_text(keep_title_and_trust(old, markdown(card)))


def keep_title_and_trust(old: str, new: str) -> str:
    """The regenerated report, under the old report's title (a re-export says whose figures
    they are) and followed by its trust section, which ml.trust_eval wrote and only it can."""
    title, _, body = new.partition("\n")
    if old.startswith("# "):
        title = old.partition("\n")[0]
    _, heading, trust = old.partition(TRUST_HEADING)
    text = title + "\n" + body
    if heading:
        text = text.rstrip() + "\n\n" + heading + trust
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--experiment", type=Path, required=True)
    args = parser.parse_args(argv)
    merged = merge(args.model, args.experiment)
    print(f"{MERGED}: accuracy {merged['accuracy']:.3f}, macro-F1 {merged['macro_f1']:.3f}")


if __name__ == "__main__":
    main()
