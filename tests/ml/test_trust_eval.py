"""The trust figures' bookkeeping: which images count as unseen, and how the report shows them."""

from types import SimpleNamespace

import numpy as np

from ml.trust_eval import gate_table_rows, never_seen

GATE = {
    "auroc_gate": 0.99,
    "auroc_pixels_only": 0.97,
    "auroc_distance_only": 0.97,
    "non_brain_mri_images": 64,
    "non_brain_mri_flagged": 1.0,
    "brain_mri_test_images": 394,
    "brain_mri_test_flagged": 0.05,
    "brain_mri_test_low_confidence": 0.3,
}
DEVELOPMENT = {
    "validation_images": 727,
    "validation_out_of_distribution": 0.001,
    "validation_low_confidence": 0.025,
    "validation_unframed": 0.03,
    "development_non_mri_images": 105,
    "development_non_mri_flagged": 0.99,
}
UNSEEN = {
    "experiment": "0.1.0-sartaj-only",
    "trained_on": ["sartaj"],
    "images": 3000,
    "out_of_distribution": 0.001,
    "low_confidence": 0.02,
}


def test_an_image_near_identical_to_one_the_model_trained_on_does_not_count_as_unseen():
    # Images 0-1 trained on, 2 calibrated on; 3 copies 0, 4 copies 2, 5 is new.
    data = SimpleNamespace(
        groups=np.array([10, 11, 12, 10, 12, 13]), train=np.array([0, 1]), validation=np.array([2])
    )

    assert never_seen(np.array([3, 4, 5]), data).tolist() == [5]


def test_the_report_shows_the_unseen_source_figure_only_once_it_was_measured():
    without = gate_table_rows(GATE, DEVELOPMENT)
    with_unseen = gate_table_rows(GATE, DEVELOPMENT, UNSEEN)

    assert "unseen source" not in without
    row = next(line for line in with_unseen.splitlines() if "unseen source" in line)
    assert "(3000)" in row and "0.1.0-sartaj-only" in row and "0.1% / 2.0%" in row
