"""The committed model, loaded as the API loads it, held to its card on the real files:
Sartaj Testing through the model and the input gate, and the validation split's images of
other kinds through the recogniser."""

from pathlib import Path

import numpy as np
import pytest

from api.settings import Settings
from ml.artifact import read_card
from ml.cache import prepare_grouped
from ml.card import ModelCard
from ml.config import config_from_card
from ml.datasets import list_samples
from ml.evaluate import figures_by, score_files, tumour_figures
from ml.inference import Classifier
from ml.labels import BRAIN_MRI, CLASSES, KIND_NAMES
from ml.train import make_plan

MODEL_DIR = Settings(_env_file=None).model_dir
MAX_MODEL_MEGABYTES = 25
# Issue #25 asks that at most 2 % of the Sartaj Testing MRI be refused; 0.12.0 refuses 3.7 %,
# most of them CT slices filed as MRI (its card lists the miss). This bound keeps a later
# model from doing worse still.
MAX_TEST_MRI_REFUSED = 0.05
# The figures the card claims are checked to this tolerance.
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load(MODEL_DIR)


@pytest.fixture(scope="module")
def card() -> dict:
    return read_card(MODEL_DIR)


@pytest.fixture(scope="module")
def sartaj_testing_rows(classifier: Classifier, dataset_dir: Path) -> list:
    """Every image of the folder, as the brain MRI the folder says it is."""
    samples = [s for s in list_samples(dataset_dir) if s.is_sartaj_test]
    return score_files(classifier, samples)


@pytest.fixture(scope="module")
def validation_rows_of_other_kinds(classifier: Classifier, dataset_dir: Path, card: dict):
    data = prepare_grouped(dataset_dir, Path("var/cache"))
    plan = make_plan(data, config_from_card(card["config"]))
    chosen = [data.samples[i] for i in plan.validation if data.samples[i].kind != BRAIN_MRI]
    return score_files(classifier, chosen)


def test_the_committed_model_card_follows_the_schema(card: dict):
    ModelCard.model_validate(card)
    assert card["classes"] == list(CLASSES) and card["kinds"] == list(KIND_NAMES)
    assert card["data"]["train"]["sha256"] and card["data"]["test_sartaj"]["files"] == 394
    assert "not for diagnosis" in card["intended_use"]


def test_the_committed_model_is_small_enough_to_ship():
    size = sum(p.stat().st_size for p in MODEL_DIR.rglob("*") if p.is_file())
    assert size < MAX_MODEL_MEGABYTES * 1024 * 1024


def test_the_committed_model_scores_what_its_card_claims_on_the_sartaj_testing_folder(
    sartaj_testing_rows: list, card: dict
):
    measured = tumour_figures(sartaj_testing_rows)
    claimed = card["evaluation"]["sartaj_testing"]
    assert measured["images"] == claimed["images"]
    for figure in ("accuracy", "macro_f1", "sensitivity", "specificity", "confident_miss_rate"):
        assert measured[figure] == pytest.approx(claimed[figure], abs=TOLERANCE), figure


def test_the_committed_gate_refuses_what_its_card_claims_of_the_sartaj_testing_mri(
    sartaj_testing_rows: list, card: dict
):
    """Issue #25 asks for at most 2 % refused; the folder holds CT slices, which should be.
    Those the CT check names are left out of this share."""
    suspects = set(card["data"]["ct_suspects"])
    mri = [r for r in sartaj_testing_rows if r.key not in suspects]
    refused = tumour_figures(mri)["refused"]
    assert refused == pytest.approx(card["evaluation"]["sartaj_testing_mri_refused"], abs=TOLERANCE)
    assert refused <= MAX_TEST_MRI_REFUSED, f"{refused:.3f} of the MRI refused"


def test_the_ct_suspects_of_the_sartaj_testing_folder_are_mostly_refused(
    sartaj_testing_rows: list, card: dict
):
    suspects = set(card["data"]["ct_suspects"])
    ct_rows = [r for r in sartaj_testing_rows if r.key in suspects]
    assert ct_rows, "the card names no CT suspect in the Sartaj Testing folder"
    refused = np.mean([r.suitability == "out_of_distribution" for r in ct_rows])
    assert refused == pytest.approx(card["evaluation"]["sartaj_testing_ct_suspects"]["refused"])


def test_the_recogniser_scores_what_its_card_claims_on_the_validation_images_of_other_kinds(
    validation_rows_of_other_kinds: list, card: dict
):
    measured = figures_by(validation_rows_of_other_kinds, "kind")
    claimed = card["evaluation"]["validation_by_kind"]
    assert set(measured) == set(claimed) - {BRAIN_MRI}
    for kind, figures in measured.items():
        for figure in ("modality_accuracy", "body_part_accuracy", "refused"):
            assert figures[figure] == pytest.approx(claimed[kind][figure], abs=TOLERANCE)


def test_calibrated_probabilities_sum_to_one_and_agree_with_the_tumour_probability(
    classifier: Classifier, dataset_dir: Path
):
    sample = next(s for s in list_samples(dataset_dir) if s.is_sartaj_test)
    rows = score_files(classifier, [sample])
    assert sum(rows[0].probabilities) == pytest.approx(1.0, abs=1e-5)
    no_tumour = rows[0].probabilities[CLASSES.index("no_tumor")]
    assert rows[0].tumour_probability == pytest.approx(1.0 - no_tumour, abs=1e-5)
