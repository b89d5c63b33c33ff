"""A fixed CPU workload timed in the same session as the model, to compare latencies across
machines and across busy and idle moments of one machine.

A baseline stores the latency and the calibration time of the machine it was measured on; a
later run scales the baseline by its own calibration before applying the tolerance. The
workload (float32 matrix products and FFTs through numpy's BLAS) stresses what CPU inference
stresses; the median of several rounds ignores a stray slow one.
"""

from __future__ import annotations

import statistics
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
def calibrate() -> float:
    """Median seconds of the fixed workload on this machine, now (measured once per session)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, 512), dtype=np.float32)
    b = rng.standard_normal((512, 512), dtype=np.float32) / 20
    _workload(a, b)  # warm-up: page in, pick BLAS kernels
    runs = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        _workload(a, b)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)
