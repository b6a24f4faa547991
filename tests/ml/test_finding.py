"""The tumour-first answer's thresholds and the finding they give."""

import numpy as np

from ml.finding import Finding, FindingThresholds, choose_thresholds


def test_a_probability_below_the_lower_threshold_is_no_tumour_and_above_the_upper_suspected():
    thresholds = FindingThresholds(no_tumour_below=0.2, tumour_suspected_from=0.7)
    assert thresholds.finding(0.1) == Finding.NO_TUMOUR
    assert thresholds.finding(0.2) == Finding.INDETERMINATE
    assert thresholds.finding(0.69) == Finding.INDETERMINATE
    assert thresholds.finding(0.7) == Finding.TUMOUR_SUSPECTED


def test_the_lower_threshold_keeps_98_percent_of_every_sources_tumours_out_of_no_tumour():
    rng = np.random.default_rng(0)
    # Source "b" has lower tumour probabilities: it alone sets the lower threshold.
    tumours_a, tumours_b = rng.uniform(0.5, 1.0, 500), rng.uniform(0.1, 1.0, 500)
    normals = rng.uniform(0.0, 0.3, 500)
    probability = np.concatenate([tumours_a, tumours_b, normals])
    is_tumour = np.repeat([True, True, False], 500)
    sources = np.repeat(["a", "b", "a"], 500)
    thresholds = choose_thresholds(probability, is_tumour, sources)
    for tumours in (tumours_a, tumours_b):
        assert np.mean(tumours >= thresholds.no_tumour_below) >= 0.98
    assert np.mean(tumours_b >= thresholds.no_tumour_below) < 0.99
    assert np.mean(normals < thresholds.tumour_suspected_from) >= 0.95


def test_the_upper_threshold_is_never_below_the_lower_one():
    probability = np.array([0.9, 0.95, 0.99] * 10 + [0.97] * 30)
    is_tumour = np.array([True] * 30 + [False] * 30)
    thresholds = choose_thresholds(probability, is_tumour, np.array(["a"] * 60))
    assert thresholds.tumour_suspected_from >= thresholds.no_tumour_below
