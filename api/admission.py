"""Admission control for classification: a bounded number of requests in progress.

Checked when a classification request arrives, before its body is read: past the bound
the request is answered 503 with Retry-After at once, instead of joining a pile of
requests that would each wait longer than a client is willing to.
"""

from collections import Counter
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from http import HTTPStatus

from fastapi import HTTPException

# A full service drains in well under a second; one second spreads the retries out.
RETRY_AFTER_S = 1


def at_capacity(detail: str) -> HTTPException:
    return HTTPException(
        HTTPStatus.SERVICE_UNAVAILABLE,
        f"The server is at capacity: {detail} Retry after {RETRY_AFTER_S} s.",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


class Admission:
    """Counts classification requests in progress, in all and per caller; used from the
    event loop only.

    A caller is an API key and, apart, a client address: one key's burst, or many keys
    behind one address, cannot take every slot from the others."""

    def __init__(self, limit: int, per_caller: int | None = None) -> None:
        self.limit = limit
        self.per_caller = per_caller or limit
        self.in_progress = 0
        self._by_caller: Counter[Hashable] = Counter()

    @contextmanager
    def admit(self, *callers: Hashable) -> Iterator[None]:
        if self.in_progress >= self.limit:
            raise at_capacity(f"{self.limit} classification requests are in progress.")
        if any(self._by_caller[caller] >= self.per_caller for caller in callers):
            raise at_capacity(
                f"this caller already has {self.per_caller} classification requests in "
                "progress, the most one key or address may have."
            )
        self.in_progress += 1
        self._by_caller.update(callers)
        try:
            yield
        finally:
            self.in_progress -= 1
            self._by_caller.subtract(callers)
            for caller in callers:
                if self._by_caller[caller] <= 0:
                    del self._by_caller[caller]  # keeps the table as small as what is in flight
