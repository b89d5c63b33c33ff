"""Measuring: what is inside a timed interval and what is not, and the load meter.

The timing tests use a toy engine, named as such, on a fake clock: each transcription costs one
second, the first one five (a cold start), and decoding an audio file ten. A timing of exactly one
second proves that the warm-up ran before it and that decoding stayed outside the timed call.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from pytest_speechlab.core.case import Case
from pytest_speechlab.core.settings import Settings
from pytest_speechlab.engines import ModelIdentity
from pytest_speechlab.io import devices
from pytest_speechlab.measure import run as measure_run
from pytest_speechlab.measure.run import AudioCache, ModelRun
from pytest_speechlab.store.baselines import Comparison


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ToyColdStartEngine:
    """A toy engine for timing tests only: its first call costs 5 s of the fake clock, later
    ones 1 s; it hears "hello" in anything."""

    name = "toy_cold"
    tasks: ClassVar[tuple[str, ...]] = ("asr",)
    sample_rate = 16000
    default_options: ClassVar[dict[str, Any]] = {}
    identity = ModelIdentity("toy 0", "toy", "none", "none", "cpu", "none")
    clock: Clock

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        return None

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> ToyColdStartEngine:
        return cls()

    def __init__(self) -> None:
        self.calls = 0

    def transcribe(self, audio: np.ndarray, language: str | None) -> str:
        self.calls += 1
        self.clock.now += 5.0 if self.calls == 1 else 1.0
        return "hello"


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(time, "perf_counter", clock)
    ToyColdStartEngine.clock = clock

    def slow_decode(case: Case, rate: int) -> np.ndarray:
        clock.now += 10.0
        return np.zeros(rate, np.float32)

    monkeypatch.setattr(measure_run, "case_audio", slow_decode)
    return clock


def toy_run(**settings: Any) -> ModelRun:
    cases = tuple(Case(id=f"c{i}", audio=Path(f"c{i}.wav"), text="hello", duration_s=1.0) for i in range(3))
    nowhere = Comparison("toy_cold on cpu", Path("b.json"), None)
    return ModelRun("toy_cold", "cpu", ToyColdStartEngine, Settings(**settings), cases, AudioCache(), nowhere)


def test_timed_runs_exclude_the_cold_start_and_the_decoding(fake_clock: Clock):
    run = toy_run(repeats=3)
    first = run.measure(run.cases[1])  # its audio is decoded now, not yet by the warm-up
    assert first.timing.runs == (1.0,)  # not 5 (no warm-up) nor 11 (decoding timed)
    latency = run.measure_latency(run.cases[2])
    assert latency.timing.runs == (1.0, 1.0, 1.0) and latency.repeated
    assert len(latency.timing.calibration) == 3  # a calibration round before each timed run
    assert run.engine.calls == 1 + 1 + 1 + 3  # warm-up, c1, c2's accuracy pass, c2's three timed runs


def test_a_latency_timed_under_load_is_retimed_while_the_policy_asks_and_every_round_kept(
    fake_clock: Clock, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(measure_run, "RETIME_PAUSE_S", 0.0)
    asked: list[int] = []

    def policy(timing: Any, entry: dict[str, Any] | None) -> bool:
        asked.append(timing.retimed)
        return timing.retimed < 2  # the gate's policy bounds the rounds; here two more

    run = toy_run(repeats=3)
    run.retime = policy
    latency = run.measure_latency(run.cases[0])
    assert asked == [0, 1, 2] and latency.timing.retimed == 2
    assert len(latency.timing.runs) == 9 and len(latency.timing.cpu) == 9  # three rounds of three
    assert len(latency.timing.calibration_cpu) == 9  # the calibration round's CPU time beside each
    run.retime = lambda timing, entry: True  # a policy that never stops is cut off all the same
    assert run.measure_latency(run.cases[1]).timing.retimed == measure_run.MAX_RETIMES


def test_passive_waiting_is_set_before_openmp_loads_and_unknown_after(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    for name in devices.OPENMP_LIBRARIES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert devices.passive_waiting() == "PASSIVE" and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")  # the user's choice is kept
    assert devices.passive_waiting() == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setitem(sys.modules, "ctranslate2", sys)  # loaded before the policy could be set
    assert devices.passive_waiting() == "unknown (ctranslate2 loaded first)"
    assert "OMP_WAIT_POLICY" not in os.environ


def test_without_warm_up_the_cold_start_is_timed(fake_clock: Clock):
    run = toy_run(warmup=0)
    assert run.measure(run.cases[0]).timing.runs == (5.0,)  # what the warm-up keeps out of every figure


def test_engine_threads_share_the_cores_among_xdist_workers(monkeypatch: pytest.MonkeyPatch):
    cores = devices.available_cores()
    assert 1 <= cores <= len(os.sched_getaffinity(0))
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    assert devices.engine_threads() == max(1, cores // 2)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT")
    assert devices.engine_threads() == cores


@pytest.mark.parametrize(
    ("spec", "gpus", "worker", "workers", "expected"),
    [
        ("cuda", ["0", "1"], "gw0", 2, "0"),
        ("cuda", ["0", "1"], "gw1", 2, "1"),
        ("auto", ["4", "6", "7"], "gw4", 8, "6"),  # round robin over the visible ones
        ("cpu,cuda", ["0", "1"], "gw1", 2, "1"),
        ("cuda", ["0"], "gw1", 2, None),  # one GPU: shared
        ("cuda", ["0", "1"], "gw0", 1, None),  # one worker: it may use both
        ("cuda:1", ["0", "1"], "gw0", 2, None),  # named by index: as asked
        ("cpu", ["0", "1"], "gw1", 2, None),
        ("cuda", ["0", "1"], "", 2, None),  # not a worker
    ],
)
def test_each_xdist_worker_keeps_to_its_own_gpu(spec, gpus, worker, workers, expected):
    assert devices.worker_gpu(spec, gpus, worker, workers) == expected


def test_the_visible_gpus_are_cuda_visible_devices_when_set(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 3")
    assert devices.visible_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # none
    assert devices.visible_gpus() == []


def test_results_cross_processes_whole_without_the_audio_and_join_the_receivers_cases():
    """What an xdist worker sends the controller: every field of every result kind; the case and
    the comparison are the receiver's own; synthesised audio stays behind."""
    from pytest_speechlab.core.metrics import Score, Timing, score
    from pytest_speechlab.core.perturb import Perturbation
    from pytest_speechlab.measure.results import (
        CaseResult,
        Measured,
        PerturbedResult,
        SynthesisResult,
        dumps_measured,
        loads_measured,
    )

    case = Case("a", Path("a.wav"), "hello world", duration_s=1.0)
    sender = Comparison("toy on cpu", Path("sender.json"), None)
    timing = Timing((0.5, 0.4), (0.01, 0.01), (0.0, None))
    clean = CaseResult(case, "hello word", score("hello world", "hello word"), timing, sender, True,
                       {"matched": 2}, ())  # fmt: skip
    noisy = PerturbedResult(Perturbation.of("noise", snr_db=10), "hello",
                            score("hello world", "hello"), clean, recorded=True)  # fmt: skip
    spoken = SynthesisResult(case, np.ones(22050, np.float32), 22050, timing, {"duration_s": 1.0}, sender,
                             judge="toy judge", judge_raw="Hello world.",
                             judge_score=Score("hello world", "hello world", 0.0, 0.0, 2, 0, 0, 0),
                             quality={"dnsmos_ovrl": 3.1})  # fmt: skip
    sent = dumps_measured(Measured([clean], [spoken], [noisy]))

    receivers_case = Case("a", Path("a.wav"), "hello world", duration_s=1.0, line=7)
    receiver = Comparison("toy on cpu", Path("receiver.json"), None)
    back = loads_measured(sent, {"a": receivers_case}, receiver)
    (result,), (synthesis,), (perturbed,) = back.results, back.syntheses, back.perturbed
    assert result.case is receivers_case and result.against is receiver
    assert (result.raw_hypothesis, result.score, result.timing, result.repeated, result.timestamps) == (
        clean.raw_hypothesis, clean.score, clean.timing, True, {"matched": 2})  # fmt: skip
    assert synthesis.case is receivers_case and synthesis.against is receiver
    assert synthesis.audio.size == 0 and spoken.audio.size == 22050  # the sender's audio untouched
    fields = ("judge", "judge_raw", "judge_score", "quality", "health", "sample_rate")
    assert [getattr(synthesis, f) for f in fields] == [getattr(spoken, f) for f in fields]
    assert perturbed.case is receivers_case and perturbed.against is receiver
    assert (perturbed.perturbation, perturbed.score, perturbed.recorded) == (
        noisy.perturbation,
        noisy.score,
        True,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_freed_buffer_is_kept_for_the_next_case_not_faulted_in_again():
    """Counted, not timed: the page faults of five 60 MB buffers (an engine's for one case, from
    C's malloc, as CTranslate2's are), each written and freed before the next. Handed back to the
    kernel, each would fault its 15,360 pages in again."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size = 60 * 2**20

    def one_case() -> None:
        buffer = libc.malloc(size)
        ctypes.memset(buffer, 1, size)
        libc.free(buffer)

    assert devices.keep_freed_memory() == "kept"
    one_case()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        one_case()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 1_000
