"""Per-API-key request rate limit: one key flooding the API cannot starve the others.

Each key has its own moving one-minute window (the `limits` library, in process memory), so
a busy integration hitting its limit gets 429 with `Retry-After` while every other key keeps
working. In-memory means per worker process: with N workers a key may make N times the limit,
which still bounds it; a shared limit would need a shared store (e.g. Redis).
"""

import math
import time
from http import HTTPStatus

from fastapi import HTTPException
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class KeyRateLimiter:
    """At most `per_minute` requests per key in any 60 s; `per_minute=0` turns it off."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._item = RateLimitItemPerMinute(per_minute) if per_minute > 0 else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, key_id: int | None) -> None:
        """Count one request for `key_id`; raises 429 with `Retry-After` over the limit."""
        if self._item is None:
            return
        identifier = str(key_id)
        if self._limiter.hit(self._item, identifier):
            return
        reset_at = self._limiter.get_window_stats(self._item, identifier).reset_time
        raise too_many_requests(self.per_minute, retry_after_seconds(reset_at))


def retry_after_seconds(reset_at: float) -> int:
    # Whole seconds (RFC 9110 delay-seconds), rounded up and never 0: a client retrying
    # sooner would only be refused again.
    return max(1, math.ceil(reset_at - time.time()))


def too_many_requests(per_minute: int, retry_after: int) -> HTTPException:
    return HTTPException(
        HTTPStatus.TOO_MANY_REQUESTS,
        f"This API key has made more than {per_minute} requests in the last minute. "
        f"Retry after {retry_after} s, or ask an admin for a higher MEDIMG_RATE_LIMIT_PER_MINUTE.",
        headers={"Retry-After": str(retry_after)},
    )
