"""Group-aware k-fold cross-validation of a model's training recipe, on every source.

    python -m ml.crossval --data ../shared/datasets --model models/brain-tumor-cnn/0.12.0 --fold 0
    python -m ml.crossval --model models/brain-tumor-cnn/0.12.0 --summary   # into its card

The pool is every image outside the Sartaj Testing folder's near-duplicate groups (as for
ml.train), cut into `--folds` folds stratified by origin and class (or kind), near-duplicate
groups kept whole. Each fold trains the card's recipe (ml.train.train_and_calibrate) on the
other folds, calibrates it and chooses its finding thresholds on 1/8 of them (groups whole
again), and is scored on its own fold from the network's outputs (no export, no input gate):
- the four classes every brain-MRI source types (glioma, meningioma, no_tumor, pituitary):
  accuracy, macro-F1, and expected calibration error before and after calibration;
- macro-F1 over all five classes, other_tumour included;
- tumour sensitivity (tumours, typed or not, labelled a tumour class by the fold's own
  thresholds, ml.finding) and specificity (normals labelled no_tumor);
- the recogniser's accuracy over every kind of image.
Classes are the answered labels (ml.inference.answered_class), as the API gives them.
One fold per command, since each is a training run; one JSON file per fold, summarised
(mean and sample sd) into the model's card and evaluation report when asked. `--epochs`
shortens every fold's schedule for time; the summary says so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, replace
from pathlib import Path

import keras
import numpy as np
from scipy.special import softmax
from sklearn.metrics import f1_score

from ml.artifact import read_card, write_card
from ml.cache import GroupedSet, prepare_grouped
from ml.config import TrainConfig, config_from_card
from ml.finding import FindingThresholds
from ml.inference import answered_class
from ml.kind_check import cached_ct_probability, ct_suspects
from ml.labels import CLASSES, FOUR_CLASSES
from ml.metrics import expected_calibration_error
from ml.objective import NO_TUMOR_INDEX, Targets, calibrated_probabilities
from ml.report import rewrite_markdown
from ml.splits import group_folds, hold_out_one_fold, make_splits, training_pool
from ml.train import Plan, predict_logits, train_and_calibrate, training_targets

FOLDS = 5
INNER_VALIDATION_FOLDS = 8
RESULTS_DIR = Path("var/experiments/crossval")
FOUR = [CLASSES.index(name) for name in FOUR_CLASSES]
# Each fold's figures, summarised over the folds in this order.
SUMMARISED = (
    "accuracy_four_classes",
    "macro_f1_four_classes",
    "ece_four_classes_before_calibration",
    "ece_four_classes_after_calibration",
    "macro_f1_five_classes",
    "tumour_sensitivity",
    "specificity",
    "confident_miss_rate",
    "kind_accuracy",
)


def fold_plan(data: GroupedSet, fold: int, folds: int, seed: int, set_aside=()) -> Plan:
    """Fold `fold` of the pool held out; the rest trains, less an inner 1/8 that calibrates.
    The images `set_aside` (CT suspects of the brain-MRI sets) are in no part, as in ml.train."""
    samples, groups = data.samples, data.groups
    pool = training_pool(samples, groups)
    pool = pool[~np.isin(pool, set_aside)]
    kept, held_out = group_folds(pool, samples, groups, seed, folds)[fold]
    train, validation = hold_out_one_fold(kept, samples, groups, seed, INNER_VALIDATION_FOLDS)
    splits = make_splits(samples, groups, seed)
    return Plan(
        train=train,
        validation=validation,
        held_out=held_out,
        test=splits.test,
        test_leak_free=splits.test_leak_free,
        excluded=splits.excluded,
    )


def run_fold(data_dir: Path, cache_dir: Path, fold: int, folds: int, config: TrainConfig) -> dict:
    keras.utils.set_random_seed(config.seed)
    started = time.monotonic()
    data = prepare_grouped(data_dir, cache_dir)
    targets = training_targets(
        data, ct_suspects(data, cached_ct_probability(data, config.seed, cache_dir))
    )
    plan = fold_plan(data, fold, folds, config.seed, targets.ct_suspects)
    trained = train_and_calibrate(data, targets, plan, config)
    held_out = plan.held_out
    logits, kind_logits = predict_logits(trained.model, data.images[held_out])
    return {
        "fold": fold,
        "folds": folds,
        "config": asdict(config),
        "sizes": {
            "train": len(plan.train),
            "validation": len(plan.validation),
            "held_out": len(held_out),
        },
        "held_out_origins": _count(targets.origins[held_out]),
        "epochs_run": len(trained.history["loss"]),
        "calibration": trained.calibration.card(),
        "finding_thresholds": trained.finding,
        "held_out": fold_figures(
            targets.labels[held_out],
            targets.kinds[held_out],
            logits,
            kind_logits,
            calibrated_probabilities(trained.calibration, logits),
            FindingThresholds(**trained.finding),
        ),
        "minutes": (time.monotonic() - started) / 60,
    }


def fold_figures(
    labels: np.ndarray,
    kinds: np.ndarray,
    logits: np.ndarray,
    kind_logits: np.ndarray,
    calibrated: np.ndarray,
    thresholds: FindingThresholds,
) -> dict:
    """The module docstring's figures for one held-out fold. labels are ml.cache label
    indices (a class, UNKNOWN_TYPE or NO_CLASS), kinds ml.labels.KIND_NAMES indices."""
    four = np.isin(labels, FOUR)
    typed = (labels >= 0) & (labels < len(CLASSES))
    answered = [answered_class(CLASSES, row, thresholds) for row in calibrated]
    predicted = np.array([CLASSES.index(label) for label in answered])
    tumour_probability = 1.0 - calibrated[:, NO_TUMOR_INDEX]
    tumours, normals = Targets.is_tumour(labels), labels == NO_TUMOR_INDEX
    return {
        "images": int(len(labels)),
        "four_classes": int(four.sum()),
        "typed": int(typed.sum()),
        "tumours": int(tumours.sum()),
        "normals": int(normals.sum()),
        "accuracy_four_classes": _mean(predicted[four] == labels[four]),
        "macro_f1_four_classes": _macro_f1(labels[four], predicted[four], FOUR),
        "ece_four_classes_before_calibration": _ece(labels[four], softmax(logits[four], axis=1)),
        "ece_four_classes_after_calibration": _ece(labels[four], calibrated[four]),
        "macro_f1_five_classes": _macro_f1(
            labels[typed], predicted[typed], sorted(set(labels[typed].tolist()))
        ),
        "tumour_sensitivity": _mean(predicted[tumours] != NO_TUMOR_INDEX),
        "specificity": _mean(predicted[normals] == NO_TUMOR_INDEX),
        "confident_miss_rate": _mean(tumour_probability[tumours] < thresholds.no_tumour_below),
        "kind_accuracy": _mean(kind_logits.argmax(axis=1) == kinds),
    }


def _mean(flags: np.ndarray) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


def _macro_f1(truth: np.ndarray, predicted: np.ndarray, labels: list[int]) -> float | None:
    if not len(truth):
        return None
    return float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0))


def _ece(truth: np.ndarray, probabilities: np.ndarray) -> float | None:
    return expected_calibration_error(truth, probabilities) if len(truth) else None


def _count(values: np.ndarray) -> dict[str, int]:
    names, counts = np.unique(values, return_counts=True)
    return {str(name): int(count) for name, count in zip(names, counts, strict=True)}


def summarise(results: list[dict]) -> dict:
    """Flat figures for the card: each of SUMMARISED's mean and sample sd over the folds
    (sd None for a single fold), and the per-fold macro-F1 on the four classes."""
    results = sorted(results, key=lambda r: r["fold"])
    summary: dict = {
        "folds": results[0]["folds"],
        "folds_run": ", ".join(str(r["fold"]) for r in results),
        "held_out_images": sum(r["sizes"]["held_out"] for r in results),
    }
    for name in SUMMARISED:
        values = [r["held_out"][name] for r in results if r["held_out"][name] is not None]
        summary[f"{name}_mean"] = statistics.fmean(values) if values else None
        summary[f"{name}_sd"] = statistics.stdev(values) if len(values) > 1 else None
    summary["macro_f1_four_classes_per_fold"] = ", ".join(
        f"{r['held_out']['macro_f1_four_classes']:.3f}" for r in results
    )
    return summary


def write_to_card(model_dir: Path, results: list[dict], out_dir: Path) -> dict:
    """The folds' summary into a model's card and evaluation report, if the folds ran the
    recipe that trained that model: they measure the recipe, not the committed weights."""
    card = read_card(model_dir)
    for result in results:
        if _recipe(result["config"]) != _recipe(card["config"]):
            raise SystemExit(
                f"Fold {result['fold']} ran another recipe than {model_dir} was trained with: "
                f"{_recipe(result['config'])} against {_recipe(card['config'])}."
            )
    summary = {
        **summarise(results),
        "epochs_per_fold": sorted({r["config"]["epochs"] for r in results}),
        "results": out_dir.as_posix(),
        "command": f"python -m ml.crossval --data ../shared/datasets --model "
        f"{model_dir.as_posix()} --fold K",
    }
    card.setdefault("evaluation", {})["cross_validation"] = summary
    write_card(model_dir, card)
    rewrite_markdown(model_dir)
    return summary


def _recipe(config: dict) -> dict:
    # A run's version names its output, not its recipe; a card written before a field
    # existed was trained with its default.
    recipe = asdict(config_from_card(config))
    recipe.pop("version")
    recipe.pop("epochs")  # a shortened schedule is said in the summary, not refused
    return recipe


def fold_file(out_dir: Path, fold: int) -> Path:
    return out_dir / f"fold-{fold}.json"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="the model whose recipe")
    parser.add_argument("--data", type=Path, help="the shared datasets folder")
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    parser.add_argument("--out", type=Path, help=f"default: {RESULTS_DIR}/<model version>")
    parser.add_argument("--fold", type=int, help="which fold to run, from 0")
    parser.add_argument("--folds", type=int, default=FOLDS)
    parser.add_argument("--epochs", type=int, help="default: the card's; fewer for time")
    parser.add_argument(
        "--summary", action="store_true", help="the folds run so far into the model's card"
    )
    args = parser.parse_args(argv)
    card = read_card(args.model)
    config = config_from_card({**card["config"], "hold_out_origins": []})
    if args.epochs:
        config = replace(config, epochs=args.epochs)
    out_dir = args.out or RESULTS_DIR / card["version"]
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.summary:
        results = [json.loads(path.read_text()) for path in sorted(out_dir.glob("fold-*.json"))]
        if not results:
            raise SystemExit(f"No folds in {out_dir} yet: run one with --fold 0.")
        answer = write_to_card(args.model, results, out_dir)
    else:
        if args.data is None or args.fold is None or not 0 <= args.fold < args.folds:
            parser.error(f"--data and --fold (0 to {args.folds - 1}) are needed to run a fold")
        answer = run_fold(args.data, args.cache_dir, args.fold, args.folds, config)
        fold_file(out_dir, args.fold).write_text(json.dumps(answer, indent=2) + "\n")
    print(json.dumps(answer, indent=2))
    return answer


if __name__ == "__main__":
    main()
