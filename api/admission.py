"""Admission control for classification: a bounded number of requests in progress.

Checked when a classification request arrives, before its body is read: past the bound
the request is answered 503 with Retry-After at once, instead of joining a pile of
requests that would each wait longer than a client is willing to.
"""

from collections.abc import Iterator
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
    """Counts classification requests in progress; used from the event loop only."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_progress = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        if self.in_progress >= self.limit:
            raise at_capacity(f"{self.limit} classification requests are in progress.")
        self.in_progress += 1
        try:
            yield
        finally:
            self.in_progress -= 1
