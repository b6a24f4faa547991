"""An HTTP load generator: N concurrent clients posting real uploads, timing each request."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from api import timing
from bench.cpu import CpuUse
from bench.data import BenchUpload

REQUEST_TIMEOUT_S = 60


@dataclass
class LoadResult:
    clients: int
    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    # The latency of each refused (503) request: how fast overload is answered.
    refused_latencies_s: list[float] = field(default_factory=list)
    # Each answered request's Server-Timing stages in ms, where the server sends them.
    server_timings: list[dict[str, float]] = field(default_factory=list)
    # CPU time the run took, where it was measured (bench.cpu).
    cpu: CpuUse | None = None

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def errors(self) -> int:
        return self.requests - self.ok

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds

    def percentile_ms(self, q: float, values: list[float] | None = None) -> float:
        values = sorted(self.latencies_s if values is None else values)
        if not values:
            return float("nan")
        if len(values) == 1:
            return 1000 * values[0]
        return 1000 * statistics.quantiles(values, n=1000, method="inclusive")[round(q * 10) - 1]


async def _client_loop(
    http: httpx.AsyncClient,
    urls: itertools.cycle,
    uploads: itertools.cycle,
    path: str,
    stop_at: float,
    remaining: list[int],
    result: LoadResult,
    honour_retry_after: bool,
) -> None:
    while time.perf_counter() < stop_at and remaining[0] > 0:
        remaining[0] -= 1
        upload = next(uploads)
        files = {"file": (upload.filename, upload.data, upload.media_type)}
        started = time.perf_counter()
        retry_after, timings = 0.0, ""
        try:
            answer = await http.post(next(urls) + path, files=files)
            status = answer.status_code
            retry_after = float(answer.headers.get("retry-after", 0))
            timings = answer.headers.get(timing.HEADER, "")
        except httpx.HTTPError:
            status = 0  # no answer at all: counted as an error
        elapsed = time.perf_counter() - started
        result.statuses[status] += 1
        if 200 <= status < 300:
            result.latencies_s.append(elapsed)
            if timings:
                result.server_timings.append(timing.parse_server_timing(timings))
        elif status == 503:
            result.refused_latencies_s.append(elapsed)
            if honour_retry_after:  # as a well-behaved integration does
                await asyncio.sleep(retry_after)


async def _run(
    base_urls: list[str],
    key: str,
    uploads: list[BenchUpload],
    clients: int,
    seconds: float,
    max_requests: int,
    path: str,
    honour_retry_after: bool,
) -> LoadResult:
    result = LoadResult(clients=clients, seconds=0.0)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=REQUEST_TIMEOUT_S) as http:
        urls, cycle = itertools.cycle(base_urls), itertools.cycle(uploads)
        remaining = [max_requests]
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(
            *(
                _client_loop(
                    http, urls, cycle, path, stop_at, remaining, result, honour_retry_after
                )
                for _ in range(clients)
            )
        )
        result.seconds = time.perf_counter() - started
    return result


def run_load(
    base_urls: list[str],
    key: str,
    uploads: list[BenchUpload],
    *,
    clients: int,
    seconds: float,
    max_requests: int = 10**9,
    path: str = "/classify",
    honour_retry_after: bool = False,
) -> LoadResult:
    """`clients` concurrent clients for `seconds` (or `max_requests`), round-robin over
    `base_urls`; each client sends one request at a time, as a browser or PACS does."""
    return asyncio.run(
        _run(base_urls, key, uploads, clients, seconds, max_requests, path, honour_retry_after)
    )


def warm_up(base_urls: list[str], key: str, uploads: list[BenchUpload], requests: int) -> None:
    run_load(base_urls, key, uploads, clients=4, seconds=60, max_requests=requests)
