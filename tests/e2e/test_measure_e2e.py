"""Measuring: what is inside a timed interval and what is not, and the load meter.

The timing tests use a toy engine, named as such, on a fake clock: each transcription costs one
second, the first one five (a cold start), and decoding an audio file ten. A timing of exactly one
second proves that the warm-up ran before it and that decoding stayed outside the timed call.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_speechlab.io import calibration


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="the load meter reads /proc/stat (Linux)")
def test_the_load_meter_sees_other_processes_take_the_cpu():
    """Two busy processes beside a sleeping one: the sleeper sees them take a large share of the
    machine (on two cores: about all of it). Bounded: they stop after two seconds."""
    cores = calibration.cpu_sample()
    assert cores is not None
    busy = [
        subprocess.Popen(
            [sys.executable, "-c", "import time\nend = time.time() + 2\nwhile time.time() < end: pass"]
        )
        for _ in range(2)
    ]
    try:
        time.sleep(0.3)  # let them start
        before = calibration.cpu_sample()
        time.sleep(1.0)
        share = calibration.others_share(before, calibration.cpu_sample())
    finally:
        for process in busy:
            process.wait(timeout=10)
    assert share is not None and share >= min(0.8, 2 / cores.cpus) * 0.6
    assert calibration.others_share(None, before) is None
