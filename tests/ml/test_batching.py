"""Batched inference: one model call for many images, with the same answers as one by one."""

import threading
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from api.batching import BatcherClosedError, BatchQueueFullError, DynamicBatcher
from api.settings import Settings
from ml.decode import decode_image
from ml.inference import Classifier, Prediction

SARTAJ_TESTING = Path("brain-tumor-mri-sartaj", "Testing")
COMMITTED_MODEL = Settings(_env_file=None).model_dir


@pytest.fixture(scope="module")
def tiny_classifier(tiny_model_dir: Path) -> Classifier:
    return Classifier.load(tiny_model_dir)


@pytest.fixture(scope="module")
def slices_of_different_sizes(dataset_dir: Path) -> list[np.ndarray]:
    """Real slices, the first of each distinct size, so no two share a shape."""
    by_shape: dict[tuple[int, ...], np.ndarray] = {}
    for path in sorted((dataset_dir / SARTAJ_TESTING).rglob("*.jpg")):
        pixels = decode_image(path.read_bytes()).pixels
        by_shape.setdefault(pixels.shape, pixels)
        if len(by_shape) == 12:
            break
    return list(by_shape.values())


class CallRecorder:
    """The real classifier, remembering how many images each model call carried."""

    def __init__(self, classifier: Classifier, gate: threading.Event | None = None) -> None:
        self.classifier = classifier
        self.batch_sizes: list[int] = []
        self.entered = threading.Event()
        self.gate = gate

    def predict_batch(self, images: list[np.ndarray]) -> list[Prediction]:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait()
        self.batch_sizes.append(len(images))
        return self.classifier.predict_batch(images)


def assert_same_predictions(batched: list[Prediction], single: list[Prediction]) -> None:
    assert [p.label for p in batched] == [p.label for p in single]
    for a, b in zip(batched, single, strict=True):
        np.testing.assert_allclose(
            list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-5
        )
        np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-5)


def test_a_mixed_size_batch_equals_classifying_each_image_alone(
    tiny_classifier: Classifier, slices_of_different_sizes: list[np.ndarray]
) -> None:
    single = [tiny_classifier.predict(pixels) for pixels in slices_of_different_sizes]
    batched = tiny_classifier.predict_batch(slices_of_different_sizes)
    assert_same_predictions(batched, single)


@pytest.mark.slow
def test_the_committed_model_batches_mixed_sizes_with_the_same_answers_as_one_by_one(
    slices_of_different_sizes: list[np.ndarray],
) -> None:
    classifier = Classifier.load(COMMITTED_MODEL)
    images = slices_of_different_sizes + slices_of_different_sizes[:3]
    single = [classifier.predict(pixels) for pixels in images]
    assert_same_predictions(classifier.predict_batch(images), single)


def test_an_empty_batch_gives_no_predictions(tiny_classifier: Classifier) -> None:
    assert tiny_classifier.predict_batch([]) == []


def test_concurrent_requests_share_model_calls_and_each_gets_its_own_answer(
    tiny_classifier: Classifier, slices_of_different_sizes: list[np.ndarray]
) -> None:
    gate = threading.Event()
    recorder = CallRecorder(tiny_classifier, gate)
    batcher = DynamicBatcher(recorder, max_batch_size=32, max_wait_ms=0, max_queue=64)
    try:
        # The first image holds the model while the rest queue behind it.
        first = batcher.submit(slices_of_different_sizes[0])
        recorder.entered.wait(timeout=10)
        rest = [batcher.submit(pixels) for pixels in slices_of_different_sizes[1:]]
        gate.set()
        answers = [first.result(timeout=30)] + [future.result(timeout=30) for future in rest]
    finally:
        batcher.close()
    expected = [tiny_classifier.predict(pixels) for pixels in slices_of_different_sizes]
    assert_same_predictions(answers, expected)
    assert recorder.batch_sizes == [1, len(slices_of_different_sizes) - 1]


def test_a_batch_never_exceeds_the_maximum_size(
    tiny_classifier: Classifier, slices_of_different_sizes: list[np.ndarray]
) -> None:
    gate = threading.Event()
    recorder = CallRecorder(tiny_classifier, gate)
    batcher = DynamicBatcher(recorder, max_batch_size=4, max_wait_ms=0, max_queue=64)
    try:
        first = batcher.submit(slices_of_different_sizes[0])
        recorder.entered.wait(timeout=10)
        rest = [batcher.submit(pixels) for pixels in slices_of_different_sizes[1:11]]
        gate.set()
        for future in [first, *rest]:
            future.result(timeout=30)
    finally:
        batcher.close()
    assert recorder.batch_sizes == [1, 4, 4, 2]


def test_a_full_queue_refuses_at_once_and_the_queued_images_still_get_answers(
    tiny_classifier: Classifier, slices_of_different_sizes: list[np.ndarray]
) -> None:
    gate = threading.Event()
    recorder = CallRecorder(tiny_classifier, gate)
    batcher = DynamicBatcher(recorder, max_batch_size=1, max_wait_ms=0, max_queue=2)
    image = slices_of_different_sizes[0]
    try:
        running = batcher.submit(image)
        recorder.entered.wait(timeout=10)
        queued = [batcher.submit(image), batcher.submit(image)]
        with pytest.raises(BatchQueueFullError, match="2 images are already waiting"):
            batcher.submit(image)
        assert batcher.queued == 2
        gate.set()
        answers = [future.result(timeout=30) for future in [running, *queued]]
    finally:
        batcher.close()
    assert {answer.label for answer in answers} == {tiny_classifier.predict(image).label}


def test_an_image_the_model_refuses_fails_alone_and_the_rest_of_its_batch_is_classified(
    tiny_classifier: Classifier, slices_of_different_sizes: list[np.ndarray]
) -> None:
    gate = threading.Event()
    recorder = CallRecorder(tiny_classifier, gate)
    batcher = DynamicBatcher(recorder, max_batch_size=8, max_wait_ms=0, max_queue=8)
    good = slices_of_different_sizes[:2]
    try:
        holding = batcher.submit(good[0])
        recorder.entered.wait(timeout=10)
        before = batcher.submit(good[0])
        not_a_slice = batcher.submit(np.zeros((0, 0, 0), np.uint8))  # 3-D: the model refuses
        after = batcher.submit(good[1])
        gate.set()
        with pytest.raises(tf.errors.InvalidArgumentError):
            not_a_slice.result(timeout=30)
        answers = [future.result(timeout=30) for future in [holding, before, after]]
    finally:
        batcher.close()
    expected = [tiny_classifier.predict(pixels) for pixels in [good[0], good[0], good[1]]]
    assert_same_predictions(answers, expected)


def test_a_closed_batcher_refuses_new_images(tiny_classifier: Classifier) -> None:
    batcher = DynamicBatcher(tiny_classifier, max_batch_size=8, max_wait_ms=1, max_queue=8)
    batcher.close()
    with pytest.raises(BatcherClosedError):
        batcher.predict(np.zeros((16, 16), np.uint8))


def test_the_batcher_answers_for_the_classifier_it_wraps(tiny_classifier: Classifier) -> None:
    batcher = DynamicBatcher(tiny_classifier, max_batch_size=8, max_wait_ms=1, max_queue=8)
    try:
        assert batcher.version == tiny_classifier.version
        assert batcher.classes == tiny_classifier.classes
    finally:
        batcher.close()


def test_a_lone_image_runs_at_once_when_no_other_request_is_on_its_way(
    tiny_classifier: Classifier,
) -> None:
    recorder = CallRecorder(tiny_classifier)
    batcher = DynamicBatcher(
        recorder, max_batch_size=32, max_wait_ms=60_000, max_queue=8, more_expected=lambda: False
    )
    try:
        # Were it to wait for company, the answer would take a minute.
        batcher.submit(np.full((64, 64), 90, np.uint8)).result(timeout=10)
    finally:
        batcher.close()
    assert recorder.batch_sizes == [1]


def test_an_image_waits_for_company_while_other_requests_are_on_their_way(
    tiny_classifier: Classifier,
) -> None:
    recorder = CallRecorder(tiny_classifier)
    batcher = DynamicBatcher(
        recorder, max_batch_size=2, max_wait_ms=60_000, max_queue=8, more_expected=lambda: True
    )
    try:
        first = batcher.submit(np.full((64, 64), 90, np.uint8))
        second = batcher.submit(np.full((48, 80), 120, np.uint8))
        first.result(timeout=30), second.result(timeout=30)
    finally:
        batcher.close()
    assert recorder.batch_sizes == [2]
