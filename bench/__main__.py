"""Run every benchmark and write bench/results.md: `python -m bench --data DIR`.

    python -m bench --data ../shared/datasets \\
        [--postgres-url postgresql+psycopg://…]   # also the PostgreSQL and replica runs

End to end through HTTP on loopback, against real server processes: ours (committed model,
SQLite, and PostgreSQL with one and two replicas) and a minimal baseline API with the same
model. Also the model alone, the per-stage break-down, GET /records over 100,000 records,
start-up time and resident memory. About 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from api.db import create_db_engine
from api.settings import Settings
from bench import records
from bench.cpu import measured_cpu
from bench.data import real_uploads
from bench.flops import measured_peak_flops, model_flops
from bench.lean import lean_load
from bench.load import LoadResult, run_load, warm_up
from bench.model import time_model
from bench.report import Report
from bench.servers import baseline_server, our_server, resident_memory_mib
from bench.stages import time_stages
from medimg_testing.replicas import replicas

RESULTS = Path(__file__).with_name("results.md")
UPLOADS = 256
WARM_UP_REQUESTS = 40
SINGLE_CLIENT_REQUESTS = 200
CONCURRENT_CLIENTS = 32
CONCURRENT_SECONDS = 20.0
OVERLOAD_CLIENTS = 64
OVERLOAD_SECONDS = 10.0
# The overload run's deliberately small admission bound, so that 64 clients overflow it.
OVERLOAD_ADMITTED = 16
# Per-key rate limiting is a separate guard; the benchmark measures the serving path.
# The load clients share one key and one address, where a hospital's would be many callers:
# neither the rate limit nor the per-caller share of the slots applies to them.
NO_RATE_LIMIT = {"rate_limit_per_minute": "0", "max_uploads_per_caller": "64"}


def _machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def _load_average() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("MEDIMG_DATA_DIR", "")))
    parser.add_argument("--model-dir", type=Path, default=Settings(_env_file=None).model_dir)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("MEDIMG_TEST_POSTGRES_URL"),
        help="a PostgreSQL server the replica runs may create schemas in",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report = Report(
        machine=_machine(),
        command="python -m bench " + shlex.join(sys.argv[1:]),
        load_before=_load_average(),
        started=datetime.now(UTC),
    )
    uploads = real_uploads(args.data, UPLOADS)
    with tempfile.TemporaryDirectory(prefix="medimg-bench-") as scratch:
        work = Path(scratch)
        _model_only(report, args)
        report.stages = time_stages(args.model_dir, uploads[:64])
        _ours_on_sqlite(report, args.model_dir, work / "sqlite", uploads)
        _baseline(report, args.model_dir, work / "baseline", uploads)
        _overload(report, args.model_dir, work / "overload", uploads)
        if args.postgres_url:
            _postgres_replicas(
                report, args.model_dir, work / "postgres", args.postgres_url, uploads
            )
    report.load_after = _load_average()
    text = report.markdown()
    args.out.write_text(text)
    print(text)


def _model_only(report: Report, args: argparse.Namespace) -> None:
    report.model = time_model(args.model_dir, args.data)
    report.model_flops = model_flops(args.model_dir)
    report.peak_flops = measured_peak_flops()


def _single_and_concurrent(
    urls: list[str], key: str, uploads, server_pid: int
) -> tuple[LoadResult, LoadResult]:
    warm_up(urls, key, uploads, WARM_UP_REQUESTS)
    single = _single_client(urls, key, uploads)
    with measured_cpu(server_pid) as cpu:
        concurrent = lean_load(
            urls, key, uploads, clients=CONCURRENT_CLIENTS, seconds=CONCURRENT_SECONDS
        )
    concurrent.cpu = cpu[0]
    return single, concurrent


def _single_client(urls: list[str], key: str, uploads) -> LoadResult:
    return lean_load(
        urls, key, uploads, clients=1, seconds=120, max_requests=SINGLE_CLIENT_REQUESTS
    )


def _ours_on_sqlite(report: Report, model_dir: Path, work: Path, uploads) -> None:
    # Server-Timing breaks the single-client requests down on the real serving path.
    with our_server(model_dir, work, server_timing="true", **NO_RATE_LIMIT) as (
        server,
        startup_s,
    ):
        report.startup_s = startup_s
        report.rss_idle_mib = resident_memory_mib(server.pid)[0]
        report.ours_single, report.ours_concurrent = _single_and_concurrent(
            [server.url], server.admin_key, uploads, server.pid
        )
        # The same server through httpx, as a Python integration calls it.
        report.ours_single_httpx = run_load(
            [server.url],
            server.admin_key,
            uploads,
            clients=1,
            seconds=120,
            max_requests=SINGLE_CLIENT_REQUESTS,
        )
        report.rss_peak_mib = resident_memory_mib(server.pid)[1]
        engine = create_db_engine(server.database_url)
        records.add_records(engine)
        report.records = records.time_queries(server.url, server.admin_key, engine)
        engine.dispose()


def _baseline(report: Report, model_dir: Path, work: Path, uploads) -> None:
    # Typical classifiers read PNG and JPEG only: the baseline gets the JPEGs of the mix.
    jpegs = [upload for upload in uploads if upload.media_type == "image/jpeg"]
    with baseline_server(model_dir, work) as (url, pid):
        report.baseline_single, report.baseline_concurrent = _single_and_concurrent(
            [url], "none", jpegs, pid
        )
        report.baseline_rss_peak_mib = resident_memory_mib(pid)[1]


def _overload(report: Report, model_dir: Path, work: Path, uploads) -> None:
    small = {"max_classifications_in_progress": str(OVERLOAD_ADMITTED), **NO_RATE_LIMIT}
    with our_server(model_dir, work, **small) as (server, _):
        warm_up([server.url], server.admin_key, uploads, WARM_UP_REQUESTS)
        report.overload_admitted = OVERLOAD_ADMITTED
        report.overload = lean_load(
            [server.url],
            server.admin_key,
            uploads,
            clients=OVERLOAD_CLIENTS,
            seconds=OVERLOAD_SECONDS,
        )


def _postgres_replicas(
    report: Report, model_dir: Path, work: Path, postgres_url: str, uploads
) -> None:
    for count in (1, 2):
        with replicas(
            model_dir, work / f"x{count}", postgres_url, count, **NO_RATE_LIMIT
        ) as servers:
            urls = [server.url for server in servers]
            key = servers[0].admin_key
            warm_up(urls, key, uploads, WARM_UP_REQUESTS)
            if count == 1:
                report.postgres_single = _single_client(urls, key, uploads)
            report.replicas[count] = lean_load(
                urls, key, uploads, clients=CONCURRENT_CLIENTS, seconds=CONCURRENT_SECONDS
            )


if __name__ == "__main__":
    main()
