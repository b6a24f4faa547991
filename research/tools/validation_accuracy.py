"""Class accuracy and macro-F1 on a model's validation brain MRI, all origins pooled (the
typed images, as `ml.evaluate.class_figures` counts them): rule (a) of research/RECORD.md's
entry for 0.9.0.

    PYTHONPATH=. python research/tools/validation_accuracy.py models/brain-tumor-cnn/0.9.0

A lab tool: it decides nothing in training or serving.
"""

import sys
from pathlib import Path

from ml.artifact import read_card
from ml.cache import prepare_grouped
from ml.evaluate import class_figures, score_files
from ml.inference import Classifier
from ml.labels import CLASSES
from ml.train import card_plan


def main(model: Path, data_dir: Path = Path("../shared/datasets")) -> None:
    card = read_card(model)
    data = prepare_grouped(data_dir, Path("var/cache"))
    plan, _ = card_plan(data, card)
    mri = [
        data.samples[i]
        for i in plan.validation
        if data.samples[i].is_brain_mri and data.samples[i].label in CLASSES
    ]
    rows = score_files(Classifier.load(model), mri)
    pooled = class_figures(rows)
    figures = {k: pooled[k] for k in ("accuracy", "macro_f1", "ece")}
    print(f"{model}: {len(rows)} typed validation brain MRI, pooled {figures}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
