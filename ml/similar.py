"""Similar past cases: cosine k-nearest neighbours over the model's embeddings.

Brute force with one matrix-vector product: at 100,000 embeddings of 128 floats that is
51 MB and a few milliseconds (bench figure in the model's evaluation report), exact, and
nothing to rebuild when records come and go.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

# Cosine similarity at or above which two images count as near-duplicates: the same
# slice re-encoded, resized or re-windowed (measured by ml.trust_eval on known copies).
NEAR_DUPLICATE_SIMILARITY = 0.995


def embedding_to_bytes(embedding) -> bytes:
    return np.asarray(embedding, dtype=np.float32).tobytes()


def embedding_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.float32)


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class Neighbour:
    id: int
    similarity: float


class EmbeddingIndex:
    """Unit-length embeddings keyed by record id; safe to add to and search from threads."""

    def __init__(self, dim: int, capacity: int = 1024):
        self.dim = dim
        self._vectors = np.zeros((capacity, dim), dtype=np.float32)
        self._ids = np.zeros(capacity, dtype=np.int64)
        self._size = 0
        self._known: set[int] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._size

    def __contains__(self, id_: int) -> bool:
        return id_ in self._known

    @property
    def max_id(self) -> int:
        """The highest id added so far (0 when empty): new records have larger ids."""
        with self._lock:
            return int(self._ids[: self._size].max()) if self._size else 0

    def add(self, ids, vectors) -> None:
        """Add embeddings; an id already present is kept as it was."""
        ids = np.asarray(ids, dtype=np.int64)
        vectors = normalise(vectors)
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"Expected {len(ids)} embeddings of {self.dim} values.")
        with self._lock:
            new = np.array([i not in self._known for i in ids.tolist()], dtype=bool)
            ids, vectors = ids[new], vectors[new]
            self._known.update(ids.tolist())
            self._grow_to(self._size + len(ids))
            self._vectors[self._size : self._size + len(ids)] = vectors
            self._ids[self._size : self._size + len(ids)] = ids
            self._size += len(ids)

    def search(self, query, k: int) -> list[Neighbour]:
        """The k most similar embeddings, most similar first."""
        query = normalise(query)[0]
        with self._lock:
            similarities = self._vectors[: self._size] @ query
            ids = self._ids[: self._size]
        k = min(k, len(similarities))
        if k <= 0:
            return []
        top = np.argpartition(-similarities, k - 1)[:k]
        top = top[np.argsort(-similarities[top], kind="stable")]
        return [Neighbour(int(ids[i]), float(similarities[i])) for i in top]

    def _grow_to(self, size: int) -> None:
        if size <= len(self._ids):
            return
        capacity = max(size, 2 * len(self._ids))
        vectors = np.zeros((capacity, self.dim), dtype=np.float32)
        vectors[: self._size] = self._vectors[: self._size]
        ids = np.zeros(capacity, dtype=np.int64)
        ids[: self._size] = self._ids[: self._size]
        self._vectors, self._ids = vectors, ids


def precision_at_k(
    index_vectors: np.ndarray,
    index_labels: np.ndarray,
    queries: np.ndarray,
    query_labels: np.ndarray,
    k: int = 5,
) -> np.ndarray:
    """For each query, the share of its k nearest index entries with the query's label."""
    similarities = normalise(queries) @ normalise(index_vectors).T
    top = np.argpartition(-similarities, k - 1, axis=1)[:, :k]
    return (index_labels[top] == query_labels[:, np.newaxis]).mean(axis=1)
