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


def test_the_label_threshold_sits_where_the_sources_balanced_accuracy_is_best():
    rng = np.random.default_rng(1)
    # Overlapping tumours and normals, with the sources' normals lying differently.
    probability = np.concatenate(
        [rng.beta(4, 2, 300), rng.beta(2, 5, 100), rng.beta(4, 2, 300), rng.beta(1, 2, 100)]
    )
    is_tumour = np.tile(np.repeat([True, False], [300, 100]), 2)
    sources = np.repeat(["a", "b"], 400)
    thresholds = choose_thresholds(probability, is_tumour, sources)
    label = thresholds.label_no_tumor_below
    assert thresholds.no_tumour_below <= label <= thresholds.tumour_suspected_from

    def balanced(t: float) -> float:
        return np.mean(
            [
                (
                    np.mean(probability[is_tumour & (sources == s)] >= t)
                    + np.mean(probability[~is_tumour & (sources == s)] < t)
                )
                / 2
                for s in ("a", "b")
            ]
        )

    band = np.linspace(thresholds.no_tumour_below, thresholds.tumour_suspected_from, 200)
    assert balanced(label) >= max(balanced(t) for t in band)
    assert balanced(label) > balanced(thresholds.no_tumour_below)


def test_the_label_is_no_tumor_below_its_threshold_inside_the_indeterminate_band():
    thresholds = FindingThresholds(0.2, 0.7, label_no_tumor_below=0.5)
    assert thresholds.labels_no_tumor(0.1) and thresholds.labels_no_tumor(0.49)
    assert thresholds.finding(0.49) == Finding.INDETERMINATE
    assert not thresholds.labels_no_tumor(0.5)


def test_without_a_label_threshold_the_label_is_no_tumor_exactly_when_the_finding_is():
    thresholds = FindingThresholds(0.2, 0.7)
    assert thresholds.labels_no_tumor(0.19) and not thresholds.labels_no_tumor(0.2)


def test_sources_with_too_few_normals_do_not_judge_the_label_threshold():
    probability = np.array([0.9] * 30 + [0.1] * 5)
    is_tumour = np.array([True] * 30 + [False] * 5)
    thresholds = choose_thresholds(probability, is_tumour, np.array(["a"] * 35))
    assert thresholds.label_no_tumor_below == thresholds.no_tumour_below
