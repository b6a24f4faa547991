"""Exact and near-duplicate detection over preprocessed images.

Two images are near-duplicates when their perceptual hashes differ in at most
PHASH_MAX_BITS bits, or their 32×32 thumbnails correlate at NEAR_CORRELATION or more.
Both thresholds were chosen by looking at pairs on either side of them: below them
sit re-encoded copies, resized copies and adjacent slices of one patient; above them,
different patients. Groups are the connected components of that relation, so a split
that keeps groups whole keeps every copy of a patient's slice on one side.
"""

from __future__ import annotations

import cv2
import imagehash
import numpy as np
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

PHASH_MAX_BITS = 6
NEAR_CORRELATION = 0.93
THUMBNAIL = 32
CHUNK = 512


def perceptual_hashes(images: np.ndarray) -> np.ndarray:
    """64-bit pHash of each image, as uint64."""
    bits = np.stack([imagehash.phash(Image.fromarray(im)).hash.flatten() for im in images])
    return np.packbits(bits, axis=1).view(">u8")[:, 0].astype(np.uint64)


def thumbnails(images: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-norm 32×32 thumbnails: their dot product is a correlation."""
    small = np.stack(
        [cv2.resize(im, (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA) for im in images]
    )
    flat = small.reshape(len(images), -1).astype(np.float32)
    flat -= flat.mean(axis=1, keepdims=True)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True) + 1e-6
    return flat


def near_duplicate_pairs(images: np.ndarray) -> np.ndarray:
    """All pairs (i, j), i < j, that are near-duplicates; shape [P, 2]."""
    hashes, thumbs = perceptual_hashes(images), thumbnails(images)
    pairs = []
    for start in range(0, len(images), CHUNK):
        stop = min(start + CHUNK, len(images))
        hamming = np.bitwise_count(hashes[start:stop, None] ^ hashes[None, :])
        correlation = thumbs[start:stop] @ thumbs.T
        near = (hamming <= PHASH_MAX_BITS) | (correlation >= NEAR_CORRELATION)
        rows, cols = np.nonzero(near)
        rows += start
        keep = rows < cols
        pairs.append(np.stack([rows[keep], cols[keep]], axis=1))
    return np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.int64)


def group_ids(count: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of the near-duplicate relation: one id per image."""
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(count, count))
    _, labels = connected_components(graph, directed=False)
    return labels
