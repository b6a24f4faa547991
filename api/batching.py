"""Dynamic batching: concurrent single-image requests share one model call.

One worker thread owns the model. Callers put an image on a bounded queue and wait on a
future; the worker takes the first waiting image, gathers more until the batch is full or
the oldest has waited `max_wait_ms`, runs one `predict_batch` and resolves every future.
The model therefore runs one call at a time (two cores cannot run two usefully), and a
full queue is refused at once (`BatchQueueFullError`) instead of letting requests pile up.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml.inference import Prediction

PredictBatch = Callable[[list[np.ndarray]], list[Prediction]]


class BatchQueueFullError(RuntimeError):
    """More images are waiting for the model than the queue holds; retry shortly."""


class BatcherClosedError(RuntimeError):
    """The batcher was closed (the server is shutting down)."""


@dataclass
class _Job:
    pixels: np.ndarray
    future: Future = field(default_factory=Future)


# Put on the queue by close(): wakes the worker so it can exit.
_STOP = object()


class DynamicBatcher:
    """Classifies single images through batched model calls on one worker thread.

    `model` is anything with `predict_batch(list of images) -> list of Prediction`; other
    attributes (version, classes, metadata…) are read from it, so the batcher stands in
    for the classifier wherever one is expected.
    """

    def __init__(
        self,
        model: Any,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        more_expected: Callable[[], bool] = lambda: True,
    ) -> None:
        """`more_expected` says whether other requests are on their way to the model: when
        not (a single client), the worker runs an image at once instead of waiting for
        company that will not come."""
        if max_batch_size < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("max_batch_size and max_queue must be ≥ 1, max_wait_ms ≥ 0")
        self._model = model
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.max_queue = max_queue
        self._more_expected = more_expected
        self._jobs: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._closed = threading.Event()
        self._worker = threading.Thread(target=self._run, name="model-batcher", daemon=True)
        self._worker.start()

    def predict(self, pixels: np.ndarray) -> Prediction:
        """Blocks the calling thread (never the event loop) until its batch has run."""
        return self.submit(pixels).result()

    def submit(self, pixels: np.ndarray) -> Future:
        if self._closed.is_set():
            raise BatcherClosedError("The model is shutting down; retry on another server.")
        job = _Job(pixels)
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            raise BatchQueueFullError(
                f"{self.max_queue} images are already waiting for the model."
            ) from None
        return job.future

    @property
    def queued(self) -> int:
        """Images waiting for the model, not counting the batch it is running."""
        return self._jobs.qsize()

    def predict_batch(self, images: list[np.ndarray]) -> list[Prediction]:
        futures = [self.submit(pixels) for pixels in images]
        return [future.result() for future in futures]

    def close(self) -> None:
        """Finish the jobs already queued, then stop the worker."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._jobs.put(_STOP)  # blocks only while the queue is full, i.e. briefly
        self._worker.join()
        self._refuse_stragglers()

    def _refuse_stragglers(self) -> None:
        """Images that slipped in as the batcher closed get an error, not an endless wait."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not _STOP and job.future.set_running_or_notify_cancel():
                job.future.set_exception(BatcherClosedError("The model has shut down."))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is _STOP:
                return
            batch, stop_after = self._gather(first)
            self._run_batch(batch)
            if stop_after:
                return

    def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        """The first job plus whatever arrives before the batch is full or the wait ends."""
        deadline = time.monotonic() + (self.max_wait_s if self._more_expected() else 0.0)
        return take_waiting(self._jobs, first, self.max_batch_size, deadline, _STOP)

    def _run_batch(self, batch: list[_Job]) -> None:
        live = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if live:
            self._classify(live)

    def _classify(self, jobs: list[_Job]) -> None:
        try:
            predictions = self._model.predict_batch([job.pixels for job in jobs])
        except Exception as error:
            if len(jobs) == 1:  # the caller gets the error; the worker lives on
                jobs[0].future.set_exception(error)
                return
            # One bad image must not fail the others: retry each on its own.
            for job in jobs:
                self._classify([job])
            return
        for job, prediction in zip(jobs, predictions, strict=True):
            job.future.set_result(prediction)


def take_waiting(
    items: queue.Queue | queue.SimpleQueue, first: Any, limit: int, deadline: float, stop: object
) -> tuple[list, bool]:
    """`first` and what else `items` yields before there are `limit` of them or the
    `deadline` (time.monotonic()) passes; the flag says the `stop` marker came up."""
    taken = [first]
    while len(taken) < limit:
        try:
            # A zero timeout still takes an item that is already queued, without waiting.
            item = items.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            break
        if item is stop:
            return taken, True
        taken.append(item)
    return taken, False
