"""Tumour-against-normal AUROC and (sensitivity, specificity) at a few thresholds of the
tumour probability, on a model's validation brain MRI (by origin) and on Sartaj Testing.

    PYTHONPATH=. python research/tools/operating_points.py models/brain-tumor-cnn/0.8.0

A lab tool: it decides nothing in training or serving.
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from ml.artifact import read_card
from ml.cache import prepare_grouped
from ml.evaluate import score_files
from ml.inference import Classifier
from ml.train import card_plan

THRESHOLDS = (0.06, 0.2, 0.5, 0.8)


def main(model: Path, data_dir: Path = Path("../shared/datasets")) -> None:
    card = read_card(model)
    data = prepare_grouped(data_dir, Path("var/cache"))
    plan, _ = card_plan(data, card)
    classifier = Classifier.load(model)
    typed_mri = [
        data.samples[i]
        for i in plan.validation
        if data.samples[i].is_brain_mri and data.samples[i].label is not None
    ]
    sets = {
        "validation": score_files(classifier, typed_mri),
        "sartaj testing": score_files(classifier, [data.samples[i] for i in plan.test]),
    }
    for name, rows in sets.items():
        for origin in sorted({r.origin for r in rows}):
            chosen = [r for r in rows if r.origin == origin]
            tumour = np.array([r.truth != "no_tumor" for r in chosen])
            probability = np.array([r.tumour_probability for r in chosen])
            if tumour.all() or not tumour.any():
                continue
            auroc = roc_auc_score(tumour, probability)
            print(f"{name} {origin}: AUROC {auroc:.3f}, {len(chosen)} images")
            for t in THRESHOLDS:
                sensitivity = (probability[tumour] >= t).mean()
                specificity = (probability[~tumour] < t).mean()
                print(f"  t={t:.2f}: sensitivity {sensitivity:.3f}, specificity {specificity:.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
