"""The built-in promotion vetoes as a pure function of the run's results: each reason staged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_speechlab.core.manifest import Case
from pytest_speechlab.gate.promotion import Evidence, builtin_vetoes
from pytest_speechlab.store.registry import Entry

CASES = (
    Case(id="a", audio=Path("a.wav"), text="hello world"),
    Case(id="b", audio=Path("b.wav"), text="good morning"),
    Case(id="quiet", audio=Path("q.wav"), text="", tags=("nonspeech",)),
)


def run(**changes: Any) -> dict[str, Any]:
    """The results JSON of a passing run on every case (see report/results_file.py)."""
    data: dict[str, Any] = {
        "model": "m",
        "device": "cpu",
        "skipped": None,
        "verdict": {"overall": "pass", "failures": [], "identity_differences": []},
        "corpus": {"wer": 0.1, "cer": 0.05, "rtf": 0.2, "hallucination_rate": 0.0},
        "cases": [{"id": c.id, "latency_ms": {"median": 10.0, "runs": 1}} for c in CASES],
        "tts_cases": [],
    }
    data.update(changes)
    return data


def evidence(
    *runs: dict[str, Any], target: str = "candidate", entry: Entry | None = None, **extra: Any
) -> Evidence:
    return Evidence("m", target, entry or Entry("m"), list(runs), CASES, **extra)


def test_a_clean_run_is_not_vetoed():
    assert builtin_vetoes(evidence(run()), ("asr",)) == []


@pytest.mark.parametrize(
    ("staged", "reason"),
    [
        ({"failed_tests": ["t1", "t2"]}, "2 test(s) failed: t1, t2"),
        ({"exitstatus": 2}, "the run ended with exit status 2"),
        ({"deselected": 3}, "3 test(s) deselected (-k/-m): a promotion runs the whole suite"),
    ],
)
def test_the_session_itself_can_veto(staged, reason):
    assert builtin_vetoes(evidence(run(), **staged), ("asr",)) == [reason]


def test_no_run_and_a_skipped_run_are_vetoed():
    assert builtin_vetoes(evidence(), ("asr",)) == ["no run of the model"]
    skipped = builtin_vetoes(evidence(run(skipped="no GPU")), ("asr",))
    assert skipped == ["m on cpu was skipped: no GPU"]


@pytest.mark.parametrize("overall", ["FAIL", "ERROR", "re-record", "new", "INCOMPLETE"])
def test_any_verdict_but_pass_is_vetoed_with_its_lines(overall):
    verdict = {"overall": overall, "failures": ["a: WER 0.5 exceeds limit 0.12"], "identity_differences": []}
    reasons = builtin_vetoes(evidence(run(verdict=verdict)), ("asr",))
    assert reasons == [
        f"m on cpu: the gate's verdict is {overall}",
        "m on cpu: a: WER 0.5 exceeds limit 0.12",
    ]


def test_inconclusive_asks_for_a_quiet_machine():
    verdict = {"overall": "inconclusive", "failures": [], "identity_differences": []}
    reasons = builtin_vetoes(evidence(run(verdict=verdict)), ("asr",))
    assert reasons == [
        "m on cpu: the gate's verdict is inconclusive (re-run where no other process competes for the CPU)"
    ]


def test_baselines_of_another_model_are_vetoed():
    verdict = {
        "overall": "pass",
        "failures": [],
        "identity_differences": ["compute_type: 'a' in the baseline"],
    }
    reasons = builtin_vetoes(evidence(run(verdict=verdict)), ("asr",))
    assert reasons == [
        "m on cpu: the baselines were recorded under another model: compute_type: 'a' in the baseline"
    ]


def test_results_must_cover_the_manifest():
    partial = run(cases=[{"id": "a", "latency_ms": {"median": 1.0}}])
    reasons = builtin_vetoes(evidence(partial), ("asr",))
    assert reasons == ["m on cpu: speech-to-text results cover 1 of 3 manifest cases (missing b, quiet)"]
    spoken = builtin_vetoes(evidence(run(tts_cases=[{"id": "a", "rtf": 0.1}])), ("tts",))
    assert spoken == ["m on cpu: text-to-speech results cover 1 of 2 manifest texts (missing b)"]


@pytest.mark.parametrize(
    ("metric", "limit", "value", "vetoed"),
    [("wer", 0.05, 0.1, True), ("wer", 0.1, 0.1, False), ("hallucination_rate", 0.0, 0.5, True)],
)
def test_ceilings_of_the_target_status(metric, limit, value, vetoed):
    entry = Entry("m", thresholds={"ceilings": {"production": {metric: limit}}})
    corpus = {"wer": 0.1, "cer": 0.05, "rtf": 0.2, metric: value}
    reasons = builtin_vetoes(evidence(run(corpus=corpus), target="production", entry=entry), ("asr",))
    expected = [f"m on cpu: corpus {metric.upper()} {value:.4f} above the production ceiling {limit:g}"]
    assert reasons == (expected if vetoed else [])
    # a ceiling for another status does not apply
    assert builtin_vetoes(evidence(run(corpus=corpus), target="candidate", entry=entry), ("asr",)) == []


def test_a_ceiling_with_no_figure_is_vetoed():
    entry = Entry("m", thresholds={"ceilings": {"candidate": {"hallucination_rate": 0.1}}})
    corpus = {"wer": 0.1, "cer": 0.05, "rtf": 0.2, "hallucination_rate": None}
    reasons = builtin_vetoes(evidence(run(corpus=corpus), entry=entry), ("asr",))
    assert reasons == ["m on cpu: no corpus hallucination_rate measured for the candidate ceiling"]
