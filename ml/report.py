"""The evaluation report: figures into the model card, a Markdown summary and a figure.

The card (metadata.json) is the one place figures live; evaluation.md is written from it,
so that the two never disagree. ml.train writes the served run's figures, ml.loso adds the
leave-one-source-out ones.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ml.artifact import read_card, write_card  # noqa: E402
from ml.config import recipe_flags  # noqa: E402
from ml.labels import CLASSES  # noqa: E402

REPORT_FILE = "evaluation.md"


def write_report(model_dir: Path, evaluation: dict) -> None:
    card = read_card(model_dir)
    card["evaluation"] = {**card.get("evaluation", {}), **evaluation}
    write_card(model_dir, card)
    matrix = np.array(evaluation["sartaj_testing"]["confusion_matrix"])
    _confusion_png(matrix, model_dir / "confusion_matrix.png")
    rewrite_markdown(model_dir)


def rewrite_markdown(model_dir: Path) -> None:
    (model_dir / REPORT_FILE).write_text(markdown(read_card(model_dir)))


def train_command(config: dict, out: str) -> str:
    """The ml.train command that trains a card's recipe into `out`."""
    flags = recipe_flags(config)
    return " ".join(["python -m ml.train --data ../shared/datasets --out", out, *flags])


def _confusion_png(matrix: np.ndarray, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        colour = "white" if value > matrix.max() / 2 else "black"
        ax.text(j, i, str(value), ha="center", va="center", color=colour)
    ax.set_xticks(range(len(CLASSES)), CLASSES, rotation=30)
    ax.set_yticks(range(len(CLASSES)), CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Sartaj Testing folder (brain MRI)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _figure(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


TUMOUR_COLUMNS = (
    "images",
    "tumours",
    "normals",
    "sensitivity",
    "specificity",
    "tumour_auroc",
    "confident_miss_rate",
    "rule_out_sensitivity",
    "indeterminate",
    "refused",
    "accuracy",
    "macro_f1",
)
KIND_COLUMNS = ("images", "modality_accuracy", "body_part_accuracy", "refused")


def table(rows: dict[str, dict], columns: tuple[str, ...]) -> list[str]:
    """A Markdown table: one row per named set of figures."""
    lines = ["| set | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, figures in rows.items():
        cells = [_figure(figures.get(column)) for column in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def _split(figures: dict[str, dict]) -> tuple[dict, dict]:
    tumour = {k: v for k, v in figures.items() if "sensitivity" in v}
    kinds = {k: v for k, v in figures.items() if "modality_accuracy" in v}
    return tumour, kinds


def markdown(card: dict) -> str:
    evaluation = card.get("evaluation", {})
    lines = [
        f"# {card['name']} {card['version']}: evaluation",
        "",
        f"Intended use: {card['intended_use']}",
        "",
        "Reproduce: `" + train_command(card["config"], "models/brain-tumor-cnn") + "`",
        "",
        "Figures are through the exported SavedModel and the input gate, as the API serves "
        "them (ml/evaluate.py defines each).",
        "",
        *_threshold_lines(card.get("finding_thresholds")),
        "## Sartaj Testing (never trains, selects or calibrates)",
        "",
        *table(
            {
                "whole folder": evaluation.get("sartaj_testing", {}),
                "leak-free subset": evaluation.get("sartaj_testing_leak_free", {}),
            },
            TUMOUR_COLUMNS,
        ),
    ]
    lines += _loso_lines(evaluation.get("leave_one_source_out"))
    tumour, kinds = _split(evaluation.get("validation_by_origin", {}))
    lines += ["## Validation split, by origin", "", *table(tumour, TUMOUR_COLUMNS)]
    _, kinds = _split(evaluation.get("validation_by_kind", {}))
    lines += ["## Validation split, other kinds of image", "", *table(kinds, KIND_COLUMNS)]
    lines += _cross_validation_lines(evaluation.get("cross_validation"))
    lines += _notes(card)
    return "\n".join(lines)


def _threshold_lines(thresholds: dict | None) -> list[str]:
    """The finding's thresholds on the tumour probability (ml.finding says how each is
    chosen on validation images)."""
    if not thresholds:
        return []
    low, high = thresholds["no_tumour_below"], thresholds["tumour_suspected_from"]
    label = thresholds.get("label_no_tumor_below")
    lines = [
        f"Finding: `no_tumour` below a tumour probability of {low:.3f}, `tumour_suspected` "
        f"from {high:.3f}, `indeterminate` (and low confidence) between."
    ]
    if label is not None:
        lines[0] += f" Inside that band the class label is no_tumor below {label:.3f}."
    return lines + [""]


def _loso_lines(loso: dict | None) -> list[str]:
    if not loso:
        return []
    lines = [
        "## Leave one source out",
        "",
        "Each run trains the served recipe without one brain-MRI origin (and without one "
        "source of each kind that has two) and scores what it held out: what a new hospital "
        "would see.",
        "",
    ]
    tumour_rows, kind_rows = {}, {}
    for run in loso["runs"]:
        tumour, kinds = _split(run["held_out_by_origin"])
        tumour_rows.update(tumour)
        kind_rows.update({f"{origin} ({run['name']})": f for origin, f in kinds.items()})
    lines += table(tumour_rows, TUMOUR_COLUMNS)
    summary = loso.get("summary", {})
    if summary:
        lines += [
            f"Mean sensitivity over the four origins: {_figure(summary.get('mean_sensitivity'))};"
            f" lowest {_figure(summary.get('min_sensitivity'))}; highest confident-miss rate "
            f"{_figure(summary.get('max_confident_miss_rate'))}.",
            "",
        ]
    lines += ["Other kinds, sources held out:", "", *table(kind_rows, KIND_COLUMNS)]
    lines += [f"- `{run['name']}`: `{run['command']}`" for run in loso["runs"]] + [""]
    return lines


def _cross_validation_lines(cv: dict | None) -> list[str]:
    if not cv:
        return []
    return ["## Cross-validation", "", *[f"- {k}: {_figure(v)}" for k, v in cv.items()], ""]


def _notes(card: dict) -> list[str]:
    notes = card.get("known_limitations", [])
    missed = card.get("targets_missed", [])
    lines = []
    if notes:
        lines += ["## Known limitations", "", *[f"- {note}" for note in notes], ""]
    if missed:
        lines += ["## Targets missed, and what was tried", "", *[f"- {m}" for m in missed], ""]
    return lines
