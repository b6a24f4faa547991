"""A cross-source experiment's figures land in the model's card and report."""

import json
import shutil
from pathlib import Path

import pytest

from ml.cross_source import MERGED, UNSEEN, merge
from ml.trust_eval import TRUST_HEADING

COMMITTED_CARD = Path("models/brain-tumor-cnn/0.2.1/metadata.json")


def card_dir(path: Path, card: dict) -> Path:
    path.mkdir()
    (path / "metadata.json").write_text(json.dumps(card))
    return path


def test_the_unseen_source_figures_of_an_experiment_are_merged_into_the_card_and_report(
    tmp_path: Path,
):
    card = json.loads(COMMITTED_CARD.read_text())
    model = card_dir(tmp_path / "model", card)
    unseen = {**card["metrics"]["sartaj_testing"], "n": 5000, "accuracy": 0.812}
    experiment_card = {
        **card,
        "version": "9.9.9-sartaj-only",
        "config": {**card["config"], "train_sources": ["sartaj"]},
        "metrics": {**card["metrics"], UNSEEN: unseen},
    }
    experiment = card_dir(tmp_path / "experiment", experiment_card)

    merge(model, experiment)

    merged = json.loads((model / "metadata.json").read_text())
    assert merged["metrics"][MERGED]["accuracy"] == 0.812
    assert merged["cross_source"]["trained_on"] == ["sartaj"]
    report = (model / "evaluation.md").read_text()
    assert f"| {MERGED} | 5000 | 0.812 |" in report
    assert "--train-sources sartaj" in report


def test_an_experiment_that_saw_nickparvar_cannot_speak_for_an_unseen_source(tmp_path: Path):
    card = json.loads(COMMITTED_CARD.read_text())
    model = card_dir(tmp_path / "model", card)
    experiment = tmp_path / "experiment"
    shutil.copytree(model, experiment)
    with pytest.raises(SystemExit, match="no unseen source"):
        merge(model, experiment)


def test_merging_keeps_the_reports_title_and_trust_section(tmp_path: Path):
    card = json.loads(COMMITTED_CARD.read_text())
    model = card_dir(tmp_path / "model", card)
    title = "# brain-tumor-cnn 0.2.1 — evaluation (re-exported)"
    trust = f"{TRUST_HEADING}\n\n| figure | value | target |\n"
    (model / "evaluation.md").write_text(f"{title}\n\nold figures\n\n{trust}")
    experiment_card = {
        **card,
        "version": "9.9.9-sartaj-only",
        "config": {**card["config"], "train_sources": ["sartaj"]},
        "metrics": {**card["metrics"], UNSEEN: card["metrics"]["sartaj_testing"]},
    }

    merge(model, card_dir(tmp_path / "experiment", experiment_card))

    report = (model / "evaluation.md").read_text()
    assert report.startswith(title + "\n")
    assert report.endswith(trust)
    assert f"| {MERGED} |" in report
    assert "old figures" not in report
