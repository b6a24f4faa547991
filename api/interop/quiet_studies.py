"""Studies that arrive one instance at a time, and when each is complete.

DIMSE has no "end of study" message: a modality or PACS sends instances over one or several
associations, and nothing says the last has come. A study is taken as complete once a quiet
period passes without a new instance of it, the rule PACS routers use (Orthanc's
`StableAge`). Safe to use from the listener's association threads and the completion thread.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
# How often the completion thread looks, as a share of the quiet period (and at most 1 s).
CHECKS_PER_QUIET_PERIOD = 4
MAX_CHECK_INTERVAL_S = 1.0
# How long stopping waits for a completion in progress (a send to a slow node) to end.
STOP_WAIT_S = 10.0


@dataclass
class CompleteStudy(Generic[Item]):
    study_uid: str
    items: list[Item]
    # Earlier tries to handle it that failed (see QuietStudies.retry).
    attempts: int = 0


@dataclass
class _Pending(Generic[Item]):
    last_arrival: float
    # By instance: an instance sent twice is handled once.
    items: dict[str, Item] = field(default_factory=dict)
    attempts: int = 0


class QuietStudies(Generic[Item]):
    def __init__(self, quiet_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.quiet_seconds = quiet_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending[Item]] = {}

    def add(self, study_uid: str, instance_uid: str, item: Item) -> None:
        """An instance of the study arrived: the study's quiet period starts again."""
        with self._lock:
            pending = self._pending.setdefault(study_uid, _Pending(self._clock()))
            pending.last_arrival = self._clock()
            pending.items[instance_uid] = item

    def retry(self, study: CompleteStudy[Item], instance_uid: Callable[[Item], str]) -> None:
        """Handle the study again after another quiet period, with whatever arrived since."""
        with self._lock:
            pending = self._pending.setdefault(study.study_uid, _Pending(self._clock()))
            pending.last_arrival = self._clock()
            pending.attempts = max(pending.attempts, study.attempts + 1)
            for item in study.items:
                pending.items.setdefault(instance_uid(item), item)

    def take_complete(self) -> list[CompleteStudy[Item]]:
        """The studies quiet for the whole period, each removed from those pending."""
        now = self._clock()
        with self._lock:
            done = [
                uid
                for uid, pending in self._pending.items()
                if now - pending.last_arrival >= self.quiet_seconds
            ]
            taken = [(uid, self._pending.pop(uid)) for uid in done]
        return [CompleteStudy(uid, list(p.items.values()), p.attempts) for uid, p in taken]

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)


class CompletionThread(Generic[Item]):
    """Hands each study to `on_complete` once it is quiet; one study at a time, in order."""

    def __init__(
        self,
        studies: QuietStudies[Item],
        on_complete: Callable[[CompleteStudy[Item]], None],
    ):
        self._studies = studies
        self._on_complete = on_complete
        self._stopping = threading.Event()
        # A daemon: a send to a node that hangs must not keep a stopping server alive past
        # STOP_WAIT_S (that study's results are not sent; its records are kept).
        self._thread = threading.Thread(
            target=self._run, name="dicom-study-completion", daemon=True
        )
        self._interval = min(studies.quiet_seconds / CHECKS_PER_QUIET_PERIOD, MAX_CHECK_INTERVAL_S)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(STOP_WAIT_S)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            for study in self._studies.take_complete():
                self._complete(study)

    def _complete(self, study: CompleteStudy[Item]) -> None:
        try:
            self._on_complete(study)
        except Exception as error:  # the thread must outlive any one study
            # The type only: a message about a DICOM file may quote its values.
            logger.error("Handling a completed study failed: %s", type(error).__name__)
