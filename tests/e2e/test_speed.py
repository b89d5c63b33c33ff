"""The speed suite: real engines timed by pytest-benchmark, its storage and compare, and the
figures in the results JSON."""

from __future__ import annotations

import json

import pytest

from ..projects import use_suite


@pytest.fixture
def speed_project(project, monkeypatch):
    # pytest-benchmark turns itself off in an xdist worker (it reads PYTEST_XDIST_WORKER); the
    # runs here are pytest sessions of their own, in which it must time as it does for a user
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    (project.path / "suites" / "test_asr.py").unlink()
    use_suite(project.path, "test_speed")
    return project


@pytest.mark.slow  # run first: see tests/conftest.py
def test_speed_into_benchmark_storage_and_results(speed_project):
    out = speed_project.path / "r.json"
    storage = "--benchmark-storage=file://bench"
    first = speed_project.run("--benchmark-autosave", storage, f"--speech-results={out}")
    assert first.ret == 0, first.stdout.str()
    # load, one latency case, three batch sizes; the TTS test has no TTS model to run
    first.assert_outcomes(passed=5, skipped=1)
    first.stdout.fnmatch_lines(["*test_batched_throughput*faster_whisper-cpu-8*"])
    figures = {b["name"]: b for b in json.loads(out.read_text())["benchmarks"]}
    assert set(figures) == {"load", "transcribe[cards_001]", "batched[1]", "batched[4]", "batched[8]"}
    assert figures["load"]["rounds"] == 3 and figures["load"]["median_s"] > 0
    case = figures["transcribe[cards_001]"]
    assert case["rounds"] == 2 and case["rtfx"] == pytest.approx(case["audio_s"] / case["median_s"], rel=1e-3)
    saved = list((speed_project.path / "bench").rglob("*.json"))
    assert len(saved) == 1
    stored = {b["name"]: b for b in json.loads(saved[0].read_text())["benchmarks"]}
    batched = stored["test_batched_throughput[faster_whisper-cpu-4]"]
    assert batched["extra_info"]["batch_size"] == 4 and batched["extra_info"]["rtfx"] > 0

    # the saved run read back and compared: one benchmark is enough to show it
    compare = ("--benchmark-compare", "--benchmark-compare-fail=median:1000%", storage)
    again = speed_project.run("-k", "test_load_speed", *compare)
    assert again.ret == 0
    # both rows, the faster first
    again.stdout.fnmatch_lines(["test_load_speed[[]faster_whisper-cpu[]] (0001_*"])
    again.stdout.fnmatch_lines(["test_load_speed[[]faster_whisper-cpu[]] (NOW)*"])
    assert "warning" not in again.stdout.str()

    disabled = speed_project.run("--benchmark-disable", "-k", "not batched", f"--speech-results={out}")
    assert disabled.ret == 0
    assert json.loads(out.read_text())["benchmarks"] == []


def test_time_to_first_audio_streams_piper(speed_project):
    out = speed_project.path / "r.json"
    result = speed_project.run("-k", "first_audio", f"--speech-results={out}", model="piper")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=1)
    (entry,) = json.loads(out.read_text())["benchmarks"]
    assert entry["name"] == "first_audio[cards_001]" and entry["streaming"] is True
