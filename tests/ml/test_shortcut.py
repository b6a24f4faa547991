"""A shortcut-probe experiment's figures land in the model's card and report."""

import json
from pathlib import Path

import pytest

from ml.shortcut import MERGED, merge
from ml.train import PROBE_SET

COMMITTED_CARD = Path("models/brain-tumor-cnn/0.6.1/metadata.json")


def card_dir(path: Path, card: dict) -> Path:
    path.mkdir()
    (path / "metadata.json").write_text(json.dumps(card))
    return path


def probe_metrics() -> dict:
    # Rows: true glioma, meningioma, no_tumor, pituitary; columns: predicted, in that order.
    matrix = [[0, 0, 0, 0], [2, 9, 16, 0], [0, 0, 5, 0], [0, 0, 11, 5]]
    return {"n": 48, "accuracy": 19 / 48, "macro_f1": 0.31, "confusion_matrix": matrix}


def test_the_probe_figures_become_a_known_limitation_in_the_card_and_report(tmp_path: Path):
    card = json.loads(COMMITTED_CARD.read_text())
    model = card_dir(tmp_path / "model", card)
    experiment_card = {
        **card,
        "version": "9.9.9-scanner-probe",
        "config": {**card["config"], "train_sources": ["sartaj"], "hold_out_probe": True},
        "metrics": {**card["metrics"], PROBE_SET: probe_metrics()},
    }
    experiment = card_dir(tmp_path / "experiment", experiment_card)

    merge(model, [experiment])

    merged = json.loads((model / "metadata.json").read_text())[MERGED]
    assert merged["tumours"] == 43 and merged["tumours_called_no_tumor"] == 27
    assert merged["experiments"] == ["9.9.9-scanner-probe"]
    report = (model / "evaluation.md").read_text()
    assert "called 27 of 43 such tumours no_tumor" in report
    assert "--hold-out-probe" in report


def test_an_experiment_that_trained_on_the_probe_cannot_speak_for_it(tmp_path: Path):
    card = json.loads(COMMITTED_CARD.read_text())
    model = card_dir(tmp_path / "model", card)
    experiment = card_dir(tmp_path / "experiment", {**card, "version": "9.9.9"})

    with pytest.raises(SystemExit, match="did not hold out"):
        merge(model, [experiment])


def test_the_two_halves_of_a_weighted_recipe_are_counted_together(tmp_path: Path):
    card = json.loads(COMMITTED_CARD.read_text())
    model = card_dir(tmp_path / "model", card)
    halves = []
    for half in (0, 1):
        config = {**card["config"], "hold_out_probe": True, "probe_half": half, "look_weight": 10}
        metrics = {**card["metrics"], PROBE_SET: probe_metrics()}
        experiment = {**card, "version": f"9.9.9-half{half}", "config": config, "metrics": metrics}
        halves.append(card_dir(tmp_path / f"half{half}", experiment))

    merged = merge(model, halves)

    assert merged["n"] == 96 and merged["tumours_called_no_tumor"] == 54
    assert merged["accuracy"] == 38 / 96
    report = (model / "evaluation.md").read_text()
    assert "--probe-half 0 --look-weight 10" in report and "--probe-half 1" in report
    assert "Trained on one half of the images that contradict this" in report
