"""A fixed CPU workload timed in the same session as the model, to compare latencies across
machines and across busy and idle moments of one machine.

A baseline stores the latency and the calibration time of the machine it was measured on; a
later run scales the baseline by its own calibration before applying the tolerance. Calibration
runs before any model loads: inference libraries leave worker threads spinning after each call,
which would make a calibration measured between runs read slow. The
workload (float32 matrix products and FFTs through numpy's BLAS) stresses what CPU inference
stresses; the median of several rounds ignores a stray slow one.
"""

from __future__ import annotations

import time
from functools import cache

import numpy as np

ROUNDS = 7


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


def calibration_round() -> float:
    """Seconds of one round of the workload."""
    a, b = _inputs()
    start = time.perf_counter()
    _workload(a, b)
    return time.perf_counter() - start


@cache
def calibrate() -> float:
    """Seconds of the workload on this machine: the fastest of several rounds, its speed when
    least disturbed (measured once per session)."""
    return min(calibration_round() for _ in range(ROUNDS))
