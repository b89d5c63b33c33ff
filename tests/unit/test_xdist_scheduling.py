"""How xdist's workers share the cases: a case's tests in one group, found in the node id as it
is; the longest audio handed out first; the controller's model loaded while the last worker runs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from pytest_speechlab.core.case import Case
from pytest_speechlab.core.settings import Settings
from pytest_speechlab.engines import ModelIdentity
from pytest_speechlab.measure.run import AudioCache, ModelRun
from pytest_speechlab.plugin.xdist import case_scope, group_cases, load_for_timing
from pytest_speechlab.store.baselines import Comparison

IDS = frozenset({"cards_001", "jfk", "a.b", "cpu_talk"})


def test_a_cases_tests_share_one_group_and_a_run_wide_test_is_its_own():
    assert case_scope("s/test_asr.py::test_wer[faster_whisper-cpu-cards_001]", IDS) == "case cards_001"
    assert case_scope("s/test_asr.py::test_cer[faster_whisper-cpu-cards_001]", IDS) == "case cards_001"
    assert case_scope("s/test_rob.py::test_robustness[whisper-cuda:0-jfk-noise]", IDS) == "case jfk"
    assert case_scope("s/test_asr.py::test_wer[m-cpu-a.b]", IDS) == "case a.b"
    corpus = "s/test_asr.py::test_corpus[faster_whisper-cpu]"
    assert case_scope(corpus, IDS) == corpus  # "cpu" is no case of this manifest
    assert case_scope("s/test_x.py::test_plain", IDS) == "s/test_x.py::test_plain"
    assert case_scope("s/test_x.py::test_mine[1]@db", IDS) == "db"  # a user's own xdist_group


def item(nodeid: str, case: Case | None = None) -> Any:
    params = {"speech_case": case} if case else {}
    return SimpleNamespace(nodeid=nodeid, callspec=SimpleNamespace(params=params))


def test_workers_take_the_longest_audio_first_each_case_together_run_wide_tests_last():
    short, long = (
        Case("short", Path("s.wav"), "a", duration_s=1.0),
        Case("long", Path("l.wav"), "b", duration_s=60.0),
    )
    items = [
        item("t::test_wer[m-short]", short),
        item("t::test_corpus[m]"),
        item("t::test_wer[m-long]", long),
        item("t::test_cer[m-short]", short),
        item("t::test_cer[m-long]", long),
    ]
    group_cases(items)
    assert [i.nodeid for i in items] == [
        "t::test_wer[m-long]",
        "t::test_cer[m-long]",
        "t::test_wer[m-short]",
        "t::test_cer[m-short]",
        "t::test_corpus[m]",
    ]


class ToyCountedEngine:
    """A toy engine for the controller's control flow only: it counts its loads and hears "a"."""

    name = "toy_counted"
    tasks: ClassVar[tuple[str, ...]] = ("asr",)
    sample_rate = 16000
    default_options: ClassVar[dict[str, Any]] = {}
    identity = ModelIdentity("toy 0", "toy", "none", "none", "cpu", "none")
    loads = 0

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> ToyCountedEngine:
        cls.loads += 1
        return cls()

    def transcribe(self, audio: np.ndarray, language: str | None) -> str:
        return "a"


def test_the_controller_loads_a_model_once_a_worker_has_measured_a_case_it_will_time():
    cases = (Case("timed", Path("t.wav"), "a", tags=("latency",)), Case("plain", Path("p.wav"), "a"))
    nowhere = Comparison("toy on cpu", Path("b.json"), None)

    def run(measured: str, skip: str | None = None) -> ModelRun:
        made = ModelRun(
            "toy", "cpu", ToyCountedEngine, Settings(warmup=0), cases, AudioCache(), nowhere, skip
        )
        made.results[measured] = None  # type: ignore[assignment]  # only which cases came back counts
        return made

    timed, plain, skipped = run("timed"), run("plain"), run("timed", skip="no such device")
    speech: Any = SimpleNamespace(runs=[timed, plain, skipped])
    load_for_timing(speech)  # the first worker done
    load_for_timing(speech)  # the second: nothing more
    assert ToyCountedEngine.loads == 1 and timed.identity is not None  # loaded ahead of the timing
    assert plain.identity is None and skipped.identity is None  # nothing of theirs to time here
