"""CPU time spent during a load run: the whole machine's, and the server process's own.

On two cores shared by the server and its load generator, throughput under many clients is
bounded by the CPU each request costs, whatever the serving design. With that cost measured,
Little's law (clients = throughput × mean latency, each client waiting for its answer)
gives the lowest mean latency the cores allow at a given number of clients.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class CpuUse:
    machine_busy_s: float  # all cores together, everything but idle
    server_s: float  # user + system time of the server process, all its threads
    cores: int

    def per_request_ms(self, requests: int) -> tuple[float, float]:
        """(machine, server) CPU milliseconds per request."""
        return 1000 * self.machine_busy_s / requests, 1000 * self.server_s / requests

    def images_per_s_bound(self, requests: int) -> float:
        """Throughput at which every core is busy, at the measured cost per request."""
        return self.cores * 1000 / self.per_request_ms(requests)[0]

    def mean_latency_bound_ms(self, requests: int, clients: int) -> float:
        """Little's law: the lowest mean latency `clients` closed-loop clients can see."""
        return 1000 * clients / self.images_per_s_bound(requests)


@contextmanager
def measured_cpu(server_pid: int) -> Iterator[list[CpuUse]]:
    """Yields a list that holds the run's CpuUse once the block has ended."""
    server = psutil.Process(server_pid)
    machine_before, server_before = _busy_s(), _process_s(server)
    measured: list[CpuUse] = []
    yield measured
    measured.append(
        CpuUse(
            machine_busy_s=_busy_s() - machine_before,
            server_s=_process_s(server) - server_before,
            cores=os.cpu_count() or 1,
        )
    )


def _busy_s() -> float:
    # Whatever was not idle: stolen time (a virtual machine's host running something else)
    # counts as busy, since those cycles were not there for the run either. Guest time is
    # already inside user time on Linux.
    times = psutil.cpu_times()._asdict()
    not_busy = ("idle", "iowait", "guest", "guest_nice")
    return sum(value for kind, value in times.items() if kind not in not_busy)


def _process_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system
