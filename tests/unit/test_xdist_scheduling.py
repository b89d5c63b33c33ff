"""How xdist's workers share the cases: a case's tests in one group, found in the node id as it
is; the longest audio handed out first."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pytest_speechlab.core.case import Case
from pytest_speechlab.plugin.xdist import case_scope, group_cases

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
