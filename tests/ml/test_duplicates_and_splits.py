"""Near-duplicate groups and leak-free splits, on images made here."""

from pathlib import Path

import cv2
import numpy as np

from ml.datasets import Sample
from ml.duplicates import group_ids, near_duplicate_pairs
from ml.splits import make_splits


def _distinct_images(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        image = np.zeros((128, 128), np.uint8)
        for _ in range(6):
            center = tuple(int(v) for v in rng.integers(10, 118, 2))
            axes = tuple(int(v) for v in rng.integers(5, 40, 2))
            cv2.ellipse(
                image,
                center,
                axes,
                int(rng.integers(0, 180)),
                0,
                360,
                int(rng.integers(60, 255)),
                -1,
            )
        images.append(image)
    return images


def _reencoded(image: np.ndarray) -> np.ndarray:
    """A JPEG-recompressed, slightly resized copy: what the public datasets are full of."""
    small = cv2.resize(image, (120, 120), interpolation=cv2.INTER_AREA)
    _, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return cv2.resize(cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE), (128, 128))


def test_a_recompressed_resized_copy_is_grouped_with_its_original():
    images = _distinct_images(20)
    images.append(_reencoded(images[4]))
    groups = group_ids(len(images), near_duplicate_pairs(np.stack(images)))
    assert groups[20] == groups[4]


def test_different_images_are_not_grouped():
    images = np.stack(_distinct_images(30, seed=1))
    groups = group_ids(len(images), near_duplicate_pairs(images))
    assert len(set(groups)) == 30


def _sample(i: int, label: str, split: str, source: str = "sartaj") -> Sample:
    return Sample(Path(f"/x/{i}.jpg"), label, source, split)


def test_test_images_and_their_near_copies_never_reach_training_or_validation():
    labels = ["glioma", "meningioma", "no_tumor", "pituitary"]
    samples = [_sample(i, labels[i % 4], "Training") for i in range(80)]
    samples += [_sample(80 + i, labels[i % 4], "Testing") for i in range(8)]
    groups = np.arange(len(samples))
    groups[3] = groups[80]  # a training image that is a near-copy of test image 80
    groups[5] = groups[6]  # two training copies of one another
    splits = make_splits(samples, groups, seed=0)
    trained = set(splits.train) | set(splits.validation)
    assert 3 not in trained and 3 in set(splits.excluded)
    assert not trained & set(splits.test)
    assert 80 not in set(splits.test_leak_free) and 81 in set(splits.test_leak_free)
    assert ({5, 6} <= set(splits.train)) or ({5, 6} <= set(splits.validation))
