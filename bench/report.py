"""bench/results.md: every figure the benchmark measured, with the machine and the command."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.load import LoadResult
from bench.model import ModelTimings
from bench.records import QueryTiming
from bench.stages import StageTimes

TARGETS = {
    "single_p50_ms": 25,
    "single_p99_ms": 60,
    "concurrent_ratio": 5,
    "concurrent_p99_ms": 300,
    "records_p95_ms": 50,
    "startup_s": 10,
    "rss_mib": 1.5 * 1024,
    "refused_ms": 100,
}


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


@dataclass
class Report:
    machine: str
    command: str
    load_before: str
    started: datetime
    load_after: str = ""
    model: ModelTimings | None = None
    model_flops: float = 0.0
    peak_flops: float = 0.0
    stages: StageTimes | None = None
    startup_s: float = 0.0
    rss_idle_mib: float = 0.0
    rss_peak_mib: float = 0.0
    baseline_rss_peak_mib: float = 0.0
    ours_single: LoadResult | None = None
    ours_single_httpx: LoadResult | None = None
    ours_concurrent: LoadResult | None = None
    baseline_single: LoadResult | None = None
    baseline_concurrent: LoadResult | None = None
    overload: LoadResult | None = None
    overload_admitted: int = 0
    records: list[QueryTiming] = field(default_factory=list)
    postgres_single: LoadResult | None = None
    replicas: dict[int, LoadResult] = field(default_factory=dict)

    def markdown(self) -> str:
        minutes = (datetime.now(UTC) - self.started).total_seconds() / 60
        lines = [
            "# Benchmark results",
            "",
            f"Measured {self.started:%Y-%m-%d %H:%M} UTC on {self.machine}, "
            f"in {minutes:.1f} minutes.",
            f"Load average (1, 5, 15 min) before: {self.load_before}; after: {self.load_after}. "
            "Figures taken while other work shares the CPUs are slower than the machine can do.",
            "",
            f"Reproduce: `{self.command}` (or `make bench`). Every HTTP figure is end to end on "
            "loopback: a real server process, real 512×512 MRI JPEGs from the datasets with "
            "every fourth sent as an uncompressed DICOM file of the same pixels, each upload "
            "decoded, classified, stored (fsync) and committed before it is answered.",
            "",
        ]
        for section in (
            self._targets,
            self._http,
            self._serving_path,
            self._serving_path_under_load,
            self._cpu_bound,
            self._stages,
            self._model,
            self._records,
            self._overload,
            self._replicas,
        ):
            lines += section()
        return "\n".join(lines) + "\n"

    def _targets(self) -> list[str]:
        single, concurrent = self.ours_single, self.ours_concurrent
        ratio = concurrent.throughput / self.baseline_concurrent.throughput
        worst_records = max((q.p95_ms for q in self.records), default=float("nan"))
        refused = self.overload.percentile_ms(99, self.overload.refused_latencies_s)
        rows = [
            (
                "single client p50",
                f"{single.percentile_ms(50):.1f} ms",
                "≤ 25 ms",
                single.percentile_ms(50) <= TARGETS["single_p50_ms"],
            ),
            (
                "single client p99",
                f"{single.percentile_ms(99):.1f} ms",
                "≤ 60 ms",
                single.percentile_ms(99) <= TARGETS["single_p99_ms"],
            ),
            (
                f"{concurrent.clients} clients: throughput ÷ baseline's",
                f"{ratio:.1f}×",
                "≥ 5×",
                ratio >= TARGETS["concurrent_ratio"],
            ),
            (
                f"{concurrent.clients} clients: p99",
                f"{concurrent.percentile_ms(99):.0f} ms",
                "≤ 300 ms",
                concurrent.percentile_ms(99) <= TARGETS["concurrent_p99_ms"],
            ),
            (
                f"{concurrent.clients} clients: errors",
                str(concurrent.errors),
                "0",
                concurrent.errors == 0,
            ),
            (
                "GET /records (100k), worst filtered p95",
                f"{worst_records:.1f} ms",
                "≤ 50 ms",
                worst_records <= TARGETS["records_p95_ms"],
            ),
            (
                "start-up to ready",
                f"{self.startup_s:.1f} s",
                "≤ 10 s",
                self.startup_s <= TARGETS["startup_s"],
            ),
            (
                "API resident memory, peak under load",
                f"{self.rss_peak_mib:.0f} MiB",
                "≤ 1536 MiB",
                self.rss_peak_mib <= TARGETS["rss_mib"],
            ),
            (
                "overload: p99 time to a 503",
                f"{refused:.0f} ms",
                "≤ 100 ms",
                refused <= TARGETS["refused_ms"],
            ),
        ]
        lines = ["## Targets", "", "| figure | measured | target | |", "|---|---|---|---|"]
        lines += [
            f"| {name} | {value} | {target} | {_met(ok)} |" for name, value, target, ok in rows
        ]
        return lines + [""]

    def _http(self) -> list[str]:
        lines = [
            "## POST /classify end to end (SQLite)",
            "",
            "Ours: `python -m api`, the committed model, SQLite (WAL, synchronous=FULL), dynamic "
            "batching. Baseline: `bench/baseline_app.py`, the same model behind a minimal "
            "FastAPI route that decodes, resizes and calls `model.predict` on one image per "
            "request, storing nothing; it reads JPEG only, so it gets the JPEGs of the mix. "
            "Each client sends one request at a time. The clients are lean (`bench/lean.py`: "
            "raw sockets, each request encoded once, as wrk or hey do), so that the load "
            "generator takes little of the two cores it shares with the server; the httpx row "
            "is the same server through a Python HTTP client, whose own work is in its figures.",
            "",
            "| run | requests | errors | images/s | p50 | p95 | p99 |",
            "|---|---|---|---|---|---|---|",
        ]
        runs = [
            ("ours, 1 client", self.ours_single),
            ("ours, 1 client, through httpx", self.ours_single_httpx),
            ("baseline, 1 client", self.baseline_single),
            (f"ours, {self.ours_concurrent.clients} clients", self.ours_concurrent),
            (f"baseline, {self.baseline_concurrent.clients} clients", self.baseline_concurrent),
        ]
        lines += [_load_row(name, run) for name, run in runs]
        single_ratio = self.baseline_single.percentile_ms(50) / self.ours_single.percentile_ms(50)
        many_ratio = self.ours_concurrent.throughput / self.baseline_concurrent.throughput
        lines += [
            "",
            f"Ratios to the baseline: 1 client, p50 latency {single_ratio:.1f}× lower; "
            f"{self.ours_concurrent.clients} clients, throughput {many_ratio:.1f}× higher.",
            "",
            f"Start-up (process start to `/readyz` 200): {self.startup_s:.1f} s. Resident "
            f"memory of the API process: {self.rss_idle_mib:.0f} MiB ready, "
            f"{self.rss_peak_mib:.0f} MiB peak under load (baseline peak "
            f"{self.baseline_rss_peak_mib:.0f} MiB).",
            "",
        ]
        return lines

    def _serving_path(self) -> list[str]:
        intro = (
            f"Measured on the serving path: each of the {len(self.ours_single.server_timings)} "
            "single-client requests above answered with a `Server-Timing` header "
            "(`MEDIMG_SERVER_TIMING`), timed inside the running server; the last row is the "
            "client's latency minus the route's own time. Means, so that the rows add up."
        )
        return self._time_by_stage(
            self.ours_single, "Where the time of one request goes", intro, "1 client"
        )

    def _serving_path_under_load(self) -> list[str]:
        clients = self.ours_concurrent.clients
        intro = (
            f"The same break-down for the {clients}-client run. Each stage now includes waiting: "
            "for the model's next batch, and in the database row for the writer thread that "
            "commits the waiting uploads' records together (`api/group_commit.py`)."
        )
        return self._time_by_stage(
            self.ours_concurrent,
            f"Where the time goes with {clients} clients",
            intro,
            f"{clients} clients",
        )

    def _cpu_bound(self) -> list[str]:
        run = self.ours_concurrent
        if run.cpu is None or not run.requests:
            return []
        machine_ms, server_ms = run.cpu.per_request_ms(run.requests)
        bound = run.cpu.images_per_s_bound(run.requests)
        latency = run.cpu.mean_latency_bound_ms(run.requests, run.clients)
        target = TARGETS["concurrent_p99_ms"]
        affordable = run.cpu.cores * target / run.clients
        return [
            f"## What {run.cpu.cores} cores allow with {run.clients} clients",
            "",
            f"CPU time during the {run.clients}-client run (`bench/cpu.py`): the whole "
            "machine's (server, load generator, kernel) and the server process's own, per "
            "request answered.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| CPU per request, whole machine | {machine_ms:.1f} ms |",
            f"| of which the server process | {server_ms:.1f} ms |",
            f"| images/s with every core busy at that cost | {bound:.0f} |",
            f"| lowest mean latency for {run.clients} clients (Little's law) | {latency:.0f} ms |",
            f"| CPU per request at which a {target:.0f} ms mean is possible | "
            f"{affordable:.1f} ms |",
            "",
            f"Each of the {run.clients} clients waits for its answer before sending again, so "
            f"throughput × mean latency = {run.clients}. At the measured cost the mean latency "
            f"cannot fall below {latency:.0f} ms however requests are queued or batched; a p99 "
            f"within {target:.0f} ms needs the whole request, load generator included, to cost "
            f"under {affordable:.1f} ms of CPU.",
            "",
        ]

    def _time_by_stage(self, run: LoadResult, heading: str, intro: str, load: str) -> list[str]:
        if not run.server_timings:
            return []
        # In the order the route runs them; the model works while the two after decode run.
        stages = {
            "decode": "decode (ml.decode)",
            "deidentify": "DICOM de-identification (averaged over the mix), the model running",
            "storage": "blob write, fsync, rename, the model running",
            "model": "model: the rest of its wait (queue, preprocessing, network)",
            "gate": "input gate (frame, colour, header, feature distance)",
            "database": "record and audit row (and idempotency key, if sent): insert + commit",
        }
        means = {name: _mean(run.server_timings, name) for name in [*stages, "handler"]}
        latency = 1000 * statistics.fmean(run.latencies_s)
        rows = [(label, means[name]) for name, label in stages.items()]
        rows.append(
            (
                "rest of the route (validation, answer)",
                means["handler"] - sum(means[name] for name in stages),
            )
        )
        rows.append(
            (
                "outside the route: HTTP, multipart, API key check, thread hops, client",
                latency - means["handler"],
            )
        )
        total = (f"HTTP latency, {load}, mean", latency)
        return _share_table(heading, intro, "mean", rows, total)

    def _stages(self) -> list[str]:
        stages = self.stages
        http = self.ours_single.percentile_ms(50)
        rows = [
            ("decode (ml.decode)", stages.decode_ms),
            ("DICOM de-identification, averaged over the mix", stages.deidentify_ms),
            ("preprocess (crop, pad, resize, in TF)", stages.preprocess_ms),
            ("model (network, batch 1)", stages.model_ms),
            ("storage (blob write, fsync, rename)", stages.storage_ms),
            ("database (insert + commit, SQLite)", stages.database_ms),
            (
                "everything else (HTTP, multipart, auth, audit, JSON), less the storage "
                "and de-identification done while the model runs",
                http - stages.total_ms,
            ),
        ]
        intro = (
            "Each stage timed on its own in one process (`bench/stages.py`, median of 64 real "
            "uploads), which splits the model call into preprocessing and network; the last "
            "row is the single-client HTTP p50 minus the stages."
        )
        total = ("HTTP p50, 1 client", http)
        return _share_table("Each stage on its own", intro, "median", rows, total)

    def _model(self) -> list[str]:
        model = self.model
        achieved = model.batch32_images_per_s * self.model_flops
        return [
            "## The model alone",
            "",
            "The SavedModel's serving signature, preprocessing included, on real 512×512 slices.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| batch 1 latency, median | {model.batch1_p50_ms:.1f} ms |",
            f"| batch 1 latency, p95 | {model.batch1_p95_ms:.1f} ms |",
            f"| batch 1 throughput | {model.batch1_images_per_s:.0f} images/s |",
            f"| batch 32 throughput | {model.batch32_images_per_s:.0f} images/s "
            f"({model.batch32_images_per_s / model.batch1_images_per_s:.1f}× batch 1) |",
            f"| network FLOPs per image | {self.model_flops / 1e6:.0f} MFLOP |",
            f"| CPU peak, measured (float32 2048² matmul) | {self.peak_flops / 1e9:.1f} GFLOP/s |",
            f"| batch 32: achieved ÷ peak | {achieved / 1e9:.1f} GFLOP/s = "
            f"{100 * achieved / self.peak_flops:.0f} % of peak |",
            f"| images/s the peak would allow | {self.peak_flops / self.model_flops:.0f} |",
            f"| size on disk | {model.size_mb:.1f} MB |",
            "",
            "The achieved figure counts only the network's convolutions and dense layer; the "
            "per-image crop, pad and resize in the same call are extra work on top.",
            "",
        ]

    def _records(self) -> list[str]:
        lines = [
            f"## GET /records with {self._record_count()} records (SQLite)",
            "",
            "100,000 records over a year, added to the database of the server above; each page "
            "of 50 asked 100 times through HTTP (with its `count`). The plans are SQLite's "
            "`EXPLAIN QUERY PLAN` of the SQL the route builds (`bench/records.py`).",
            "",
            "| query | p50 | p95 | plan |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {q.name} | {q.p50_ms:.1f} ms | {q.p95_ms:.1f} ms | {'<br>'.join(q.plan)} |"
            for q in self.records
        ]
        return lines + [""]

    def _record_count(self) -> str:
        return "100,000"

    def _overload(self) -> list[str]:
        run = self.overload
        refused = run.statuses.get(503, 0)
        return [
            "## Overload",
            "",
            f"{run.clients} clients against a server that admits {self.overload_admitted} "
            "classification requests at once "
            f"(`MEDIMG_MAX_CLASSIFICATIONS_IN_PROGRESS={self.overload_admitted}`): the rest "
            "are refused with 503 and `Retry-After` before their upload is read, instead of "
            "piling up. The clients (`bench/lean.py`) "
            "ignore Retry-After and send again at once, a flood; the run with clients that "
            "honour it is in bench/reliability.md.",
            "",
            "| answered 201 | refused 503 | other | 201 p99 | 503 p50 | 503 p99 |",
            "|---|---|---|---|---|---|",
            f"| {run.ok} | {refused} | {run.requests - run.ok - refused} "
            f"| {run.percentile_ms(99):.0f} ms "
            f"| {run.percentile_ms(50, run.refused_latencies_s):.0f} ms "
            f"| {run.percentile_ms(99, run.refused_latencies_s):.0f} ms |",
            "",
        ]

    def _replicas(self) -> list[str]:
        if not self.replicas:
            return [
                "## PostgreSQL and replicas",
                "",
                "Not run: pass `--postgres-url` (or set `MEDIMG_TEST_POSTGRES_URL`).",
                "",
            ]
        lines = [
            "## PostgreSQL, one and two replicas",
            "",
            "Replicas: separate `python -m api` processes on their own ports and directories, "
            "one PostgreSQL database shared, which also keeps the images "
            "(`MEDIMG_IMAGE_STORE=database`); clients spread round-robin over them.",
            "",
            "| run | requests | errors | images/s | p50 | p95 | p99 |",
            "|---|---|---|---|---|---|---|",
        ]
        if self.postgres_single is not None:
            lines.append(_load_row("1 replica, 1 client", self.postgres_single))
        lines += [
            _load_row(f"{count} replica{'s' if count > 1 else ''}, {run.clients} clients", run)
            for count, run in sorted(self.replicas.items())
        ]
        return lines + [
            "",
            "On one 2-core machine a second replica competes for the same cores; across "
            "machines each replica brings its own.",
            "",
        ]


def _share_table(
    heading: str,
    intro: str,
    statistic: str,
    rows: list[tuple[str, float]],
    total: tuple[str, float],
) -> list[str]:
    """A markdown table of stages in ms, each with its share of the total."""
    name, total_ms = total
    lines = [f"## {heading}", "", intro, "", f"| stage | {statistic} ms | share |", "|---|---|---|"]
    lines += [f"| {stage} | {ms:.1f} | {100 * ms / total_ms:.0f} % |" for stage, ms in rows]
    return lines + [f"| {name} | {total_ms:.1f} | 100 % |", ""]


def _mean(timings: list[dict[str, float]], name: str) -> float:
    return statistics.fmean(stages.get(name, 0.0) for stages in timings)


def _load_row(name: str, run: LoadResult) -> str:
    failed = sorted((status, n) for status, n in run.statuses.items() if not 200 <= status < 300)
    # Status 0: no HTTP answer at all (connection refused, reset or timed out).
    breakdown = ", ".join(f"{n}× {status or 'no answer'}" for status, n in failed)
    errors = f"{run.errors} ({breakdown})" if failed else "0"
    return (
        f"| {name} | {run.requests} | {errors} | {run.throughput:.1f} "
        f"| {run.percentile_ms(50):.1f} ms | {run.percentile_ms(95):.1f} ms "
        f"| {run.percentile_ms(99):.1f} ms |"
    )
