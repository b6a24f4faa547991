"""Leak-free splits: the Sartaj Testing folder and its near-duplicates never train anything."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from ml.datasets import Sample


@dataclass(frozen=True)
class Splits:
    train: np.ndarray  # indices
    validation: np.ndarray
    test: np.ndarray  # the Sartaj Testing folder, whole
    test_leak_free: np.ndarray  # test images with no near-duplicate outside the test folder
    excluded: np.ndarray  # non-test images near-identical to a test image


def make_splits(
    samples: list[Sample], groups: np.ndarray, seed: int, validation_folds: int = 8
) -> Splits:
    is_test = np.array([s.is_sartaj_test for s in samples])
    test_groups = set(groups[is_test])
    in_test_group = np.isin(groups, list(test_groups))
    pool_groups = set(groups[~is_test])
    test = np.flatnonzero(is_test)
    leak_free = test[~np.isin(groups[test], list(pool_groups))]
    pool = np.flatnonzero(~in_test_group)
    labels = np.array([s.label for s in samples])
    # One fold of a stratified group k-fold: about 1/8 of the pool, groups kept whole.
    folds = StratifiedGroupKFold(n_splits=validation_folds, shuffle=True, random_state=seed)
    train_part, validation_part = next(folds.split(pool, labels[pool], groups[pool]))
    return Splits(
        train=pool[train_part],
        validation=pool[validation_part],
        test=test,
        test_leak_free=leak_free,
        excluded=np.flatnonzero(in_test_group & ~is_test),
    )
