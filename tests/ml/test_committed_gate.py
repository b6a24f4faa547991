"""The committed model's input gate, as the API runs it, on the issue's images: the Sartaj
Testing MRI must pass and the evaluation non-MRI images (which set no limit) be refused."""

from pathlib import Path

import pytest

from api.settings import Settings
from ml.datasets import list_samples
from ml.inference import Classifier
from ml.trust_eval import Probe, evaluation_probes, gate_figures, gate_rows

MODEL_DIR = Settings(_env_file=None).model_dir
# The targets (#6, input gate).
MIN_AUROC = 0.99
MIN_NON_MRI_FLAGGED = 0.95
MAX_TEST_MRI_FLAGGED = 0.02


@pytest.fixture(scope="module")
def figures(dataset_dir: Path) -> dict:
    classifier = Classifier.load(MODEL_DIR)
    test_mri = [
        Probe(s.key, "brain MRI", s.path.read_bytes())
        for s in list_samples(dataset_dir)
        if s.is_sartaj_test
    ]
    return gate_figures(gate_rows(classifier, evaluation_probes()), gate_rows(classifier, test_mri))


def test_the_committed_gate_flags_at_most_two_percent_of_the_sartaj_testing_mri(figures):
    assert figures["brain_mri_test_images"] == 394
    assert figures["brain_mri_test_flagged"] <= MAX_TEST_MRI_FLAGGED


def test_the_committed_gate_refuses_the_non_mri_images_it_never_set_a_limit_on(figures):
    assert figures["non_brain_mri_flagged"] >= MIN_NON_MRI_FLAGGED
    assert figures["auroc_gate"] >= MIN_AUROC


def test_the_committed_gate_measures_what_its_card_claims(figures):
    claimed = Classifier.load(MODEL_DIR).metadata["trust"]["input_gate"]
    for figure in ("brain_mri_test_flagged", "non_brain_mri_flagged", "auroc_gate"):
        assert figures[figure] == pytest.approx(claimed[figure], abs=0.005), figure
