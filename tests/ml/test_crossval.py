"""Group-aware cross-validation of the training recipe (ml.crossval): the folds, each fold's
figures, and the summary that goes into a model's card."""

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from ml.artifact import METADATA_FILE, read_card, write_card
from ml.cache import NO_CLASS, UNKNOWN_TYPE, GroupedSet, PreparedSet, label_index
from ml.config import TrainConfig
from ml.crossval import fold_figures, fold_plan, run_fold, summarise, write_to_card
from ml.datasets import Sample
from ml.export import base_card
from ml.finding import FindingThresholds
from ml.labels import CLASSES, KIND_NAMES
from ml.report import REPORT_FILE
from ml.splits import group_folds, training_pool

LABELS = ["glioma", "meningioma", "no_tumor", "pituitary"]
GLIOMA, MENINGIOMA, NO_TUMOR, PITUITARY, OTHER = (
    CLASSES.index(name)
    for name in ("glioma", "meningioma", "no_tumor", "pituitary", "other_tumour")
)
BRAIN, CHEST_XRAY = KIND_NAMES.index("brain_mri"), KIND_NAMES.index("chest_xray")


def _sample(i: int, split: str) -> Sample:
    return Sample(Path(f"/x/{i}.jpg"), LABELS[i % 4], "nickparvar", split, origin="figshare")


def _pool_with_copies() -> tuple[list[Sample], np.ndarray, np.ndarray]:
    samples = [_sample(i, "Training") for i in range(100)]
    samples += [Sample(Path(f"/t/{i}.jpg"), LABELS[i % 4], "sartaj", "Testing") for i in range(8)]
    groups = np.arange(len(samples))
    groups[10:14] = 10  # four near-copies of one another
    groups[20] = groups[100]  # a near-copy of a test image
    return samples, groups, training_pool(samples, groups)


def test_every_pool_image_is_held_out_exactly_once_across_the_folds():
    samples, groups, pool = _pool_with_copies()

    folds = group_folds(pool, samples, groups, seed=0, folds=5)

    held_out = np.concatenate([held for _, held in folds])
    assert sorted(held_out) == sorted(pool)
    for kept, held in folds:
        assert not set(kept) & set(held)
        assert sorted(np.concatenate([kept, held])) == sorted(pool)


def test_near_copies_stay_together_on_one_side_of_every_fold():
    samples, groups, pool = _pool_with_copies()

    for kept, held in group_folds(pool, samples, groups, seed=0, folds=5):
        copies = {10, 11, 12, 13}
        assert copies <= set(kept) or copies <= set(held)


def test_the_test_folder_and_its_near_copies_are_in_no_fold():
    samples, groups, pool = _pool_with_copies()

    assert 20 not in set(pool)
    assert not set(pool) & set(range(100, 108))


def _grouped(samples: list[Sample], groups: np.ndarray, seed: int = 0) -> GroupedSet:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (len(samples), 128, 128), dtype=np.uint8)
    prepared = PreparedSet(samples, images, [str(i) for i in range(len(samples))])
    labels = np.array([label_index(s.label) for s in samples])
    kinds = np.array([KIND_NAMES.index(s.kind) for s in samples])
    return GroupedSet(prepared=prepared, groups=groups, labels=labels, kinds=kinds)


def test_a_folds_plan_trains_calibrates_and_holds_out_disjoint_parts_of_the_pool_less_ct():
    samples, groups, pool = _pool_with_copies()

    ct_suspects = np.array([0, 1])  # in no part, as ml.train sets them aside

    plan = fold_plan(_grouped(samples, groups), fold=2, folds=5, seed=0, set_aside=ct_suspects)

    parts = [set(plan.train), set(plan.validation), set(plan.held_out)]
    assert set().union(*parts) == set(pool) - {0, 1}
    assert sum(map(len, parts)) == len(pool) - 2
    assert plan.test.tolist() == list(range(100, 108))


def _one_hot(rows: list[int], width: int, scale: float = 5.0) -> np.ndarray:
    return np.eye(width)[rows] * scale


def test_a_fold_is_scored_on_the_four_classes_the_five_and_the_tumour_answer():
    # glioma, meningioma, no_tumor, pituitary, other_tumour, a tumour of unknown type, and a
    # chest X-ray with no class; the model calls the pituitary tumour a meningioma.
    labels = np.array([GLIOMA, MENINGIOMA, NO_TUMOR, PITUITARY, OTHER, UNKNOWN_TYPE, NO_CLASS])
    kinds = np.array([BRAIN] * 6 + [CHEST_XRAY])
    predicted = [GLIOMA, MENINGIOMA, NO_TUMOR, MENINGIOMA, OTHER, GLIOMA, NO_TUMOR]
    logits = _one_hot(predicted, len(CLASSES))
    calibrated = _one_hot(predicted, len(CLASSES), scale=1.0)
    kind_logits = _one_hot(kinds.tolist(), len(KIND_NAMES))

    thresholds = FindingThresholds(0.5, 0.5)
    figures = fold_figures(labels, kinds, logits, kind_logits, calibrated, thresholds)

    assert figures["four_classes"] == 4 and figures["typed"] == 5
    assert figures["accuracy_four_classes"] == pytest.approx(0.75)
    # F1: glioma 1, meningioma 2/3, no_tumor 1, pituitary 0.
    assert figures["macro_f1_four_classes"] == pytest.approx((1 + 2 / 3 + 1 + 0) / 4)
    assert figures["macro_f1_five_classes"] == pytest.approx((1 + 2 / 3 + 1 + 0 + 1) / 5)
    assert figures["ece_four_classes_after_calibration"] == pytest.approx(0.25)
    # Every tumour, typed or not, is above the threshold; the normal below it.
    assert figures["tumours"] == 5 and figures["tumour_sensitivity"] == 1.0
    assert figures["normals"] == 1 and figures["specificity"] == 1.0
    assert figures["confident_miss_rate"] == 0.0
    assert figures["kind_accuracy"] == 1.0


def test_a_fold_scores_the_label_the_api_answers_not_the_most_probable_class():
    # A tumour and a normal, both most probably no_tumor (0.6) but with tumour probabilities
    # 0.4 and 0.1: a label threshold of 0.3 labels the first a glioma, the second no_tumor.
    labels = np.array([GLIOMA, NO_TUMOR])
    calibrated = np.array([[0.4, 0, 0.6, 0, 0], [0.1, 0, 0.9, 0, 0]])
    kinds = np.array([BRAIN, BRAIN])
    thresholds = FindingThresholds(0.05, 0.8, label_no_tumor_below=0.3)
    figures = fold_figures(
        labels,
        kinds,
        np.log(calibrated + 1e-6),
        _one_hot([BRAIN] * 2, len(KIND_NAMES)),
        calibrated,
        thresholds,
    )
    assert figures["accuracy_four_classes"] == 1.0
    assert figures["tumour_sensitivity"] == 1.0 and figures["specificity"] == 1.0


def _fold(k: int, macro_f1: float, ece: float, config: dict | None = None) -> dict:
    figures = {name: 0.9 for name in ("accuracy_four_classes", "macro_f1_five_classes")}
    figures.update(
        macro_f1_four_classes=macro_f1,
        ece_four_classes_before_calibration=2 * ece,
        ece_four_classes_after_calibration=ece,
        tumour_sensitivity=0.97,
        specificity=None,  # a fold without normals says nothing here
        confident_miss_rate=0.01,
        kind_accuracy=0.99,
    )
    return {
        "fold": k,
        "folds": 5,
        "config": config or asdict(TrainConfig()),
        "sizes": {"held_out": 100},
        "held_out": figures,
    }


def test_the_summary_gives_mean_and_sample_sd_of_each_figure():
    folds = [
        _fold(k, f1, e) for k, (f1, e) in enumerate([(0.90, 0.05), (0.94, 0.03), (0.92, 0.04)])
    ]

    summary = summarise(folds[::-1])

    assert summary["folds_run"] == "0, 1, 2" and summary["held_out_images"] == 300
    assert summary["macro_f1_four_classes_mean"] == pytest.approx(0.92)
    assert summary["macro_f1_four_classes_sd"] == pytest.approx(0.02)
    assert summary["ece_four_classes_after_calibration_mean"] == pytest.approx(0.04)
    assert summary["specificity_mean"] is None and summary["specificity_sd"] is None
    assert summary["macro_f1_four_classes_per_fold"] == "0.900, 0.940, 0.920"


def _model_dir(tmp_path: Path) -> Path:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    card = {
        **base_card(image_size=32),
        "name": "brain-tumor-cnn",
        "version": "9.9.9",
        "config": {**asdict(TrainConfig()), "version": "9.9.9"},
    }
    write_card(model_dir, card)
    return model_dir


def test_the_folds_of_a_models_recipe_go_into_its_card_and_report(tmp_path: Path):
    model_dir = _model_dir(tmp_path)
    folds = [_fold(k, 0.95, 0.02) for k in range(5)]

    write_to_card(model_dir, folds, tmp_path / "folds")

    cv = read_card(model_dir)["evaluation"]["cross_validation"]
    assert cv["macro_f1_four_classes_mean"] == pytest.approx(0.95)
    assert cv["command"].endswith(f"--model {model_dir.as_posix()} --fold K")
    assert "## Cross-validation" in (model_dir / REPORT_FILE).read_text()


def test_folds_of_a_shortened_schedule_go_into_the_card_which_says_how_many_epochs(
    tmp_path: Path,
):
    model_dir = _model_dir(tmp_path)
    shorter = {**asdict(TrainConfig()), "epochs": 3}
    write_to_card(model_dir, [_fold(k, 0.9, 0.02, shorter) for k in range(2)], tmp_path / "f")
    assert read_card(model_dir)["evaluation"]["cross_validation"]["epochs_per_fold"] == [3]


def test_folds_of_another_recipe_are_kept_out_of_a_models_card(tmp_path: Path):
    model_dir = _model_dir(tmp_path)
    before = (model_dir / METADATA_FILE).read_text()
    other = {**asdict(TrainConfig()), "augmentation": "scanner"}

    with pytest.raises(SystemExit, match="another recipe"):
        write_to_card(model_dir, [_fold(0, 0.95, 0.02, other)], tmp_path / "folds")

    assert (model_dir / METADATA_FILE).read_text() == before


def test_one_fold_trains_the_recipe_and_scores_its_held_out_images(tmp_path: Path, monkeypatch):
    """A real training run, one epoch on a few made-up images of every label and kind."""
    labels = [*LABELS, "other_tumour", "tumour"]
    samples = [
        Sample(Path(f"/x/{i}.png"), labels[i % 6], "feltrin", "", origin="feltrin")
        for i in range(60)
    ]
    samples += [
        Sample(Path(f"/o/{i}.png"), None, "other", "", kind="chest_xray", origin="o")
        for i in range(12)
    ]
    samples += [Sample(Path(f"/t/{i}.png"), LABELS[i % 4], "sartaj", "Testing") for i in range(4)]
    data = _grouped(samples, np.arange(len(samples)))
    monkeypatch.setattr("ml.crossval.prepare_grouped", lambda *_: data)
    no_ct = np.zeros(len(samples))
    monkeypatch.setattr("ml.crossval.cached_ct_probability", lambda *_: no_ct)
    # The recipe's own width: on an AVX-512 Xeon, oneDNN crashed (segfault) while Keras
    # trained narrower networks of 4 or 8 channels (as in tensorflow/tensorflow#57528).
    config = TrainConfig(epochs=1, batch_size=16)

    result = run_fold(tmp_path, tmp_path, fold=0, folds=3, config=config)

    json.dumps(result)  # a fold file
    assert result["epochs_run"] == 1
    held_out = result["held_out"]
    assert result["sizes"]["held_out"] == held_out["images"]
    assert sum(result["held_out_origins"].values()) == held_out["images"]
    assert held_out["tumours"] > 0 and held_out["normals"] > 0
    assert 0.0 <= held_out["macro_f1_four_classes"] <= 1.0
    assert 0.0 <= held_out["tumour_sensitivity"] <= 1.0
    assert result["calibration"]["temperature"] > 0
