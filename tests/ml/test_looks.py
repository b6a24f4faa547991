"""The figshare-look shortcut: which images contradict it, from their stored size alone."""

from pathlib import Path

import cv2
import numpy as np

from ml.config import TrainConfig
from ml.datasets import Sample
from ml.labels import CLASSES
from ml.looks import look_counts, look_log_odds, probe_halves, shortcut_probe, stored_size
from ml.train import LookCorrections, sample_weights, train_and_calibrate


def _image_file(folder: Path, name: str, width: int, height: int) -> Path:
    path = folder / name
    cv2.imwrite(str(path), np.full((height, width), 90, np.uint8))
    return path


def _samples(folder: Path) -> list[Sample]:
    made = [
        ("glioma", 512, 512),  # the figshare look, a tumour: agrees with the shortcut
        ("meningioma", 300, 340),  # a tumour of another size: contradicts it
        ("no_tumor", 236, 214),  # agrees
        ("no_tumor", 512, 512),  # a no-tumour slice of the figshare size: contradicts it
        ("pituitary", 256, 256),  # contradicts
    ]
    return [
        Sample(_image_file(folder, f"{i}.jpg", width, height), label, "sartaj", "Training")
        for i, (label, width, height) in enumerate(made)
    ]


def test_the_stored_size_is_read_as_width_then_height(tmp_path):
    assert stored_size(_image_file(tmp_path, "wide.png", 300, 200)) == (300, 200)


def test_the_probe_holds_the_images_whose_look_contradicts_their_label(tmp_path):
    samples = _samples(tmp_path)

    probe = shortcut_probe(samples, np.arange(len(samples)))

    assert probe.tolist() == [1, 3, 4]


def test_the_probe_looks_only_among_the_indices_it_is_given(tmp_path):
    samples = _samples(tmp_path)

    assert shortcut_probe(samples, np.array([0, 2, 4])).tolist() == [4]


def test_looks_are_counted_per_class(tmp_path):
    samples = _samples(tmp_path)

    counts = look_counts(samples, np.arange(len(samples)))

    assert counts["no_tumor"] == {"figshare_512": 1, "other": 1}
    assert counts["glioma"] == {"figshare_512": 1, "other": 0}
    assert counts["pituitary"] == {"figshare_512": 0, "other": 1}


def _probe_samples(labels: list[str]) -> list[Sample]:
    return [
        Sample(Path(f"/p/{i}.jpg"), label, "sartaj", "Training") for i, label in enumerate(labels)
    ]


def test_the_probe_halves_keep_near_copies_together_and_share_each_class():
    samples = _probe_samples(["meningioma"] * 6 + ["pituitary"] * 2)
    groups = np.array([0, 0, 1, 2, 3, 3, 4, 5])  # images 0-1 and 4-5 are near-copies
    probe = np.arange(len(samples))

    first, second = probe_halves(probe, samples, groups)

    assert first.tolist() == [0, 1, 3, 6] and second.tolist() == [2, 4, 5, 7]


def test_upweighted_images_weigh_the_look_weight_times_their_class_weight():
    labels = np.array([0, 0, 1, 1, 1])
    class_weight = {0: 1.5, 1: 1.0}
    config = TrainConfig(look_weight=10.0)

    weights = sample_weights(labels, np.array([0, 1, 2, 4]), class_weight, np.array([1, 4]), config)

    assert weights.tolist() == [1.5, 15.0, 1.0, 10.0]


def test_a_run_that_weighs_some_images_more_trains_and_is_calibrated():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (48, 128, 128), dtype=np.uint8)
    labels = np.arange(48) % 4
    indices = np.arange(48)
    config = TrainConfig(epochs=1, batch_size=16, patience=0, look_weight=10.0)

    corrections = LookCorrections(upweighted=indices[:4])

    trained = train_and_calibrate(images, labels, indices[:32], indices[32:], config, corrections)

    assert len(trained.history["loss"]) == 1 and trained.temperature > 0


def test_the_look_prior_favours_the_classes_each_look_holds_in_training(tmp_path):
    samples = _samples(tmp_path)  # figshare-sized: images 0 (glioma) and 3 (no_tumor)
    labels = np.array([CLASSES.index(s.label) for s in samples])

    prior = look_log_odds(samples, labels, np.arange(len(samples)))

    glioma, meningioma = CLASSES.index("glioma"), CLASSES.index("meningioma")
    assert prior.shape == (len(samples), len(CLASSES))
    assert prior[0, glioma] > 0 > prior[1, glioma]  # only the figshare look held a glioma
    assert prior[1, meningioma] > 0 > prior[0, meningioma]  # only the other one a meningioma
    assert np.array_equal(prior[0], prior[3]) and np.array_equal(prior[1], prior[4])


def test_the_look_prior_counts_only_the_training_images(tmp_path):
    samples = _samples(tmp_path)
    labels = np.array([CLASSES.index(s.label) for s in samples])

    everything = look_log_odds(samples, labels, np.arange(5))
    without_the_glioma = look_log_odds(samples, labels, np.arange(1, 5))

    assert not np.allclose(everything, without_the_glioma)


def test_a_run_with_a_look_prior_trains_and_calibrates_the_model_without_it():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (48, 128, 128), dtype=np.uint8)
    labels = np.arange(48) % 4
    indices = np.arange(48)
    prior = np.tile(np.array([[2.0, 0.0, -2.0, 0.0]], np.float32), (48, 1))
    config = TrainConfig(epochs=1, batch_size=16, patience=0, look_prior=1.0)

    trained = train_and_calibrate(
        images, labels, indices[:32], indices[32:], config, LookCorrections(prior=prior)
    )

    assert len(trained.history["loss"]) == 1 and trained.temperature > 0
    assert trained.model.input_shape == (None, 128, 128, 1)  # the served model takes one input
