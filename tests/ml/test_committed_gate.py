"""The committed model's input gate, as the API runs it, on kinds of image it never trained
on and that set none of its limits (issue #25, open set): non-MR DICOM test files, a photo,
noise. The Sartaj Testing MRI are the other side of the AUROC; their own refusal rate is
held to its target in test_committed_model.py."""

from pathlib import Path

import pytest

from api.settings import Settings
from ml.artifact import read_card
from ml.datasets import list_samples
from ml.gate import Probe, evaluation_probes
from ml.inference import Classifier
from ml.trust_eval import gate_figures, gate_rows

MODEL_DIR = Settings(_env_file=None).model_dir
MIN_AUROC = 0.99
MIN_NON_MRI_FLAGGED = 0.95


@pytest.fixture(scope="module")
def figures(dataset_dir: Path) -> dict:
    classifier = Classifier.load(MODEL_DIR)
    suspects = set(read_card(MODEL_DIR)["data"]["ct_suspects"])  # brain CT, not MRI
    test_mri = [
        Probe(s.key, "brain MRI", s.path.read_bytes())
        for s in list_samples(dataset_dir)
        if s.is_sartaj_test and s.key not in suspects
    ]
    return gate_figures(gate_rows(classifier, evaluation_probes()), gate_rows(classifier, test_mri))


def test_the_committed_gate_refuses_the_kinds_of_image_it_never_saw(figures):
    assert figures["non_brain_mri_flagged"] >= MIN_NON_MRI_FLAGGED, figures["flagged_by_kind"]
    assert figures["auroc_gate"] >= MIN_AUROC


def test_the_committed_gate_measures_what_its_card_claims(figures):
    claimed = read_card(MODEL_DIR).get("trust", {}).get("input_gate")
    assert claimed is not None, "the card has no trust figures: run python -m ml.trust_eval"
    for figure in ("brain_mri_test_flagged", "non_brain_mri_flagged", "auroc_gate"):
        assert figures[figure] == pytest.approx(claimed[figure], abs=0.005), figure
