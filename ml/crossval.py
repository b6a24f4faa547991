"""Group-aware k-fold cross-validation of a training recipe on both datasets together.

    python -m ml.crossval --data ../shared/datasets --fold 0     # one fold: a training run
    python -m ml.crossval --summary                              # mean ± sd of the folds run
    python -m ml.crossval --summary --patience 0 --card models/brain-tumor-cnn/0.6.1  # ... card

The pool is every image outside the Sartaj Testing folder's near-duplicate groups (as for
ml.train). It is cut into `--folds` stratified folds with near-duplicate groups kept whole.
Each fold trains a fresh model with ml.train's recipe on the other folds, stops early (if
the recipe does) and fits its temperature on 1/8 of them (groups whole again), and is
scored on its own fold: accuracy, macro-F1 and expected calibration error before and after
temperature scaling.
One fold per command, because on two CPUs each takes about as long as a training run;
results are kept as one JSON file per fold and summarised when asked.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict
from pathlib import Path

import keras
import numpy as np

from ml.artifact import read_card
from ml.cache import prepare_grouped
from ml.config import TrainConfig, config_from_card, recipe_flags
from ml.cross_source import save_card_and_report
from ml.splits import group_folds, hold_out_one_fold, training_pool
from ml.train import calibration_metrics, look_corrections, predict_logits, train_and_calibrate

FOLDS = 5
INNER_VALIDATION_FOLDS = 8
SUMMARISED = ("accuracy", "macro_f1", "ece")
RESULTS_DIR = Path("reports/crossval")
# The recipe fields ml.crossval takes on its command line.
CROSSVAL_FLAGS = ("augmentation", "patience", "look_weight", "look_prior")


def run_fold(data_dir: Path, cache_dir: Path, fold: int, folds: int, config: TrainConfig) -> dict:
    keras.utils.set_random_seed(config.seed)
    started = time.monotonic()
    data = prepare_grouped(data_dir, cache_dir)
    samples, groups, labels = data.samples, data.groups, data.labels
    pool = training_pool(samples, groups)
    kept, held_out = group_folds(pool, samples, groups, config.seed, folds)[fold]
    train, validation = hold_out_one_fold(
        kept, samples, groups, config.seed, INNER_VALIDATION_FOLDS
    )
    corrections = look_corrections(samples, labels, train, config)
    trained = train_and_calibrate(data.images, labels, train, validation, config, corrections)
    logits = predict_logits(trained.model, data.images[held_out])
    return {
        "fold": fold,
        "folds": folds,
        "config": asdict(config),
        "sizes": {"train": len(train), "validation": len(validation), "held_out": len(held_out)},
        "held_out_sources": _count_by_source(samples, held_out),
        "epochs_run": len(trained.history["loss"]),
        "temperature": trained.temperature,
        "held_out": calibration_metrics(labels[held_out], logits, trained.temperature),
        "minutes": (time.monotonic() - started) / 60,
    }


def _count_by_source(samples, indices: np.ndarray) -> dict[str, int]:
    sources = [samples[i].source for i in indices]
    return {source: sources.count(source) for source in sorted(set(sources))}


def summarise(results: list[dict]) -> dict:
    """Mean and sample standard deviation over the folds, before and after calibration."""
    summary: dict = {"folds_run": sorted(r["fold"] for r in results)}
    for stage in ("before_calibration", "after_calibration"):
        summary[stage] = {}
        for name in SUMMARISED:
            values = [r["held_out"][stage][name] for r in results]
            sd = statistics.stdev(values) if len(values) > 1 else None
            summary[stage][name] = {"mean": statistics.fmean(values), "sd": sd}
    return summary


def write_to_card(model_dir: Path, results: list[dict], summary: dict, out_dir: Path) -> None:
    """The folds' figures into a model's card and evaluation report, if the folds ran the
    recipe that trained that model: they measure the recipe, not the committed weights."""
    card = read_card(model_dir)
    for result in results:
        if _recipe(result["config"]) != _recipe(card["config"]):
            raise SystemExit(
                f"Fold {result['fold']} ran another recipe than {model_dir} was trained with: "
                f"{_recipe(result['config'])} against {_recipe(card['config'])}."
            )
    flags = recipe_flags(card["config"], CROSSVAL_FLAGS)
    card["cross_validation"] = {
        "folds": results[0]["folds"],
        "augmentation": results[0]["config"]["augmentation"],
        "results": out_dir.as_posix(),
        "summary": summary,
        "per_fold": [_fold_row(result) for result in results],
        "command": " ".join(["python -m ml.crossval --data ../shared/datasets --fold K", *flags]),
        "summary_command": " ".join(
            ["python -m ml.crossval --summary", *flags, "--card", model_dir.as_posix()]
        ),
    }
    save_card_and_report(model_dir, card)


def _recipe(config: dict) -> dict:
    # A run's version names its output, not its recipe. A card written before a field
    # existed was trained with its default (ml.augment reproduces the default recipe).
    recipe = asdict(config_from_card(config))
    recipe.pop("version")
    return recipe


def _fold_row(result: dict) -> dict:
    before = result["held_out"]["before_calibration"]
    after = result["held_out"]["after_calibration"]
    return {
        "fold": result["fold"],
        "held_out": after["n"],
        "epochs": result["epochs_run"],
        "minutes": result["minutes"],
        "accuracy": after["accuracy"],
        "macro_f1": after["macro_f1"],
        "ece_before_calibration": before["ece"],
        "ece": after["ece"],
    }


def recipe_name(config: TrainConfig) -> str:
    """The folder name for a recipe's folds: its augmentation, and how it stops if that is
    not the default (the served model's folds predate the choice), and its look weight and
    look prior where it has them."""
    weighted = f"-look-weight-{config.look_weight:g}" if config.look_weight != 1 else ""
    weighted += f"-look-prior-{config.look_prior:g}" if config.look_prior else ""
    if config.patience == TrainConfig.patience:
        return config.augmentation + weighted
    if config.patience == 0:
        return f"{config.augmentation}-no-early-stopping{weighted}"
    return f"{config.augmentation}-patience-{config.patience}{weighted}"


def fold_file(out_dir: Path, fold: int) -> Path:
    return out_dir / f"fold-{fold}.json"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="the shared datasets folder")
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    parser.add_argument("--out", type=Path, help="default: reports/crossval/<recipe name>")
    parser.add_argument("--fold", type=int, help="which fold to run, from 0")
    parser.add_argument("--folds", type=int, default=FOLDS)
    parser.add_argument("--augmentation", default=TrainConfig.augmentation)
    parser.add_argument(
        "--patience", type=int, default=TrainConfig.patience, help="0: no early stopping"
    )
    parser.add_argument(
        "--look-weight",
        type=float,
        default=TrainConfig.look_weight,
        help="loss weight of the images that contradict the shortcut (ml.looks)",
    )
    parser.add_argument(
        "--look-prior",
        type=float,
        default=TrainConfig.look_prior,
        help="how much of what the look predicts is added to the logits in training (ml.looks)",
    )
    parser.add_argument("--summary", action="store_true", help="summarise the folds run so far")
    parser.add_argument(
        "--card", type=Path, help="with --summary: a model directory whose card gets the figures"
    )
    args = parser.parse_args(argv)
    config = TrainConfig(**{name: getattr(args, name) for name in CROSSVAL_FLAGS})
    args.out = args.out or RESULTS_DIR / recipe_name(config)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.summary:
        results = [json.loads(path.read_text()) for path in sorted(args.out.glob("fold-*.json"))]
        if not results:
            raise SystemExit(f"No folds in {args.out} yet: run one with --fold 0.")
        answer = summarise(results)
        if args.card is not None:
            write_to_card(args.card, results, answer, args.out)
    else:
        if args.data is None or args.fold is None or not 0 <= args.fold < args.folds:
            parser.error(f"--data and --fold (0 to {args.folds - 1}) are needed to run a fold")
        answer = run_fold(args.data, args.cache_dir, args.fold, args.folds, config)
        fold_file(args.out, args.fold).write_text(json.dumps(answer, indent=2) + "\n")
    print(json.dumps(answer, indent=2))
    return answer


if __name__ == "__main__":
    main()
