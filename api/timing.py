"""Server-Timing: how long each stage of one classification took, as a response header.

Off unless `MEDIMG_SERVER_TIMING` is set. The benchmark turns it on to break a request's
time down on the real serving path (`decode;dur=1.9, model;dur=5.2, …`), and an integrator
can see in the browser's network panel where a slow answer spent its time.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Response

HEADER = "Server-Timing"


class StageTimer:
    """Milliseconds per named stage; a stage run more than once (a batch) adds up."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + 1000 * (time.perf_counter() - started)

    def header_value(self) -> str:
        """Each stage, then `handler`: the route's whole time, from its start until now."""
        stages = {**self.ms, "handler": 1000 * (time.perf_counter() - self.started)}
        return ", ".join(f"{name};dur={ms:.2f}" for name, ms in stages.items())

    def add_header(self, response: Response, enabled: bool) -> None:
        if enabled:
            response.headers[HEADER] = self.header_value()


def parse_server_timing(value: str) -> dict[str, float]:
    """`decode;dur=1.9, model;dur=5.2` → {"decode": 1.9, "model": 5.2}; entries without a
    duration are skipped."""
    timings: dict[str, float] = {}
    for entry in value.split(","):
        name, *params = (part.strip() for part in entry.split(";"))
        for param in params:
            key, _, number = param.partition("=")
            if key.strip() == "dur" and name:
                timings[name] = float(number)
    return timings
