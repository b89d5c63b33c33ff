"""How fair a timing was: the machine's speed, and what else ran on it meanwhile.

Latency baselines are compared across machines and across busy and quiet moments of one
machine, so every repeated timing carries two measurements of its conditions:

- a calibration round (a fixed single-threaded CPU workload: float32 matrix products and an FFT
  through numpy) timed just before each timed run, so a baseline can be scaled by how much slower
  this machine ran the same workload (``gate.checks`` only ever loosens a limit with it);
- the share of the machine's CPU capacity that *other* processes used during the timed run, read
  from ``/proc/stat`` and this process's own CPU time. A calibration cannot stand in for this: a
  multi-threaded engine beside two busy loops ran 1.7-3.8x slower while a single-threaded
  calibration read 1.1-1.4x, and a two-threaded one 18-36x (its threads spin when descheduled).
  A slow timing taken while others competed is reported as inconclusive, not as a regression.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

ROUNDS = 7
STAT = Path("/proc/stat")
# A timing is *loaded* when other processes used more than this share of the machine's CPU while
# it ran; on a quiet machine the share reads 0-3% (system daemons).
LOADED_SHARE = 0.10


def _workload(a: np.ndarray, b: np.ndarray) -> float:
    out = a
    for _ in range(16):
        out = np.tanh(out @ b)
    spectrum = np.fft.rfft(out, axis=1)
    return float(np.abs(spectrum).sum())


@cache
def _inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, 512), dtype=np.float32)
    b = rng.standard_normal((512, 512), dtype=np.float32) / 20
    _workload(a, b)  # warm-up: page in, pick BLAS kernels
    return a, b


def calibration_times() -> tuple[float, float]:
    """Wall and CPU seconds of one round of the workload on one thread (BLAS threads would spin
    and wait on each other under contention, measuring the scheduler rather than the CPU). The CPU
    seconds hold under load; they scale the CPU-time check across machines."""
    from threadpoolctl import threadpool_limits

    a, b = _inputs()
    with threadpool_limits(1):
        start, start_cpu = time.perf_counter(), time.thread_time()
        _workload(a, b)
        return time.perf_counter() - start, time.thread_time() - start_cpu


def calibration_round() -> float:
    """Wall seconds of one round of the workload (``calibration_times``)."""
    return calibration_times()[0]


@cache
def calibrate() -> float:
    """Seconds of the workload on this machine: the fastest of several rounds, its speed when
    least disturbed (measured once per session, before any model loads)."""
    return min(calibration_round() for _ in range(ROUNDS))


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by the whole machine and by this process, at a wall-clock time."""

    when: float
    machine_busy_s: float
    own_s: float
    cpus: int


def _machine_busy() -> tuple[float, int] | None:
    """Busy CPU seconds of all processes since boot and the number of CPUs they ran on."""
    try:
        lines = STAT.read_text().splitlines()
    except OSError:
        return None
    fields = [int(v) for v in lines[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait; guest is in user
    cpus = sum(1 for line in lines[1:] if line.startswith("cpu"))
    return busy / os.sysconf("SC_CLK_TCK"), max(cpus, 1)


def cpu_sample() -> CpuSample | None:
    """Now, for ``others_share``; None where the kernel does not say (no ``/proc/stat``)."""
    machine = _machine_busy()
    if machine is None:
        return None
    times = os.times()
    return CpuSample(time.perf_counter(), machine[0], times.user + times.system, machine[1])


def others_share(before: CpuSample | None, after: CpuSample | None) -> float | None:
    """The share (0-1) of the machine's CPU capacity that other processes used between two
    samples; None when unknown. The kernel counts in ticks (10 ms), so intervals shorter than
    about 0.2 s read coarsely."""
    if before is None or after is None or after.when <= before.when:
        return None
    others = (after.machine_busy_s - before.machine_busy_s) - (after.own_s - before.own_s)
    share = others / (after.cpus * (after.when - before.when))
    return min(1.0, max(0.0, share))


def median_share(shares: tuple[float | None, ...]) -> float | None:
    known = [s for s in shares if s is not None]
    return statistics.median(known) if known else None
