"""Leave one source out: what a hospital the model never saw would get.

    python -m ml.loso --data ../shared/datasets --model models/brain-tumor-cnn/0.12.0

For each brain-MRI origin (Sartaj Training, the figshare part of Nickparvar, Br35H with
Nickparvar's normals, Feltrin) the served model's recipe trains without it and every image
near-identical to one of it, and the exported run scores it through the gate. Each run
also holds out one source of every other kind of image that has two, alternating, so that
the recogniser is measured on sources it never saw too. The runs' figures, a summary
against the issue's targets and the commands go into the served model's card and report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ml.artifact import read_card, write_card
from ml.config import config_from_card, recipe_flags
from ml.datasets import BRAIN_ORIGINS
from ml.report import rewrite_markdown
from ml.train import main as train

# One source of each kind with two, in two alternating sets.
OTHER_SOURCES = (
    ("cq500", "siimct", "talo-covid", "hc18", "chasedb1"),
    ("headct", "ircad", "talo-nih", "busi", "drimg"),
)
RUNS_DIR = Path("var/experiments/loso")


def runs() -> list[tuple[str, tuple[str, ...]]]:
    """(name, held-out origins) of each run."""
    return [
        (origin, (origin, *OTHER_SOURCES[number % 2]))
        for number, origin in enumerate(BRAIN_ORIGINS)
    ]


def run_flags(card: dict, held_out: tuple[str, ...], name: str, epochs: int | None) -> list[str]:
    config = {**card["config"], "version": f"{card['version']}-loso-{name}"}
    if epochs:
        config["epochs"] = epochs
    config["hold_out_origins"] = list(held_out)
    return recipe_flags(config)


def summary(results: list[dict]) -> dict:
    """Mean and lowest sensitivity over the brain origins, highest confident-miss rate and
    lowest specificity where a source has normals."""
    brain = [r["held_out_by_origin"][r["name"]] for r in results]
    sensitivities = [b["sensitivity"] for b in brain]
    specificities = [b["specificity"] for b in brain if b["specificity"] is not None]
    return {
        "mean_sensitivity": sum(sensitivities) / len(sensitivities),
        "min_sensitivity": min(sensitivities),
        "max_confident_miss_rate": max(b["confident_miss_rate"] for b in brain),
        "min_specificity": min(specificities) if specificities else None,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True, help="the served model's folder")
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    parser.add_argument("--only", nargs="*", help="run only these origins (the rest are read)")
    parser.add_argument(
        "--epochs",
        type=int,
        help="a shorter schedule than the served recipe's, when time is short (the card says)",
    )
    args = parser.parse_args(argv)
    card = read_card(args.model)
    config_from_card(card["config"])  # refuses a card whose recipe this code cannot train
    results = []
    for name, held_out in runs():
        flags = run_flags(card, held_out, name, args.epochs)
        out = RUNS_DIR / f"{card['version']}-loso-{name}"
        if args.only is None or name in args.only:
            common = ["--data", str(args.data), "--out", str(RUNS_DIR)]
            train([*common, "--cache-dir", str(args.cache_dir), *flags])
        run_card = read_card(out)
        results.append(
            {
                "name": name,
                "held_out": list(held_out),
                "command": " ".join(
                    ["python -m ml.train --data ../shared/datasets --out", str(RUNS_DIR), *flags]
                ),
                "training_seconds": run_card["training"]["seconds"],
                "held_out_by_origin": run_card["evaluation"]["held_out_by_origin"],
                "held_out_by_kind": run_card["evaluation"].get("held_out_by_kind", {}),
                "sartaj_testing": run_card["evaluation"]["sartaj_testing"],
            }
        )
    loso = {
        "runs": results,
        "summary": summary(results),
        "epochs": args.epochs or card["config"]["epochs"],
        "served_epochs": card["config"]["epochs"],
    }
    card = read_card(args.model)
    card.setdefault("evaluation", {})["leave_one_source_out"] = loso
    write_card(args.model, card)
    rewrite_markdown(args.model)
    return loso


if __name__ == "__main__":
    main()
