from pathlib import Path

import numpy as np
import pytest

from ml.cache import prepare
from ml.crossval import summarise
from ml.datasets import Sample, list_samples
from ml.labels import CLASSES
from ml.splits import group_folds, training_pool
from ml.train import TrainConfig, train_and_calibrate

LABELS = ["glioma", "meningioma", "no_tumor", "pituitary"]


def _sample(i: int, split: str) -> Sample:
    return Sample(Path(f"/x/{i}.jpg"), LABELS[i % 4], "nickparvar", split)


def _pool_with_copies() -> tuple[list[Sample], np.ndarray, np.ndarray]:
    samples = [_sample(i, "Training") for i in range(100)]
    samples += [Sample(Path(f"/t/{i}.jpg"), LABELS[i % 4], "sartaj", "Testing") for i in range(8)]
    groups = np.arange(len(samples))
    groups[10:14] = 10  # four near-copies of one another
    groups[20] = groups[100]  # a near-copy of a test image
    return samples, groups, training_pool(samples, groups)


def test_every_pool_image_is_held_out_exactly_once_across_the_folds():
    samples, groups, pool = _pool_with_copies()

    folds = group_folds(pool, samples, groups, seed=0, folds=5)

    held_out = np.concatenate([held for _, held in folds])
    assert sorted(held_out) == sorted(pool)
    for kept, held in folds:
        assert not set(kept) & set(held)
        assert sorted(np.concatenate([kept, held])) == sorted(pool)


def test_near_copies_stay_together_on_one_side_of_every_fold():
    samples, groups, pool = _pool_with_copies()

    for kept, held in group_folds(pool, samples, groups, seed=0, folds=5):
        copies = {10, 11, 12, 13}
        assert copies <= set(kept) or copies <= set(held)


def test_the_test_folder_and_its_near_copies_are_in_no_fold():
    samples, groups, pool = _pool_with_copies()

    assert 20 not in set(pool)
    assert not set(pool) & set(range(100, 108))


def test_the_summary_gives_mean_and_sample_sd_of_each_figure():
    folds = [
        {
            "fold": k,
            "held_out": {
                stage: {"accuracy": a, "macro_f1": a - 0.01, "ece": e}
                for stage in ("before_calibration", "after_calibration")
            },
        }
        for k, (a, e) in enumerate([(0.90, 0.05), (0.94, 0.03), (0.92, 0.04)])
    ]

    summary = summarise(folds)

    assert summary["folds_run"] == [0, 1, 2]
    accuracy = summary["after_calibration"]["accuracy"]
    assert accuracy["mean"] == pytest.approx(0.92)
    assert accuracy["sd"] == pytest.approx(0.02)
    assert summary["before_calibration"]["ece"]["mean"] == pytest.approx(0.04)


@pytest.mark.dataset
def test_one_epoch_of_the_training_recipe_runs_on_real_slices_and_is_calibrated(
    dataset_dir: Path, tmp_path: Path
):
    chosen = _a_few_per_class(list_samples(dataset_dir), per_class=16)
    prepared = prepare(chosen, tmp_path / "cache")
    labels = np.array([CLASSES.index(s.label) for s in chosen])
    indices = np.arange(len(chosen))
    config = TrainConfig(epochs=1, batch_size=16, width=4)

    trained = train_and_calibrate(prepared.images, labels, indices[::2], indices[1::2], config)

    assert len(trained.history["loss"]) == 1
    assert trained.temperature > 0
    after = trained.validation["after_calibration"]
    assert after["n"] == len(indices[1::2])
    assert 0.0 <= after["ece"] <= 1.0


def _a_few_per_class(samples: list[Sample], per_class: int) -> list[Sample]:
    training = [s for s in samples if s.source == "sartaj" and s.split == "Training"]
    return [s for label in CLASSES for s in [t for t in training if t.label == label][:per_class]]
