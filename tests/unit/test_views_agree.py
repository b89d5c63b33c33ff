"""What every view of a verdict says alike: which outcomes fail a run, why a figure beyond its
limit still passes, how the model differs from the baseline's, and how two compared runs differ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_speechlab.core.case import Case
from pytest_speechlab.core.metrics import Timing, score
from pytest_speechlab.core.stats import Change
from pytest_speechlab.gate.assertions import assert_wer_within_baseline
from pytest_speechlab.gate.checks import ERROR, FAIL, FAILING, INCONCLUSIVE, NEW, PASS, STALE, Check, Load
from pytest_speechlab.gate.verdicts import Part, RunVerdict, case_part
from pytest_speechlab.measure.results import CaseResult, text_digest
from pytest_speechlab.report.compare import compare
from pytest_speechlab.report.markdown import _row
from pytest_speechlab.store.baselines import Baseline, Comparison

from .test_html_report import _run, render


def _corpus_wer(measured: float, low: float) -> Check:
    """Corpus WER 0.10 -> ``measured`` against a limit of 0.12, its bootstrap's lower bound ``low``."""
    change = Change(0.10, measured, low, measured - 0.05, 20, 3)
    return Check("corpus WER", measured, 0.10, 0.12, "+0.02 absolute", change=change)


def test_only_fail_error_and_re_record_fail_a_run():
    assert FAILING == {FAIL, ERROR, STALE}
    assert not FAILING & {PASS, NEW, INCONCLUSIVE}


def test_a_part_to_re_record_counts_as_failing_in_the_terminal_as_in_the_exit_status():
    def verdict(outcome: str) -> RunVerdict:
        return RunVerdict(outcome, {"c1": Part(outcome, ["why"])}, {}, None, [], [], [])

    assert verdict(STALE).fails and verdict(FAIL).fails and verdict(ERROR).fails
    assert not verdict(PASS).fails and not verdict(INCONCLUSIVE).fails


def test_a_figure_beyond_its_limit_says_why_it_still_passes():
    noise = _corpus_wer(0.14, -0.01)  # beyond 0.12, an interval that does not exclude no change
    assert noise.outcome == PASS and noise.outcome_note == "beyond the limit, not significant"
    assert _corpus_wer(0.14, 0.01).outcome == FAIL and _corpus_wer(0.14, 0.01).outcome_note == ""
    assert _corpus_wer(0.11, -0.01).outcome_note == ""  # within: nothing to explain
    loaded = Check("fastest latency ms", 300.0, 100.0, 150.0, "+50%", load=Load(0.6))
    assert loaded.outcome == INCONCLUSIVE and loaded.outcome_note.startswith("beyond the limit under load")
    cpu = Check("fastest CPU ms", 90.0, 100.0, 150.0, "+50%")
    judged = Check("fastest latency ms", 300.0, 100.0, 150.0, "+50%", load=Load(0.6), cost=cpu)
    assert judged.outcome == PASS and judged.outcome_note.endswith("judged by its CPU time")


def test_the_markdown_row_and_the_results_file_say_it_beside_the_outcome():
    noise = _corpus_wer(0.14, -0.01)
    row = _row(noise)
    assert "| pass: beyond the limit, not significant (limit 0.1200, +0.02 absolute) |" in row
    assert noise.to_json()["note"] == "beyond the limit, not significant"
    assert "| **FAIL** (limit" in _row(_corpus_wer(0.14, 0.01))


def test_the_html_report_shows_the_identity_differences_and_each_corpus_check():
    noise = _corpus_wer(0.14, -0.01).to_json()
    verdict = {
        "overall": "pass",
        "failures": [],
        "identity_differences": ["compute_type: 'float32' in the baseline, 'int8' in this run"],
        "unused_baseline_entries": ["gone_case"],
    }
    run = _run("faster_whisper", [], verdict=verdict)
    run["corpus"]["outcomes"] = [noise]
    page = render([run])
    assert "model differs from the baseline&#x27;s" in page or "model differs from the baseline's" in page
    assert "compute_type: &#x27;float32&#x27; in the baseline, &#x27;int8&#x27; in this run" in page
    assert "gone_case" in page
    assert '<h2 id="the-corpus-against-the-baseline">The corpus against the baseline</h2>' in page
    assert "beyond the limit, not significant" in page and "not significant, passes" in page


def _document(options: dict[str, Any], compute_type: str) -> dict[str, Any]:
    case = {"id": "c1", "reference": "ten of clubs", "hypothesis": "ten of clubs", "wer": 0.0, "cer": 0.0}
    identity = {"model_id": "tiny.en", "compute_type": compute_type, "options": options}
    return {"model": "faster_whisper", "device": "cpu", "identity": identity, "cases": [case]}


def test_compare_says_first_how_the_two_runs_models_differ():
    a = _document({"beam_size": 5}, "float32")
    b = _document({"beam_size": 1}, "int8")
    text = "\n".join(compare(a, b, ("a.json", "b.json")))
    assert "A and B differ in what produced them:" in text
    assert "  compute_type: 'float32' in A, 'int8' in B" in text
    assert "  option beam_size: 5 in A, 1 in B" in text
    assert text.index("differ in what produced them") < text.index("WER A")
    markdown = compare(a, b, ("a", "b"), markdown=True)
    assert "- option beam_size: 5 in A, 1 in B" in markdown
    assert "differ in what produced them" not in "\n".join(compare(a, a, ("a", "a")))


# --- one decision: a test's outcome is its part of the verdict -----------------------------------

WORDS = "the quick brown fox jumps over a lazy dog".split()


@settings(max_examples=60, deadline=None)
@given(
    heard=st.lists(st.sampled_from([*WORDS, "cat", "ships"]), min_size=0, max_size=12),
    stored_wer=st.one_of(st.none(), st.floats(0, 1.5)),
    edited=st.booleans(),
    new_cases=st.sampled_from(["fail", "pass"]),
)
def test_a_case_test_fails_skips_or_passes_exactly_as_its_part_of_the_verdict(
    heard: list[str], stored_wer: float | None, edited: bool, new_cases: str
):
    """Staged baselines of every kind (none, stricter, looser, of an edited reference): the WER
    test raises exactly where the case's part of the run's verdict fails, with its lines."""
    text = " ".join(WORDS)
    case = Case(id="c", audio=Path("c.wav"), text=text, duration_s=2.0)
    entries = {}
    if stored_wer is not None:
        entries["c"] = {
            "wer": stored_wer,
            "reference_sha256": text_digest(text + (" edited" if edited else "")),
        }
    against = Comparison(
        "toy on cpu", Path("cpu.json"), Baseline(Path("cpu.json"), entries), new_cases=new_cases
    )
    hypothesis = " ".join(heard)
    result = CaseResult(case, hypothesis, score(text, hypothesis), Timing((0.5,)), against)
    part = case_part(result, ("wer", "timestamps"))
    try:
        assert_wer_within_baseline(result)
        outcome = PASS
    except pytest.fail.Exception as failed:
        outcome = FAIL
        message = str(failed)
    if part.verdict in FAILING or (part.verdict == NEW and new_cases == "fail"):
        assert outcome == FAIL
        assert all(line in message for line in part.why) or part.verdict == NEW
    else:
        assert outcome == PASS and part.verdict in (PASS, NEW)
