"""API keys this server has verified recently, so that a request need not look its key up.

Looking a key up cost about 1.9 ms of a 25 ms classification (a database query, its commit
and a thread hop, measured through Server-Timing), for an answer that rarely changes. A key
revoked through this server is forgotten at once; one revoked elsewhere (another replica,
the CLI) stops working here when its entry expires, after `MEDIMG_API_KEY_CACHE_SECONDS`.
Unknown and revoked keys are never kept: a new key works at once on every server.
"""

import threading
from typing import Generic, TypeVar

from cachetools import TTLCache

Caller = TypeVar("Caller")
MAX_KEYS = 4096


class VerifiedKeys(Generic[Caller]):
    """The caller behind each recently verified key hash; `ttl_seconds=0` keeps none."""

    def __init__(self, ttl_seconds: float) -> None:
        self._callers: TTLCache | None = TTLCache(MAX_KEYS, ttl_seconds) if ttl_seconds else None
        # Read on the event loop, written by revocations on worker threads.
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Caller | None:
        if self._callers is None:
            return None
        with self._lock:
            return self._callers.get(key_hash)

    def remember(self, key_hash: str, caller: Caller) -> None:
        if self._callers is not None:
            with self._lock:
                self._callers[key_hash] = caller

    def forget(self, key_hash: str) -> None:
        if self._callers is not None:
            with self._lock:
                self._callers.pop(key_hash, None)
