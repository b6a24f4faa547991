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
    is_test, in_test_group = _test_folder_and_its_groups(samples, groups)
    test = np.flatnonzero(is_test)
    leak_free = test[~np.isin(groups[test], list(set(groups[~is_test])))]
    pool = np.flatnonzero(~in_test_group)
    # One fold of a stratified group k-fold: about 1/8 of the pool, groups kept whole.
    train, validation = hold_out_one_fold(pool, samples, groups, seed, validation_folds)
    return Splits(
        train=train,
        validation=validation,
        test=test,
        test_leak_free=leak_free,
        excluded=np.flatnonzero(in_test_group & ~is_test),
    )


def training_pool(samples: list[Sample], groups: np.ndarray) -> np.ndarray:
    """Every image outside the test folder's near-duplicate groups: all training may use."""
    _, in_test_group = _test_folder_and_its_groups(samples, groups)
    return np.flatnonzero(~in_test_group)


def _test_folder_and_its_groups(
    samples: list[Sample], groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per image: is it in the Sartaj Testing folder; is it in a test image's group."""
    is_test = np.array([s.is_sartaj_test for s in samples])
    return is_test, np.isin(groups, list(set(groups[is_test])))


def group_folds(
    indices: np.ndarray, samples: list[Sample], groups: np.ndarray, seed: int, folds: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kept, held out) for each fold of a stratified group k-fold over `indices`: every
    index is held out exactly once, and near-duplicate groups never straddle the two."""
    labels = np.array([stratum(samples[i]) for i in indices])
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [
        (indices[kept], indices[held_out])
        for kept, held_out in splitter.split(indices, labels, groups[indices])
    ]


def stratum(sample: Sample) -> str:
    """What a fold keeps in proportion: each origin's share of each class or kind."""
    return f"{sample.origin}:{sample.label or sample.kind}"


def hold_out_one_fold(
    indices: np.ndarray, samples: list[Sample], groups: np.ndarray, seed: int, folds: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first of `group_folds`: about 1/folds of `indices` held out, groups kept whole."""
    return group_folds(indices, samples, groups, seed, folds)[0]
