"""Similar-case search: exact cosine neighbours, ids kept once, and precision@k."""

import threading

import numpy as np

from ml.similar import (
    EmbeddingIndex,
    embedding_from_bytes,
    embedding_to_bytes,
    normalise,
    precision_at_k,
)


def test_the_search_returns_the_exact_cosine_neighbours_most_similar_first():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 16))
    index = EmbeddingIndex(16, capacity=8)  # grows as it goes
    index.add(np.arange(100, 600), vectors)
    query = rng.normal(size=16)

    found = index.search(query, 7)

    expected = np.argsort(-(normalise(vectors) @ normalise(query)[0]))[:7] + 100
    assert [n.id for n in found] == expected.tolist()
    similarities = [n.similarity for n in found]
    assert similarities == sorted(similarities, reverse=True)


def test_scale_does_not_matter_only_direction():
    index = EmbeddingIndex(3)
    index.add([1, 2], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

    best = index.search([50.0, 1.0, 0.0], 1)[0]

    assert best.id == 1 and best.similarity > 0.99


def test_asking_for_more_than_is_stored_returns_everything_and_an_empty_index_nothing():
    index = EmbeddingIndex(4)
    assert index.search(np.ones(4), 3) == []
    index.add([5, 6], np.eye(2, 4))
    assert sorted(n.id for n in index.search(np.ones(4), 10)) == [5, 6]


def test_an_id_added_twice_is_kept_once():
    index = EmbeddingIndex(2)
    index.add([1], [[1.0, 0.0]])
    index.add([1, 2], [[0.0, 1.0], [1.0, 1.0]])

    assert len(index) == 2 and 1 in index and index.max_id == 2
    assert index.search([1.0, 0.0], 1)[0].similarity > 0.999, "the first vector stays"


def test_concurrent_adds_lose_nothing():
    index = EmbeddingIndex(4)
    threads = [
        threading.Thread(target=index.add, args=(range(t * 100, t * 100 + 100), np.ones((100, 4))))
        for t in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(index) == 800 and index.max_id == 799


def test_precision_at_k_counts_neighbours_of_the_query_class():
    index = np.array([[1, 0], [0.9, 0.1], [0.8, 0.2], [0, 1], [0.1, 0.9]], dtype=float)
    labels = np.array([0, 0, 1, 1, 1])

    hits = precision_at_k(index, labels, np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1]), 3)

    # Query 0: two class-0 neighbours and [0.8, 0.2]; query 1: all three are class 1.
    np.testing.assert_allclose(hits, [2 / 3, 1.0])


def test_embeddings_round_trip_through_their_stored_bytes():
    embedding = np.random.default_rng(1).normal(size=128).astype(np.float32)

    stored = embedding_to_bytes(embedding)

    assert len(stored) == 128 * 4
    np.testing.assert_array_equal(embedding_from_bytes(stored), embedding)
