"""The evaluation report: metrics into metadata.json, a Markdown summary and two figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ml.artifact import read_card, write_card  # noqa: E402
from ml.config import recipe_flags  # noqa: E402
from ml.labels import CLASSES  # noqa: E402
from ml.metrics import reliability_bins  # noqa: E402

REPORT_FILE = "evaluation.md"


def write_report(model_dir: Path, metadata: dict, evaluation: dict) -> None:
    card = read_card(model_dir)
    card["metrics"] = {**metadata["metrics"], **{k: v["metrics"] for k, v in evaluation.items()}}
    write_card(model_dir, card)
    test = evaluation["sartaj_testing"]
    _confusion_png(
        np.array(test["metrics"]["confusion_matrix"]), model_dir / "confusion_matrix.png"
    )
    _reliability_png(test["labels"], test["probabilities"], model_dir / "reliability.png")
    (model_dir / REPORT_FILE).write_text(markdown(card))


def train_command(config: dict, out: str) -> str:
    """The ml.train command that trains a card's recipe into `out`."""
    flags = recipe_flags(config)
    return " ".join(["python -m ml.train --data ../shared/datasets --out", out, *flags])


def _cross_source_lines(card: dict) -> list[str]:
    experiment = card.get("cross_source")
    if experiment is None:
        return []
    return [
        f"`cross_source_nickparvar`: the same recipe trained on "
        f"{' and '.join(experiment['trained_on'])} only "
        f"({experiment['train_data']['files']} images, "
        f"{experiment['training_seconds'] / 60:.1f} min), scored on every Nickparvar image "
        f"that is not a near-copy of the test folder: `{experiment['command']}`.",
        "",
    ]


def _shortcut_lines(card: dict) -> list[str]:
    probe = card.get("shortcut_probe")
    if probe is None:
        return []
    how = (
        "Trained on one half of the images that contradict this (weighted as in this recipe) "
        "and scored on the other, the recipe"
        if probe.get("look_weight", 1) != 1
        else "Trained without the images that contradict this, the recipe"
    )
    return [
        "Known limitation: in the training data a tumour almost always has the figshare set's "
        "look (512x512 contrast-enhanced T1) and a no-tumour slice almost never does "
        f"(`python -m ml.audit`). {how} "
        f"called {probe['tumours_called_no_tumor']} of {probe['tumours']} such tumours "
        f"no_tumor (probe accuracy {probe['accuracy']:.3f}, n = {probe['n']}: "
        f"{', '.join(f'`{command}`' for command in probe['commands'])}). Expect tumours "
        "on T2, FLAIR or other sources' images to be missed more often than the validation "
        "figures say.",
        "",
    ]


def _confusion_png(matrix: np.ndarray, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(value),
            ha="center",
            va="center",
            color="white" if value > matrix.max() / 2 else "black",
        )
    ax.set_xticks(range(len(CLASSES)), CLASSES, rotation=30)
    ax.set_yticks(range(len(CLASSES)), CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Sartaj Testing folder")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _reliability_png(labels: np.ndarray, probabilities: np.ndarray, path: Path) -> None:
    rows = reliability_bins(labels, probabilities)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot([r[0] for r in rows], [r[1] for r in rows], "o-", label="model")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability, Sartaj Testing folder")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _cross_validation_lines(card: dict) -> list[str]:
    cv = card.get("cross_validation")
    if cv is None:
        return []
    lines = [
        f"Cross-validation of this training recipe (`{cv['augmentation']}` augmentation): "
        f"group-aware {cv['folds']}-fold on both datasets together, outside the test folder's "
        "near-duplicate groups; each fold trains a fresh model on the others, fits its "
        "temperature on an inner eighth of them and is scored on its own fold. "
        f"`{cv['command']}` for each fold, then `{cv['summary_command']}`.",
        "",
        "| fold | held out | epochs | minutes | accuracy | macro-F1 | ECE before | ECE after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in cv["per_fold"]:
        lines.append(
            f"| {row['fold']} | {row['held_out']} | {row['epochs']} | {row['minutes']:.1f} "
            f"| {row['accuracy']:.3f} | {row['macro_f1']:.3f} "
            f"| {row['ece_before_calibration']:.3f} | {row['ece']:.3f} |"
        )
    before, after = cv["summary"]["before_calibration"], cv["summary"]["after_calibration"]
    lines += [
        f"| mean ± sd ({len(cv['per_fold'])} of {cv['folds']} folds) | | | "
        f"| {_mean_sd(after['accuracy'])} | {_mean_sd(after['macro_f1'])} "
        f"| {_mean_sd(before['ece'])} | {_mean_sd(after['ece'])} |",
        "",
    ]
    return lines


def _mean_sd(figure: dict) -> str:
    if figure["sd"] is None:
        return f"{figure['mean']:.3f}"
    return f"{figure['mean']:.3f} ± {figure['sd']:.3f}"


def markdown(card: dict) -> str:
    metrics = card["metrics"]
    lines = [
        f"# {card['name']} {card['version']} — evaluation",
        "",
        f"Intended use: {card['intended_use']}",
        "",
        f"Reproduce: `{train_command(card['config'], 'models/brain-tumor-cnn')}` "
        f"(seed {card['config']['seed']}); training took "
        f"{card['training']['seconds'] / 60:.1f} min on {card['training']['machine']}.",
        "",
        *_cross_source_lines(card),
        *_shortcut_lines(card),
        "| set | n | accuracy | macro-F1 | ECE before | ECE after |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in metrics.items():
        if name == "validation":
            before, after = m["before_calibration"], m["after_calibration"]
            lines.append(
                f"| validation (calibration split) | {after['n']} | {after['accuracy']:.3f} "
                f"| {after['macro_f1']:.3f} | {before['ece']:.3f} | {after['ece']:.3f} |"
            )
        else:
            lines.append(
                f"| {name} | {m['n']} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} "
                f"| {m['ece_before_calibration']:.3f} | {m['ece']:.3f} |"
            )
    lines += [
        "",
        "Per class on the Sartaj Testing folder:",
        "",
        "| class | sensitivity | specificity | precision | F1 | ROC-AUC | n |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, c in metrics["sartaj_testing"]["per_class"].items():
        lines.append(
            f"| {name} | {c['sensitivity']:.3f} | {c['specificity']:.3f} "
            f"| {c['precision']:.3f} | {c['f1']:.3f} | {c['roc_auc']:.3f} | {c['support']} |"
        )
    lines += ["", "![confusion matrix](confusion_matrix.png) ![reliability](reliability.png)", ""]
    lines += _cross_validation_lines(card)
    return "\n".join(lines)
