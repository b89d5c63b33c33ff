"""The load test runs: locust, headless and bounded, against a real server on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec

import pytest

from .serving import REPO, start, write_registry


@pytest.mark.skipif(find_spec("locust") is None, reason="locust is not installed (the loadtest extra)")
@pytest.mark.slow  # run first: see tests/conftest.py
def test_locust_headless_checks_every_answer(tmp_path):
    # Run, never imported here: locust patches the standard library with gevent when imported.
    registry = write_registry(tmp_path / "registry.yaml")
    server = start(registry, tmp_path / "server.log", "--model=faster_whisper", "--queue=1")
    summary = tmp_path / "summary.json"
    try:
        locustfile = str(REPO / "loadtest" / "locustfile.py")
        bounded = ["--headless", "-u", "3", "-r", "3", "-t", "12s", "--only-summary"]
        locust = [sys.executable, "-m", "locust", "-f", locustfile, *bounded, "--host", server.url]
        locust += ["--summary-json", str(summary)]
        done = subprocess.run(locust, cwd=REPO, capture_output=True, text=True, timeout=180)
    finally:
        assert server.stop() == 0
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(summary.read_text())
    assert result["users"] == 3 and result["answers"]["200"] >= 1
    assert set(result["answers"]) <= {"200", "429", "503"}  # no 5xx but the designed 503
    assert result["mismatches"] == [] and result["unanswered"] == 0
    assert result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert result["throughput_audio_s_per_s"] > 0
