"""Decode and preprocess every dataset image once, through the same code as serving.

The arrays are cached (uint8, IMAGE_SIZE²) keyed by the files' hashes, so the audit,
training and evaluation read pixels in seconds instead of decoding thousands of JPEGs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from ml.datasets import Sample, list_samples
from ml.decode import decode_image
from ml.duplicates import group_ids, near_duplicate_pairs
from ml.labels import CLASSES, KIND_NAMES, TUMOUR_OF_UNKNOWN_TYPE
from ml.preprocess import IMAGE_SIZE, preprocess


@dataclass(frozen=True)
class PreparedSet:
    samples: list[Sample]
    images: np.ndarray  # uint8 [N, IMAGE_SIZE, IMAGE_SIZE]
    sha256: list[str]
    set_id: str = ""  # a hash of every file's hash, in order: names this set in caches


@tf.function(input_signature=[tf.TensorSpec([None, None, 1], tf.uint8)])
def _preprocess_one(image):
    return tf.cast(tf.round(preprocess(image, IMAGE_SIZE) * 255.0), tf.uint8)


def prepare(samples: list[Sample], cache_dir: Path) -> PreparedSet:
    cache_dir.mkdir(parents=True, exist_ok=True)
    digests = [hashlib.sha256(s.path.read_bytes()).hexdigest() for s in samples]
    set_id = hashlib.sha256("".join(digests).encode()).hexdigest()[:16]
    cache_file = cache_dir / f"prepared-{IMAGE_SIZE}-{set_id}.npy"
    if cache_file.exists():
        images = np.load(cache_file)
    else:
        images = np.stack([_prepare_one(s.path) for s in samples])
        np.save(cache_file, images)
    return PreparedSet(samples=samples, images=images, sha256=digests, set_id=set_id)


@dataclass(frozen=True)
class GroupedSet:
    """Every image of the datasets, prepared, with its near-duplicate group and its label."""

    prepared: PreparedSet
    groups: np.ndarray  # near-duplicate group id per image: splits keep a group whole
    labels: np.ndarray  # per image: ml.labels.CLASSES index, UNKNOWN_TYPE or NO_CLASS
    kinds: np.ndarray  # per image: ml.labels.KIND_NAMES index

    @property
    def samples(self) -> list[Sample]:
        return self.prepared.samples

    @property
    def images(self) -> np.ndarray:
        return self.prepared.images


def prepare_grouped(data_dir: Path, cache_dir: Path) -> GroupedSet:
    """What the audit, training and evaluation all start from."""
    samples = list_samples(data_dir)
    prepared = prepare(samples, cache_dir)
    groups = group_ids(len(samples), near_duplicate_pairs(prepared.images))
    labels = np.array([label_index(sample.label) for sample in samples])
    kinds = np.array([KIND_NAMES.index(sample.kind) for sample in samples])
    return GroupedSet(prepared=prepared, groups=groups, labels=labels, kinds=kinds)


# Label indices beyond the classes: a tumour of unlabelled type, and no tumour class at all
# (an image of another kind, or a lesion that is not a tumour).
UNKNOWN_TYPE = len(CLASSES)
NO_CLASS = -1


def label_index(label: str | None) -> int:
    if label is None:
        return NO_CLASS
    if label == TUMOUR_OF_UNKNOWN_TYPE:
        return UNKNOWN_TYPE
    return CLASSES.index(label)


def _prepare_one(path: Path) -> np.ndarray:
    pixels = decode_image(path.read_bytes()).pixels
    return _preprocess_one(pixels[:, :, np.newaxis]).numpy()[:, :, 0]
