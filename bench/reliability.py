"""Hostile input, crashes, overload and per-key rate limits against the real server, and the
measurements of issue #29 (bench/reliability_hostile.py); writes bench/reliability.md. The
pass/fail checks are tests/reliability (`pytest -m reliability`); this measures the figures
behind them, the timed ones (overload, slow bodies) only here.

    python -m bench.reliability --data ../shared/datasets \
        [--postgres-url postgresql+psycopg://…] [--cycles 30] [--note "what else ran"]

Each backend gets its own servers (`python -m api`, the committed model) on free loopback
ports; the kill -9 loop forks its servers from a process that imported the app once.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import psutil

from api.settings import Settings
from bench.data import BenchUpload, real_uploads
from bench.load import run_load, warm_up
from bench.reliability_hostile import (
    measure_anonymous_flood,
    measure_extreme_queries,
    measure_hostile_batches,
    measure_log_phi,
    measure_record_views,
    measure_slow_bodies,
)
from medimg_testing.bombs import MIB, costly_png, deflated_dicom_bomb, hundred_megapixel_png
from medimg_testing.corpus import make_corpus
from medimg_testing.crashes import (
    UploadStream,
    age_stored_files,
    integrity_problems,
    stored_records,
)
from medimg_testing.server import (
    ForkServer,
    LiveServer,
    drop_postgres_schema,
    isolated_postgres_url,
)
from medimg_testing.uploads import Answer, distinct_pngs, post_all_at_once, post_corpus

REPORT = Path(__file__).with_name("reliability.md")
MODEL_DIR = Settings(_env_file=None).model_dir
CORPUS_SIZE = 5_000
UPLOAD_LIMIT = 4 * MIB
RATE_LIMIT = 60
KILL_AFTER_S = (0.05, 0.6)
# Admission limits wide enough for 200 concurrent uploads: overload (503) has its own server.
MAIN_SERVER_SETTINGS = {
    "MEDIMG_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
    "MEDIMG_MAX_CLASSIFICATIONS_IN_PROGRESS": "256",
    # Its load clients share one key and address: the per-caller share must not refuse them.
    "MEDIMG_MAX_UPLOADS_PER_CALLER": "256",
    "MEDIMG_INFERENCE_QUEUE_SIZE": "256",
}


# Overload: the server admits this many classifications at once, one per core: its
# sustainable load on these 2 cores (more at once only queue for the cores, and each waits
# longer). Five times as many clients, each honouring Retry-After, for a minute.
OVERLOAD_ADMITTED = 2
OVERLOAD_FACTOR = 5
OVERLOAD_SECONDS = 60.0
UNLOADED_REQUESTS = 100
OVERLOAD_UPLOADS = 128
OVERLOAD_SERVER_SETTINGS = {
    "MEDIMG_MAX_CLASSIFICATIONS_IN_PROGRESS": str(OVERLOAD_ADMITTED),
    "MEDIMG_RATE_LIMIT_PER_MINUTE": "0",
}


# What the figures below show the service holds, kept above them in the report; what a run
# finds that does not hold is listed after it (BackendFigures.fail).
HOLDS = [
    "What these figures say the service holds: no answered upload is lost to kill -9, on",
    "either database; fuzzed and damaged files get a 4xx, never a 5xx, and a batch answers",
    "its good files beside a hostile one; small files that inflate to gigapixels, and legal",
    "images whose decode would take more memory than `MEDIMG_MAX_DECODE_BYTES` (256 MiB;",
    "told from the header: pixels × channels × bytes per sample with the decode's working",
    "copies), get 413 before any pixel is decoded, with flat server memory; the decodes in",
    "progress together hold at most `MEDIMG_DECODE_MEMORY_BYTES` (1 GiB; past it 503 with",
    "Retry-After); an upload without a key is answered 401 at once and its connection",
    "closed, before it takes an admission slot or its body is read, so slow keyless bodies",
    "leave a real client its uploads, and a keyed",
    "body that trickles or stops short gets 408 after `MEDIMG_UPLOAD_IDLE_TIMEOUT_S` (30 s); a",
    "keyless flood writes one audit row per client address a minute (the rest are counted",
    "in `medimg_audit_anonymous_refusals_unrecorded` on /metrics); query values past a",
    "64-bit integer or the calendar, forged cursors and NUL characters get 4xx; no line of",
    "the server log carries an identifying value of the files sent; stored PNG/JPEG files",
    "keep no text chunks, comments or EXIF, and stored DICOM files no file-meta AE titles.",
]


@dataclass
class BackendFigures:
    name: str
    lines: list[str] = field(default_factory=list)

    broken: list[str] = field(default_factory=list)

    def add(self, what: str, figure: str) -> None:
        self.lines.append(f"| {what} | {figure} |")

    def fail(self, what: str) -> None:
        """Something HOLDS claims did not hold in this run: said above the tables."""
        self.broken.append(what)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def rss_mib(server: LiveServer) -> float:
    return psutil.Process(server.pid).memory_info().rss / MIB


def measure_fuzz(server: LiveServer, figures: BackendFigures) -> list[Answer]:
    corpus = make_corpus(CORPUS_SIZE)
    pid, records_before = server.pid, server.record_count()
    started = time.perf_counter()
    answers = post_corpus(server, corpus)
    wall = time.perf_counter() - started
    statuses = Counter(answer.status for answer in answers)
    seconds = [answer.seconds for answer in answers]
    accepted = statuses.get(201, 0)
    figures.add("fuzz files posted", f"{len(answers):,} in {wall:.0f} s")
    figures.add(
        "fuzz answers by status", ", ".join(f"{s}: {n:,}" for s, n in sorted(statuses.items()))
    )
    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    figures.add("fuzz 5xx", str(server_errors))
    if server_errors:
        figures.fail(f"{server_errors} fuzz files answered 5xx")
    figures.add(
        "fuzz latency per answer",
        f"median {statistics.median(seconds) * 1000:.0f} ms, p99 "
        f"{percentile(seconds, 0.99) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms",
    )
    figures.add("fuzz answers ≥ 1 s", str(sum(s >= 1 for s in seconds)))
    figures.add(
        "server restarted during fuzz", "no" if server.pid == pid and server.is_alive() else "YES"
    )
    figures.add(
        "records added / files accepted (201)",
        f"{server.record_count() - records_before} / {accepted}",
    )
    return answers


def measure_bombs(server: LiveServer, figures: BackendFigures) -> None:
    bombs = {
        "100-megapixel PNG": hundred_megapixel_png(),
        "deflated DICOM inflating to 1 GiB": deflated_dicom_bomb(),
        # Legal but costly (issue #29): under the pixel cap, over the decode memory budget.
        "16-bit RGBA PNG of 6000×6000": costly_png(6000),
        "deflated 16-bit DICOM of 6014×6014": deflated_dicom_bomb(69),
        "upload 2× the limit, with Content-Length": bytes(2 * UPLOAD_LIMIT),
    }
    with server.client() as client:
        for name, data in bombs.items():
            before = rss_mib(server)
            response = client.post("/classify", files={"file": ("bomb", data)})
            growth = rss_mib(server) - before
            figures.add(
                f"{name} ({len(data) / 1024:,.0f} KiB)",
                f"{response.status_code} in {response.elapsed.total_seconds() * 1000:.0f} ms, "
                f"RSS growth {growth:+.1f} MiB",
            )
    figures.add("temporary files left after the bombs", str(len(server.temp_files())))


def measure_concurrency(server: LiveServer, figures: BackendFigures) -> None:
    records_before, files_before = server.record_count(), len(server.stored_files())
    started = time.perf_counter()
    responses = post_all_at_once(server, distinct_pngs(200, salt=11))
    wall = time.perf_counter() - started
    errors = sum(r.status_code != 201 for r in responses)
    figures.add(
        "200 concurrent distinct uploads",
        f"{server.record_count() - records_before} records, "
        f"{len(server.stored_files()) - files_before} blobs, {errors} errors, {wall:.1f} s",
    )
    same = distinct_pngs(1, salt=12)[0]
    files_before = len(server.stored_files())
    responses = post_all_at_once(server, [same] * 20)
    figures.add(
        "20 concurrent identical uploads",
        f"{sum(r.status_code == 201 for r in responses)} × 201, "
        f"{len(server.stored_files()) - files_before} blob",
    )
    locked = server.log_text().count("database is locked")
    figures.add('"database is locked" in the server log', str(locked))


def measure_rate_limit(server: LiveServer, figures: BackendFigures) -> None:
    _, flooding_key = server.make_key("integration", "flooding")
    _, other_key = server.make_key("integration", "other")
    with server.client(flooding_key) as flooding, server.client(other_key) as other:
        flood = [flooding.get("/me") for _ in range(RATE_LIMIT + 20)]
        others = [other.get("/me").status_code for _ in range(RATE_LIMIT)]
    statuses = Counter(r.status_code for r in flood)
    retry_after = sorted({int(r.headers["retry-after"]) for r in flood if r.status_code == 429})
    answered = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    if retry_after:
        answered += f"; Retry-After {retry_after[0]}–{retry_after[-1]} s"
    figures.add(f"one key, {len(flood)} requests at a {RATE_LIMIT}/min limit", answered)
    others_answered = ", ".join(f"{s}: {n}" for s, n in sorted(Counter(others).items()))
    figures.add(f"another key meanwhile, {RATE_LIMIT} requests", others_answered)


def measure_crash_loop(cycles: int, server: LiveServer, figures: BackendFigures) -> None:
    rng = random.Random(9)
    answered: dict[int, str] = {}
    index, restarts, lost, problems, leftovers = 0, [], 0, 0, 0
    for _ in range(cycles):
        stream = UploadStream(server, index)
        stream.thread.start()
        stream.wait_for_first_answer()
        time.sleep(rng.uniform(*KILL_AFTER_S))
        server.kill()
        stream.thread.join(timeout=30)
        answered |= stream.answered
        index = stream.index
        orphan_candidates = len(server.stored_files())
        age_stored_files(server)
        restarts.append(server.start())
        records = stored_records(server)
        lost += sum(records.get(i) != sha for i, sha in answered.items())
        problems += len(integrity_problems(server))
        files = {path.name for path in server.stored_files()}
        leftovers += len(files - set(records.values()))
        orphan_candidates -= len(files)
    figures.add(
        "kill -9 cycles", f"{cycles}, {len(answered)} uploads answered 201 before the kills"
    )
    figures.add("answered uploads lost", str(lost))
    if lost:
        figures.fail(f"{lost} answered uploads lost to kill -9")
    figures.add("integrity check failures", str(problems))
    figures.add("orphan/temporary files left after restarts", str(leftovers))
    figures.add(
        "restart to ready (forked server)",
        f"median {statistics.median(restarts):.1f} s, max {max(restarts):.1f} s",
    )


class MemorySampler:
    """The server's resident memory once a second, on a thread, while a load runs."""

    def __init__(self, server: LiveServer) -> None:
        self.samples: list[float] = []
        self._server, self._stop = server, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(rss_mib(self._server))


def measure_overload(uploads: list[BenchUpload], server: LiveServer, figures: BackendFigures):
    key, urls = server.admin_key, [server.url]
    warm_up(urls, key, uploads, 20)
    unloaded = run_load(urls, key, uploads, clients=1, seconds=60, max_requests=UNLOADED_REQUESTS)
    clients = OVERLOAD_ADMITTED * OVERLOAD_FACTOR
    with MemorySampler(server) as memory:
        loaded = run_load(
            urls, key, uploads, clients=clients, seconds=OVERLOAD_SECONDS, honour_retry_after=True
        )
    ratio = loaded.percentile_ms(95) / unloaded.percentile_ms(95)
    figures.add(
        "unloaded: 1 client, p50 / p95", _ms(unloaded.percentile_ms(50), unloaded.percentile_ms(95))
    )
    figures.add(
        f"{clients} clients ({OVERLOAD_FACTOR}× the {OVERLOAD_ADMITTED} admitted) for "
        f"{OVERLOAD_SECONDS:.0f} s: answered",
        ", ".join(f"{status}: {n}" for status, n in sorted(loaded.statuses.items())),
    )
    figures.add(
        "admitted requests under that load: p50 / p95, p95 ÷ unloaded p95",
        _ms(loaded.percentile_ms(50), loaded.percentile_ms(95)) + f", {ratio:.2f}×",
    )
    refused = loaded.refused_latencies_s
    figures.add(
        "503 answer time: p50 / p99 / max",
        _ms(
            loaded.percentile_ms(50, refused),
            loaded.percentile_ms(99, refused),
            1000 * max(refused, default=float("nan")),
        ),
    )
    first, last = memory.samples[:10], memory.samples[-10:]
    figures.add(
        "server resident memory: first 10 s mean → last 10 s mean (peak)",
        f"{statistics.mean(first):.0f} → {statistics.mean(last):.0f} MiB "
        f"({max(memory.samples):.0f} MiB)",
    )


def _ms(*values: float) -> str:
    return " / ".join(f"{value:.0f} ms" for value in values)


def measure_fuzz_and_views(server: LiveServer, figures: BackendFigures) -> None:
    measure_record_views(server, measure_fuzz(server, figures), figures)


def run_backend(
    name: str,
    new_database: Callable[[], str],
    cycles: int,
    forkserver: ForkServer,
    uploads: list[BenchUpload],
) -> BackendFigures:
    """Every server on a database of its own, so each starts with just its bootstrap key."""
    figures = BackendFigures(name)
    main_measures = (measure_fuzz_and_views, measure_bombs, measure_concurrency)
    main_measures += (measure_extreme_queries, measure_hostile_batches, measure_log_phi)
    with tempfile.TemporaryDirectory() as tmp:
        servers = make_servers(Path(tmp), new_database, forkserver)
        for server, measures in [
            (servers["fresh"], (measure_anonymous_flood, partial(measure_slow_bodies, uploads))),
            (servers["main"], main_measures),
            (servers["limited"], (measure_rate_limit,)),
            (servers["overload"], (partial(measure_overload, uploads),)),
            (servers["crash"], (partial(measure_crash_loop, cycles),)),
        ]:
            seconds = server.start()
            if server is servers["fresh"]:
                figures.add("fresh `python -m api` start to ready", f"{seconds:.1f} s")
            try:
                for measure in measures:
                    measure(server, figures)
            finally:
                server.stop()
    return figures


def make_servers(
    root: Path, new_database: Callable[[], str], forkserver: ForkServer
) -> dict[str, LiveServer]:
    """fresh: the defaults of `python -m api` (its admission limits are what slow bodies
    meet); main: room for 200 concurrent uploads; limited: a rate limit; overload: two
    classifications at once; crash: forked, for the kill -9 loop."""
    settings = {
        "fresh": {},
        "main": MAIN_SERVER_SETTINGS,
        "limited": {"MEDIMG_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT)},
        "overload": OVERLOAD_SERVER_SETTINGS,
        "crash": {},
    }
    return {
        name: LiveServer(
            new_database(),
            root / name,
            MODEL_DIR.resolve(),
            settings=values,
            forkserver=forkserver if name == "crash" else None,
        )
        for name, values in settings.items()
    }


def sqlite_databases(root: Path) -> Callable[[], str]:
    counter = iter(range(1_000_000))
    return lambda: f"sqlite:///{root / f'db-{next(counter)}.db'}"


def write_report(figures: list[BackendFigures], run: RunFacts) -> None:
    lines = [
        "# Reliability figures",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{psutil.cpu_count()} CPU cores (load average {run.load_at_start:.1f} at the start, "
        f"{psutil.getloadavg()[0]:.1f} at the end; above the core count, other work shared "
        f"the cores{': ' + run.note if run.note else ''}), "
        f"Python {platform.python_version()}, the committed model `{MODEL_DIR}`; "
        f"{(time.perf_counter() - run.started) / 60:.0f} min in all. Reproduce with:",
        "",
        "```sh",
        run.command,
        "```",
        "",
        "The checks behind these figures are `tests/reliability` (`pytest -m reliability`).",
        "",
        *HOLDS,
        "",
        *not_held(figures),
    ]
    for backend in figures:
        lines += [f"## {backend.name}", "", "| what | measured |", "|---|---|", *backend.lines, ""]
    REPORT.write_text("\n".join(lines))


def not_held(figures: list[BackendFigures]) -> list[str]:
    broken = [f"- {backend.name}: {what}" for backend in figures for what in backend.broken]
    if not broken:
        return []
    return ["**What this run found that does not hold:**", "", *broken, ""]


@dataclass(frozen=True)
class RunFacts:
    command: str
    note: str
    started: float = field(default_factory=time.perf_counter)
    load_at_start: float = field(default_factory=lambda: psutil.getloadavg()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", help="also run against this PostgreSQL database")
    parser.add_argument("--cycles", type=int, default=30, help="kill -9 cycles per backend")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("MEDIMG_DATA_DIR", "")),
        help="the shared datasets: real MRI slices for the overload run",
    )
    parser.add_argument("--note", default="", help="what else ran on the machine, for the report")
    args = parser.parse_args(argv)
    uploads = real_uploads(args.data, OVERLOAD_UPLOADS)
    command = f"python -m bench.reliability --data {args.data}" + (
        " --postgres-url postgresql+psycopg://…" if args.postgres_url else ""
    )
    run = RunFacts(command + f" --cycles {args.cycles}", args.note)
    forkserver = ForkServer()
    figures: list[BackendFigures] = []
    schemas: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = run_backend(
                "SQLite", sqlite_databases(Path(tmp)), args.cycles, forkserver, uploads
            )
        figures.append(sqlite)
        # Written after each backend, so a failure later keeps what was measured.
        write_report(figures, run)
        if args.postgres_url:

            def new_schema() -> str:
                url, schema = isolated_postgres_url(args.postgres_url)
                schemas.append(schema)
                return url

            figures.append(run_backend("PostgreSQL", new_schema, args.cycles, forkserver, uploads))
            write_report(figures, run)
    finally:
        forkserver.close()
        for schema in schemas:
            drop_postgres_schema(args.postgres_url, schema)
    print(REPORT.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
