"""The slice test's line word for word (one case, several, tested), the rows a report shows for a
regressed slice, and the tolerance and baseline the comparison takes from the run."""

from __future__ import annotations

from pytest_speechlab.core.settings import Tolerances
from pytest_speechlab.core.slices import SliceChange, SliceFigures
from pytest_speechlab.gate.checks import FAIL, PASS
from pytest_speechlab.gate.slice_checks import SliceReport, slice_checks, slice_report

from .test_gate_why import staged_slice, toy_run

ONE = SliceChange("tag:x", 1, 12, 0.1, 0.2, 0.05, 0.1, 0.0, 0.3, 0.2, 1.0, False, False, 0.02)
TWO = SliceChange("tag:y", 2, 24, 0.1, 0.2, 0.05, 0.1, 0.0, 0.3, 0.2, 1.0, False, False, 0.02)
SIX = SliceChange("tag:z", 6, 72, 0.1, 0.3, 0.05, 0.1, 0.1, 0.3, 0.001, 0.003, True, True, 0.02)


def test_the_slice_line_counts_cases_in_the_singular_and_plural_and_says_its_test():
    one, two, six = slice_checks([ONE, TWO, SIX])
    assert one.change is not None and one.change.describe() == (
        "1 case, 12 words: fewer than 5 cases, not tested"
    )
    assert two.change is not None and two.change.describe() == (
        "2 cases, 24 words: fewer than 5 cases, not tested"
    )
    assert six.describe() == (
        "slice tag:z WER 0.3 exceeds limit 0.12 (baseline 0.1, tolerance +0.02 absolute), missed by 0.18; "
        "6 cases, 72 words; change [+0.1000, +0.3000], p 0.0010, 0.0030 corrected for 1 slices (Holm): "
        "significant"
    )
    assert (one.outcome, two.outcome, six.outcome) == (PASS, PASS, FAIL)
    assert one.tolerance == "+0.02 absolute"


def test_a_regressed_slice_row_says_fail_and_an_uncompared_one_no_verdict():
    figures = (SliceFigures("tag:z", 6, 72, 0.3, 0.1), SliceFigures("tag:w", 1, 3, 0.0, 0.0))
    report = SliceReport(figures, (SIX,))
    regressed, alone = report.rows()
    assert regressed == {
        "name": "tag:z", "cases": 6, "words": 72, "wer": 0.3, "cer": 0.1, "verdict": FAIL,
        "wer_before": 0.1, "cer_before": 0.05, "delta": 0.2, "low": 0.1, "high": 0.3, "p_value": 0.001,
        "p_adjusted": 0.003, "tested": True, "regressed": True, "compared_cases": 6,
    }  # fmt: skip
    assert alone == {"name": "tag:w", "cases": 1, "words": 3, "wer": 0.0, "cer": 0.0, "verdict": None}


def test_the_slices_are_compared_with_the_runs_wer_tolerance_and_not_without_a_baseline():
    cases, now, before = staged_slice()
    loose = slice_report(list(toy_run(cases, now, before).results.values()), Tolerances(wer=0.5))
    assert len(loose.changes) == 7
    assert all(c.tolerance == 0.5 and not c.regressed for c in loose.changes)  # +0.25 is within 0.5
    unbased = slice_report(list(toy_run(cases, now, None).results.values()), Tolerances())
    assert unbased.changes == () and len(unbased.figures) == 7
