"""The figshare-look shortcut: which images contradict it, from their stored size alone."""

from pathlib import Path

import cv2
import numpy as np

from ml.datasets import Sample
from ml.looks import look_counts, shortcut_probe, stored_size


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
