"""Feltrin's images by true class and sequence: how many, how many labelled right, how many
tumours labelled a tumour class, and the confusion of true class against label. For a served
model, its Feltrin validation images; for a leave-one-source-out run without Feltrin, every
Feltrin image it held out.

    PYTHONPATH=. python research/tools/feltrin_breakdown.py models/brain-tumor-cnn/0.9.0

A lab tool: it decides nothing in training or serving.
"""

import sys
from collections import Counter, defaultdict
from pathlib import Path

from ml.artifact import read_card
from ml.cache import prepare_grouped
from ml.evaluate import score_files
from ml.inference import Classifier
from ml.train import card_plan

NO_TUMOR = "no_tumor"


def feltrin_samples(model: Path, data_dir: Path):
    card = read_card(model)
    data = prepare_grouped(data_dir, Path("var/cache"))
    plan, _ = card_plan(data, card)
    held = "feltrin" in (card.get("config") or {}).get("hold_out_origins", [])
    indices = plan.held_out if held else plan.validation
    return [
        data.samples[i]
        for i in indices
        if data.samples[i].origin == "feltrin" and data.samples[i].is_brain_mri
    ]


def main(model: Path, data_dir: Path = Path("../shared/datasets")) -> None:
    samples = feltrin_samples(model, data_dir)
    rows = score_files(Classifier.load(model), samples)
    cells: dict[tuple[str, str], Counter] = defaultdict(Counter)
    confusion: dict[str, Counter] = defaultdict(Counter)
    for sample, row in zip(samples, rows, strict=True):
        truth = sample.label or "other_lesion"
        cell = cells[(truth, sample.sequence or "?")]
        cell["n"] += 1
        cell["right"] += row.label == sample.label
        cell["called tumour"] += row.label not in (NO_TUMOR, None)
        confusion[truth][row.label or "refused"] += 1
    print(f"{model}: {len(rows)} Feltrin images")
    print("| class | sequence | images | labelled right | labelled a tumour class |")
    print("|---|---|---|---|---|")
    for (truth, sequence), cell in sorted(cells.items()):
        n = cell["n"]
        print(
            f"| {truth} | {sequence} | {n} | {cell['right'] / n:.2f} | "
            f"{cell['called tumour'] / n:.2f} |"
        )
    print()
    for truth, labels in sorted(confusion.items()):
        print(truth, dict(labels.most_common()))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
