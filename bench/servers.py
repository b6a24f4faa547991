"""The servers the benchmarks load: ours (`python -m api`, through the reliability tests'
LiveServer) and the baseline, each a real process on a loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from medimg_testing.server import REPO_ROOT, LiveServer, free_loopback_port

READY_TIMEOUT_S = 120


def resident_memory_mib(pid: int) -> tuple[float, float]:
    """(now, peak) resident set size of a process, from /proc, in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    rss, peak = (int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))
    return rss, peak


@contextmanager
def our_server(
    model_dir: Path, data_dir: Path, database_url: str | None = None, **settings: str
) -> Iterator[tuple[LiveServer, float]]:
    """Started and ready; yields the server and its start-up time (process start → /readyz)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = LiveServer(
        database_url=database_url or f"sqlite:///{data_dir / 'medimg.db'}",
        data_dir=data_dir,
        model_dir=model_dir.resolve(),
        settings={f"MEDIMG_{name.upper()}": value for name, value in settings.items()},
    )
    try:
        yield server, server.start()
    finally:
        server.stop()


@contextmanager
def baseline_server(model_dir: Path, log_dir: Path) -> Iterator[tuple[str, int]]:
    """The minimal FastAPI classifier of bench/baseline_app.py; yields (url, pid)."""
    port = free_loopback_port()
    env = {
        **os.environ,
        "BENCH_MODEL_DIR": str(model_dir.resolve()),
        "PYTHONPATH": str(REPO_ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "bench.baseline_app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "baseline.log").open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url + "/healthz", process)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the baseline server exited ({process.returncode})")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} was not ready within {READY_TIMEOUT_S} s")
