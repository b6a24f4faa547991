"""The shortcut the datasets offer: which images look like the figshare tumour set.

Almost every tumour image in the training pool is a 512x512 slice of the figshare set's
look (contrast-enhanced T1, mostly coronal and sagittal), and almost every no-tumour image
comes from other sources (axial T2, FLAIR and T1 of every size). A network can score well
on such data by learning the look instead of the tumour. The image's stored size is a
cheap marker of that look; the probe is the pool's images whose look contradicts their
label, which a model that learned the look calls wrong.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from ml.datasets import Sample
from ml.labels import CLASSES, NO_TUMOR

FIGSHARE_SIZE = (512, 512)


def stored_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header; the pixels are not decoded."""
    with Image.open(path) as image:
        return image.size


def figshare_sized(samples: list[Sample]) -> np.ndarray:
    return np.array([stored_size(s.path) == FIGSHARE_SIZE for s in samples])


def contradicts_look(sample: Sample, figshare: bool) -> bool:
    """A tumour without the figshare look, or a no-tumour image with it."""
    return figshare == (sample.label == NO_TUMOR)


def shortcut_probe(samples: list[Sample], indices: np.ndarray) -> np.ndarray:
    """The images among `indices` whose look contradicts their label."""
    sized = figshare_sized([samples[i] for i in indices])
    chosen = [i for i, fig in zip(indices, sized, strict=True) if contradicts_look(samples[i], fig)]
    return np.array(chosen, dtype=np.int64)


def look_counts(samples: list[Sample], indices: np.ndarray) -> dict[str, dict[str, int]]:
    """Images per class and look: {class: {"figshare_512": n, "other": n}}."""
    sized = figshare_sized([samples[i] for i in indices])
    counts = Counter(
        (samples[i].label, "figshare_512" if fig else "other")
        for i, fig in zip(indices, sized, strict=True)
    )
    looks = ("figshare_512", "other")
    labels = sorted({label for label, _ in counts})
    return {label: {look: counts[(label, look)] for look in looks} for label in labels}


def probe_halves(
    probe: np.ndarray, samples: list[Sample], groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The probe in two halves that keep near-duplicate groups whole: each class's groups,
    in order of first appearance, go to the halves in turn."""
    halves: tuple[list[int], list[int]] = ([], [])
    turn: Counter = Counter()
    assigned: dict[int, int] = {}
    for i in probe:
        group = int(groups[i])
        if group not in assigned:
            label = samples[i].label
            assigned[group] = turn[label] % 2
            turn[label] += 1
        halves[assigned[group]].append(int(i))
    return np.array(halves[0], dtype=np.int64), np.array(halves[1], dtype=np.int64)


def look_log_odds(samples: list[Sample], labels: np.ndarray, train_idx: np.ndarray) -> np.ndarray:
    """What the look alone says about the class, for every image: log p(class | look) −
    log p(class), counted over train_idx with one added to every count; float32 [N, classes].

    Added to the network's logits in training ("product of experts", Clark et al., 2019),
    it explains what the look predicts, so that the network is not rewarded for learning the
    look and learns what is left: the tumour. Serving uses the network's logits alone.
    """
    looks = figshare_sized(samples).astype(np.int64)
    counts = np.ones((2, len(CLASSES)))
    np.add.at(counts, (looks[train_idx], labels[train_idx]), 1)
    given_look = counts / counts.sum(axis=1, keepdims=True)
    overall = counts.sum(axis=0) / counts.sum()
    return (np.log(given_look) - np.log(overall))[looks].astype(np.float32)
