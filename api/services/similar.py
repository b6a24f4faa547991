"""Similar past cases: the index of stored embeddings, and the neighbours a reader may see."""

import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.models import Record, ReviewStatus
from api.security import Actor
from api.services.ingest import classify, decode_upload
from api.services.records import can_see, read_image_or_404
from api.storage import BlobStore
from ml.decode import decode_image
from ml.inference import Classifier, Prediction
from ml.similar import (
    NEAR_DUPLICATE_SIMILARITY,
    EmbeddingIndex,
    Neighbour,
    embedding_from_bytes,
)

# Candidates fetched per wanted neighbour: some are filtered out (rejected, not visible).
OVERFETCH = 10
# A reviewed case this much less similar still ranks above an unreviewed one.
REVIEWED_BONUS = 0.02
# Records commit slightly out of id order; re-reading this many ids back catches them.
REFRESH_OVERLAP = 1000


class SimilarCaseIndex:
    """The embeddings of the stored records that the serving weights made, by record id.

    Built at start-up from the database; each search first adds the records stored since,
    so it never needs a rebuild. Safe to refresh and search from several threads.
    """

    def __init__(self, same_weights: frozenset[str]) -> None:
        self._same_weights = same_weights
        # Made with the first embedding, whose length is the model's embedding size.
        self._index: EmbeddingIndex | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._index) if self._index is not None else 0

    def refresh(self, session: Session) -> None:
        """Add the records stored since the last refresh."""
        index = self._index
        known_max_id = index.max_id if index is not None else 0
        rows = session.exec(
            select(Record.id, Record.embedding).where(
                col(Record.id) > known_max_id - REFRESH_OVERLAP,
                col(Record.model_version).in_(self._same_weights),
                col(Record.embedding).is_not(None),
            )
        ).all()
        fresh = [(i, e) for i, e in rows if index is None or i not in index]
        if fresh:
            vectors = np.stack([embedding_from_bytes(e) for _, e in fresh])
            self._index_for(vectors.shape[1]).add([i for i, _ in fresh], vectors)

    def search(self, embedding: np.ndarray, k: int) -> list[Neighbour]:
        index = self._index
        return index.search(embedding, k) if index is not None else []

    def _index_for(self, dim: int) -> EmbeddingIndex:
        with self._lock:
            if self._index is None:
                self._index = EmbeddingIndex(dim)
            return self._index


def build_similar_index(engine: Engine, same_weights: frozenset[str]) -> SimilarCaseIndex:
    """The index of every stored embedding the serving weights made, read once at start-up."""
    index = SimilarCaseIndex(same_weights)
    with Session(engine) as session:
        index.refresh(session)
    return index


@dataclass(frozen=True)
class SimilarRecord:
    record: Record
    similarity: float
    near_duplicate: bool
    reviewed: bool


def similar_records(
    session: Session,
    index: SimilarCaseIndex,
    actor: Actor,
    embedding: np.ndarray,
    k: int,
    query: Record | None,
) -> list[SimilarRecord]:
    """The `k` records most similar to `embedding` that `actor` may see and that have a final
    label, reviewed ones preferred; `query` (the record asked about, if any) is left out."""
    index.refresh(session)
    neighbours = index.search(embedding, k * OVERFETCH + 1)
    records = _records_by_id(session, [n.id for n in neighbours])
    cases = []
    for neighbour in neighbours:
        record = records.get(neighbour.id)
        if record is None or not _usable(record, actor, query):
            continue
        near = neighbour.similarity >= NEAR_DUPLICATE_SIMILARITY or (
            query is not None and record.image_sha256 == query.image_sha256
        )
        cases.append(
            SimilarRecord(
                record=record,
                similarity=neighbour.similarity,
                near_duplicate=near,
                reviewed=record.review_status in (ReviewStatus.CONFIRMED, ReviewStatus.CORRECTED),
            )
        )
    cases.sort(key=lambda case: case.similarity + REVIEWED_BONUS * case.reviewed, reverse=True)
    return spread_out(cases)[:k]


def spread_out(cases: list[SimilarRecord]) -> list[SimilarRecord]:
    """Independent evidence first: of cases with the same image (SHA-256) or near-identical
    embeddings, only the first (best ranked) is kept, and near-duplicates of the query
    itself follow every other case, so copies of one image never fill the top slots."""
    kept: list[SimilarRecord] = []
    seen_images: set[str] = set()
    kept_vectors: list[np.ndarray] = []
    for case in cases:
        if case.record.image_sha256 in seen_images:
            continue
        vector = _unit(case.record.embedding)
        if vector is not None and any(
            float(vector @ other) >= NEAR_DUPLICATE_SIMILARITY for other in kept_vectors
        ):
            continue
        seen_images.add(case.record.image_sha256)
        if vector is not None:
            kept_vectors.append(vector)
        kept.append(case)
    return [c for c in kept if not c.near_duplicate] + [c for c in kept if c.near_duplicate]


def _unit(embedding: bytes | None) -> np.ndarray | None:
    if embedding is None:
        return None
    vector = embedding_from_bytes(embedding).astype(np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None


def record_embedding(
    record: Record, classifier: Classifier, blob_store: BlobStore, max_pixels: int
) -> np.ndarray:
    """The stored embedding when these weights made it; else computed again from the image."""
    if record.embedding is not None and record.model_version in classifier.same_weights:
        return embedding_from_bytes(record.embedding)
    pixels = decode_image(read_image_or_404(blob_store, record), max_pixels=max_pixels).pixels
    return _embedding(classify(classifier, pixels))


def upload_embedding(classifier: Classifier, data: bytes, max_pixels: int) -> np.ndarray:
    """The embedding of an uploaded image, which is not stored."""
    pixels = decode_upload(data, max_pixels).pixels
    return _embedding(classify(classifier, pixels))


def _embedding(prediction: Prediction) -> np.ndarray:
    return np.asarray(prediction.embedding, dtype=np.float32)


def _usable(record: Record, actor: Actor, query: Record | None) -> bool:
    # A case without a final label (rejected, or out of distribution) teaches nothing.
    if query is not None and record.id == query.id:
        return False
    return can_see(actor, record) and record.final_label is not None


def _records_by_id(session: Session, ids: list[int]) -> dict[int, Record]:
    if not ids:
        return {}
    rows = session.exec(select(Record).where(col(Record.id).in_(ids)))
    return {record.id: record for record in rows}
