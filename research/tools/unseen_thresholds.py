"""Candidate T (research/RECORD.md, sixth session): a no-tumour threshold chosen on sources
the runs never saw, and what a new source would get with it.

    PYTHONPATH=. python research/tools/unseen_thresholds.py models/brain-tumor-cnn/0.9.0 \
        var/experiments/loso/0.9.0-loso-{sartaj,figshare,br35h,feltrin}

Each leave-one-source-out run scores the tumours of the brain-MRI source it held out
(through its exported model and gate). The limit is the largest tumour probability that
keeps TARGET of every source's tumours at or above it. Nested: each source is judged by
the limit the other sources set, with its run's own `no_tumour_below` lowered to it. Then
the served model's validation normals: how many are still answered `no_tumour`.

A lab tool: it decides nothing in training or serving.
"""

import sys
from pathlib import Path

import numpy as np

from ml.artifact import read_card
from ml.cache import prepare_grouped
from ml.evaluate import score_files
from ml.inference import Classifier
from ml.labels import NO_TUMOR
from ml.train import card_plan

TARGET = 0.97  # #24: confident misses <= 3 % on every source


def limit_keeping(scores: dict[str, np.ndarray]) -> float:
    """The largest threshold with at most 1 - TARGET of each source's tumours below it."""
    return min(float(np.sort(s)[int(np.floor((1 - TARGET) * len(s)))]) for s in scores.values())


def held_out_tumours(data, run_dir: Path) -> tuple[str, np.ndarray, float]:
    card = read_card(run_dir)
    origin = card["config"]["hold_out_origins"][0]
    plan, _ = card_plan(data, card)
    samples = [data.samples[i] for i in plan.held_out if data.samples[i].origin == origin]
    rows = score_files(Classifier.load(run_dir), samples)
    tumours = [r.tumour_probability for r in rows if r.truth not in (None, NO_TUMOR)]
    return origin, np.array(tumours), card["finding_thresholds"]["no_tumour_below"]


def validation_normals(data, model: Path) -> np.ndarray:
    plan, _ = card_plan(data, read_card(model))
    rows = score_files(Classifier.load(model), [data.samples[i] for i in plan.validation])
    return np.array([r.tumour_probability for r in rows if r.truth == NO_TUMOR])


def main(served: Path, runs: list[Path], data_dir: Path = Path("../shared/datasets")) -> None:
    data = prepare_grouped(data_dir, Path("var/cache"))
    scored = [held_out_tumours(data, run) for run in runs]
    scores = {origin: tumours for origin, tumours, _ in scored}
    limit = limit_keeping(scores)
    print(f"limit over all {len(scores)} sources: {limit:.4f}")
    for origin, tumours, own in scored:
        others = limit_keeping({o: s for o, s in scores.items() if o != origin})
        before, after = np.mean(tumours < own), np.mean(tumours < min(own, others))
        print(
            f"{origin}: {len(tumours)} tumours, limit from the others {others:.4f}, "
            f"confident misses {before:.3f} -> {after:.3f}"
        )
    normals = validation_normals(data, served)
    validation_low = read_card(served)["finding_thresholds"]["no_tumour_below"]
    for name, threshold in (("validation", validation_low), ("limit", limit)):
        answered = int(np.sum(normals < threshold))
        print(
            f"served validation normals answered no_tumour at the {name} threshold "
            f"{threshold:.4f}: {answered} of {len(normals)} ({answered / len(normals):.3f})"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])
