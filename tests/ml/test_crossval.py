import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ml.artifact import METADATA_FILE
from ml.cache import prepare
from ml.crossval import main as crossval_main
from ml.crossval import recipe_name, summarise
from ml.datasets import Sample, list_samples
from ml.labels import CLASSES
from ml.report import REPORT_FILE
from ml.splits import group_folds, training_pool
from ml.train import TrainConfig, train_and_calibrate
from ml.trust_eval import TRUST_HEADING

LABELS = ["glioma", "meningioma", "no_tumor", "pituitary"]
REPO_ROOT = Path(__file__).resolve().parents[2]
SERVED_MODEL = REPO_ROOT / "models" / "brain-tumor-cnn" / "0.2.1"
FOLDS_DIR = REPO_ROOT / "reports" / "crossval" / "scanner"


def _sample(i: int, split: str) -> Sample:
    return Sample(Path(f"/x/{i}.jpg"), LABELS[i % 4], "nickparvar", split)


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


def test_the_summary_gives_mean_and_sample_sd_of_each_figure():
    folds = [
        {
            "fold": k,
            "held_out": {
                stage: {"accuracy": a, "macro_f1": a - 0.01, "ece": e}
                for stage in ("before_calibration", "after_calibration")
            },
        }
        for k, (a, e) in enumerate([(0.90, 0.05), (0.94, 0.03), (0.92, 0.04)])
    ]

    summary = summarise(folds)

    assert summary["folds_run"] == [0, 1, 2]
    accuracy = summary["after_calibration"]["accuracy"]
    assert accuracy["mean"] == pytest.approx(0.92)
    assert accuracy["sd"] == pytest.approx(0.02)
    assert summary["before_calibration"]["ece"]["mean"] == pytest.approx(0.04)


def _card_copy(tmp_path: Path) -> Path:
    """The served model's card and report, without its weights."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in (METADATA_FILE, REPORT_FILE):
        shutil.copy(SERVED_MODEL / name, model_dir / name)
    return model_dir


def test_the_committed_folds_go_into_the_card_and_report_of_the_model_their_recipe_trained(
    tmp_path: Path,
):
    model_dir = _card_copy(tmp_path)
    folds = [json.loads(path.read_text()) for path in sorted(FOLDS_DIR.glob("fold-*.json"))]

    crossval_main(["--summary", "--out", str(FOLDS_DIR), "--card", str(model_dir)])

    card = json.loads((model_dir / METADATA_FILE).read_text())
    rows = card["cross_validation"]["per_fold"]
    assert [row["fold"] for row in rows] == [fold["fold"] for fold in folds]
    assert [row["macro_f1"] for row in rows] == [
        fold["held_out"]["after_calibration"]["macro_f1"] for fold in folds
    ]
    report = (model_dir / REPORT_FILE).read_text()
    assert f"| mean ± sd ({len(folds)} of 5 folds) |" in report
    # The title and the trust section, which only their own tools write, are kept.
    assert report.partition("\n")[0] == (SERVED_MODEL / REPORT_FILE).read_text().partition("\n")[0]
    assert TRUST_HEADING in report


@pytest.mark.parametrize(
    "field, value", [("augmentation", "sequence"), ("patience", 0), ("look_weight", 10.0)]
)
def test_folds_of_another_recipe_are_kept_out_of_a_models_card(tmp_path: Path, field: str, value):
    model_dir = _card_copy(tmp_path)
    card_before = (model_dir / METADATA_FILE).read_text()
    report_before = (model_dir / REPORT_FILE).read_text()
    other = json.loads(next(FOLDS_DIR.glob("fold-*.json")).read_text())
    other["config"][field] = value
    (tmp_path / "fold-0.json").write_text(json.dumps(other))

    with pytest.raises(SystemExit, match="another recipe"):
        crossval_main(["--summary", "--out", str(tmp_path), "--card", str(model_dir)])

    assert (model_dir / METADATA_FILE).read_text() == card_before
    assert (model_dir / REPORT_FILE).read_text() == report_before


def test_each_recipe_keeps_its_folds_in_its_own_folder():
    assert recipe_name(TrainConfig()) == "scanner"
    assert recipe_name(TrainConfig(patience=0)) == "scanner-no-early-stopping"
    assert recipe_name(TrainConfig(augmentation="sequence", patience=12)) == (
        "sequence-patience-12"
    )
    assert recipe_name(TrainConfig(patience=0, look_weight=10.0)) == (
        "scanner-no-early-stopping-look-weight-10"
    )


def test_folds_that_record_fields_newer_than_the_card_at_their_defaults_still_match_it(
    tmp_path: Path,
):
    model_dir = _card_copy(tmp_path)
    for path in sorted(FOLDS_DIR.glob("fold-*.json")):
        fold = json.loads(path.read_text())
        fold["config"].update(hold_out_probe=False, probe_half=-1, look_weight=1.0)
        (tmp_path / path.name).write_text(json.dumps(fold))

    crossval_main(["--summary", "--out", str(tmp_path), "--card", str(model_dir)])

    assert "cross_validation" in json.loads((model_dir / METADATA_FILE).read_text())


def test_without_early_stopping_every_epoch_runs_and_the_last_weights_are_kept():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (48, 128, 128), dtype=np.uint8)
    labels = np.arange(48) % len(CLASSES)
    indices = np.arange(48)
    # The recipe's own width: on an AVX-512 Xeon, oneDNN crashed (segfault) while Keras
    # trained narrower networks of 4 or 8 channels (as in tensorflow/tensorflow#57528).
    config = TrainConfig(epochs=3, batch_size=16, patience=0)

    trained = train_and_calibrate(images, labels, indices[:32], indices[32:], config)

    assert len(trained.history["loss"]) == 3
    validation_loss = trained.model.evaluate(
        images[32:].astype(np.float32)[..., np.newaxis] / 255.0,
        np.eye(len(CLASSES))[labels[32:]],
        verbose=0,
    )[0]
    assert validation_loss == pytest.approx(trained.history["val_loss"][-1], abs=1e-4)


@pytest.mark.dataset
def test_one_epoch_of_the_training_recipe_runs_on_real_slices_and_is_calibrated(
    dataset_dir: Path, tmp_path: Path
):
    chosen = _a_few_per_class(list_samples(dataset_dir), per_class=16)
    prepared = prepare(chosen, tmp_path / "cache")
    labels = np.array([CLASSES.index(s.label) for s in chosen])
    indices = np.arange(len(chosen))
    config = TrainConfig(epochs=1, batch_size=16)  # the recipe's width, as above

    trained = train_and_calibrate(prepared.images, labels, indices[::2], indices[1::2], config)

    assert len(trained.history["loss"]) == 1
    assert trained.temperature > 0
    after = trained.validation["after_calibration"]
    assert after["n"] == len(indices[1::2])
    assert 0.0 <= after["ece"] <= 1.0


def _a_few_per_class(samples: list[Sample], per_class: int) -> list[Sample]:
    training = [s for s in samples if s.source == "sartaj" and s.split == "Training"]
    return [s for label in CLASSES for s in [t for t in training if t.label == label][:per_class]]
