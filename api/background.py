"""A call repeated in the background while a block runs: a job's heartbeat, a lock's renewal.

Kept apart from api.jobs, which loads TensorFlow, so that api.worker can use it before it
lets TensorFlow load."""

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)


@contextmanager
def repeated_while_running(
    action: Callable[[], object], every_s: float, what: str
) -> Iterator[None]:
    """Call `action` every `every_s` seconds in a daemon thread while the block runs. A
    failed call is logged and the next one tried: a lapse of Redis must not end the job."""
    done = threading.Event()

    def repeat() -> None:
        while not done.wait(every_s):
            try:
                action()
            except Exception:
                logger.exception("%s failed", what)

    thread = threading.Thread(target=repeat, name=what, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
