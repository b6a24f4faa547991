"""The trust figures' bookkeeping: the gate's score over made-up verdicts, the probes through
a real exported model, and the card and report they are written into."""

from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from medimg_testing.tiny_model import export_tiny_model
from ml.artifact import read_card, write_card
from ml.cache import GroupedSet, label_index, prepare
from ml.config import TrainConfig
from ml.datasets import Sample
from ml.export import base_card
from ml.gate import Probe, evaluation_probes, fit_input_gate
from ml.inference import Classifier
from ml.labels import FOUR_CLASSES
from ml.ood import GateResult, Suitability
from ml.report import REPORT_FILE
from ml.trust_eval import TRUST_HEADING, gate_figures, gate_rows, write_figures
from ml.trust_eval import main as trust_main


def _row(kind: str, suitability: Suitability, relative: float, cue: str = "features") -> dict:
    verdict = GateResult(suitability, relative * 10, "", cue, relative)
    return {"name": kind, "kind": kind, "verdict": verdict}


def test_hard_cues_rank_above_every_distance_in_the_gates_auroc():
    ood = [
        _row("noise", Suitability.OUT_OF_DISTRIBUTION, 3.0),
        # Refused by the recogniser though close in feature space: still ranked first.
        _row("photo grey", Suitability.OUT_OF_DISTRIBUTION, 0.2, cue="kind"),
    ]
    mri = [
        _row("brain MRI", Suitability.OK, 0.5),
        _row("brain MRI", Suitability.LOW_CONFIDENCE, 0.9),
    ]

    figures = gate_figures(ood, mri)

    assert figures["auroc_gate"] == 1.0
    assert figures["auroc_pixels_only"] == 0.5
    assert figures["non_brain_mri_flagged"] == 1.0
    assert figures["brain_mri_test_flagged"] == 0.0
    assert figures["brain_mri_test_low_confidence"] == 0.5
    assert figures["flagged_by_kind"]["noise"] == {"n": 1, "flagged": 1.0}


def test_each_probe_the_api_accepts_gets_the_gates_verdict_through_the_model(tmp_path: Path):
    classifier = Classifier.load(export_tiny_model(tmp_path / "tiny"))
    noise = [probe for probe in evaluation_probes() if probe.kind == "noise"]
    probes = [*noise[:3], Probe("junk.png", "noise", b"not an image")]

    rows = gate_rows(classifier, probes)

    assert [row["name"] for row in rows] == ["noise-0.png", "noise-1.png", "noise-2.png"]
    assert all(isinstance(row["verdict"].suitability, Suitability) for row in rows)


FIGURES = {
    "input_gate": {
        "auroc_gate": 0.999,
        "auroc_pixels_only": 0.98,
        "auroc_distance_only": 0.97,
        "non_brain_mri_images": 64,
        "non_brain_mri_flagged": 1.0,
        "brain_mri_test_images": 390,
        "brain_mri_test_flagged": 0.01,
        "brain_mri_test_low_confidence": 0.2,
        "flagged_by_kind": {"noise": {"n": 24, "flagged": 1.0}},
    },
    "input_gate_development": {
        "split": "development / evaluation",
        "limits": {
            "low_confidence_above": 1.5,
            "out_of_distribution_above_framed": 3.0,
            "out_of_distribution_above_unframed": 2.0,
        },
        "development_non_mri_images": 105,
        "development_non_mri_flagged": 0.99,
    },
    "sartaj_testing_accuracy_by_suitability": {
        "ok": {"n": 300, "accuracy": 0.9},
        "low_confidence": {"n": 86, "accuracy": 0.7},
        "out_of_distribution": {"n": 4, "accuracy": None},
    },
    "similar_cases": {
        "precision_at_5_by_class": {"glioma": 0.95},
        "latency_at_100k": {"stored": 100_000, "k": 10, "median_ms": 4.0, "p95_ms": 6.0, "cpus": 2},
        "near_duplicates": {
            "threshold": 0.97,
            "known_copies_marked": 0.9,
            "random_pairs_marked": 0,
        },
    },
    "explanations": {
        "mass_inside_brain_median": 0.8,
        "mass_inside_brain_p10": 0.5,
        "flagged_implausible": 0.02,
    },
}


def _model_dir(tmp_path: Path) -> Path:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    card = {
        **base_card(image_size=32),
        "name": "brain-tumor-cnn",
        "version": "9.9.9",
        "config": asdict(TrainConfig()),
    }
    write_card(model_dir, card)
    return model_dir


def test_the_figures_go_into_the_card_and_once_into_the_report_however_often_it_runs(
    tmp_path: Path,
):
    model_dir = _model_dir(tmp_path)

    for _ in range(2):
        write_figures(model_dir, FIGURES, "python -m ml.trust_eval …")

    assert read_card(model_dir)["trust"]["input_gate"]["auroc_gate"] == pytest.approx(0.999)
    report = (model_dir / REPORT_FILE).read_text()
    assert report.startswith("# brain-tumor-cnn 9.9.9: evaluation")
    assert report.count(TRUST_HEADING) == 1
    assert "| evaluation non-brain-MRI images refused (64) | 100.0% | ≥ 95 % |" in report
    assert "| out_of_distribution | 4 | – |" in report


def _head(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = np.zeros((96, 96), np.uint8)
    cv2.ellipse(pixels, (48, 48), (30, 38), 0, 0, 360, 120, -1)
    return np.clip(pixels + rng.integers(0, 60, pixels.shape) * (pixels > 0), 0, 255).astype(
        np.uint8
    )


def test_the_whole_measurement_runs_on_a_real_export_and_writes_its_card(
    tmp_path: Path, monkeypatch
):
    """ml.trust_eval end to end on made-up slices and the tiny untrained model, its gate
    fitted as ml.train fits it: every figure is computed and lands in the card."""
    samples = []
    for i in range(48):
        path = tmp_path / "images" / f"{i}.png"
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), _head(i))
        test = i >= 40
        source, split = ("sartaj", "Testing") if test else ("feltrin", "")
        samples.append(Sample(path, FOUR_CLASSES[i % 4], source, split, origin=source))
    data = prepare(samples, tmp_path / "cache")
    labels = np.array([label_index(s.label) for s in samples])
    grouped = GroupedSet(
        prepared=data,
        groups=np.arange(len(samples)),
        labels=labels,
        kinds=np.zeros(len(samples), int),
    )
    monkeypatch.setattr("ml.trust_eval.prepare_grouped", lambda *_: grouped)
    model_dir = export_tiny_model(tmp_path / "tiny")
    write_card(model_dir, {**read_card(model_dir), "config": asdict(TrainConfig())})
    fit_input_gate(model_dir, data.images, labels, np.arange(20), np.arange(20, 40))

    figures = trust_main(["--data", str(tmp_path), "--model", str(model_dir)])

    assert figures["input_gate"]["brain_mri_test_images"] == 8
    assert 0.0 <= figures["input_gate"]["auroc_gate"] <= 1.0
    assert figures["explanations"]["images"] == 8
    assert figures["similar_cases"]["queries"] > 0
    assert read_card(model_dir)["trust"]["reproduce"].startswith("python -m ml.trust_eval")
    assert TRUST_HEADING in (model_dir / REPORT_FILE).read_text()
