"""The stage study behind the input gate's choice of features (ml.gate_study)."""

import numpy as np
import pytest

from ml.gate_study import combined_scores, separation

SETS = ("train", "validation", "crops", "outliers")


def synthetic_sets(rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """Two stages of [N, 2C] statistics; only stage_b puts the outliers far away."""
    labels = rng.integers(0, 2, 400)
    sets = {}
    for name in SETS:
        n = 400 if name == "train" else 100
        shift = 6.0 if name == "outliers" else 0.0
        sets[name] = {
            "stage_a": rng.normal(0, 1, (n, 8)),
            "stage_b": rng.normal(0, 1, (n, 8)) + shift,
        }
    return sets, labels


def test_a_stage_alone_scores_the_validation_slices_at_a_median_of_one():
    sets, labels = synthetic_sets(np.random.default_rng(0))

    scores = combined_scores(sets, labels, ("stage_a",), "mean")

    assert np.median(scores["validation"]) == pytest.approx(1.0)
    assert set(scores) == {"validation", "crops", "outliers"}


def test_a_combination_sums_its_stages_scaled_scores():
    sets, labels = synthetic_sets(np.random.default_rng(1))
    both = combined_scores(sets, labels, ("stage_a", "stage_b"), "mean+sd")
    alone = [combined_scores(sets, labels, (s,), "mean+sd") for s in ("stage_a", "stage_b")]

    np.testing.assert_allclose(both["outliers"], alone[0]["outliers"] + alone[1]["outliers"])


def test_only_the_stage_that_moves_the_outliers_separates_them():
    sets, labels = synthetic_sets(np.random.default_rng(2))
    framed = np.zeros(100, bool)

    useless = separation(combined_scores(sets, labels, ("stage_a",), "mean"), framed)
    useful = separation(combined_scores(sets, labels, ("stage_b",), "mean"), framed)

    assert useless["auroc_crops_vs_unframed_outliers"] < 0.7
    assert useful["auroc_crops_vs_unframed_outliers"] > 0.99
    assert (
        useful["crops_above_lowest_unframed_outlier"]
        < useless["crops_above_lowest_unframed_outlier"]
    )
