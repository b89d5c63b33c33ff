"""Why the WER moved: a run's error analysis and what changed against its baseline.

Pure functions of the measured transcripts and the baseline's stored hypotheses (each scored
against this run's reference, ``measure.error_analysis``). The per-case change is what a failing case's
message shows first; the run's change, what a failing corpus shows first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.analysis import (
    CaseChange,
    CaseErrors,
    RunChange,
    RunErrors,
    compare_errors,
    describe_change,
    describe_run_change,
    run_change,
    run_errors,
)
from ..measure.error_analysis import case_errors, is_speech, stored_errors
from ..measure.results import CaseResult

ALL = 1 << 30  # "every entry" for the lists of ``as_dict``: the results file keeps everything
SHOWN_CASES = 3  # the changed cases a corpus failure shows in full


def case_change(result: CaseResult) -> CaseChange | None:
    """How the case's transcript changed from the baseline's stored hypothesis; None when it did
    not, or when there is nothing to compare with."""
    before = stored_errors(result)
    if before is None:
        return None
    change = compare_errors(before, case_errors(result))
    return change if change.changed else None


def what_changed(change: CaseChange | None) -> list[str]:
    return describe_change(change).splitlines() if change else []


@dataclass(frozen=True)
class RunAnalysis:
    """A run's errors and their change against the baseline, over its speech cases."""

    errors: RunErrors  # this run
    baseline: RunErrors | None  # the baseline's stored hypotheses of the same cases, if it has all
    change: RunChange | None  # None without any stored hypothesis to compare with
    cases: dict[str, CaseErrors]  # every measured case, speech or not
    changes: dict[str, CaseChange]  # the cases, speech or not, whose transcript changed

    def what_changed(self) -> list[str]:
        """The corpus's "what changed" lines; none when no transcript changed."""
        return _lines(self.change)

    def as_dict(self) -> dict[str, Any]:
        change = _whole(self.change) if self.change else None
        if change is not None:
            change.pop("cases")  # each case carries its own change
        return {
            "errors": _whole(self.errors),
            "baseline_errors": _whole(self.baseline) if self.baseline else None,
            "change": change,
        }


def _whole(record: RunErrors | RunChange) -> dict[str, Any]:
    """The record with every entry of its lists, as the results file keeps it."""
    return record.as_dict(top=ALL)  # pragma: no mutate  (top=None slices the lists as far as ALL)


def _lines(change: RunChange | None) -> list[str]:
    """The "what changed" lines of ``change``, its worst ``SHOWN_CASES`` cases in full; none when
    no transcript changed."""
    if change is None or not change.cases:
        return []
    return describe_run_change(change, cases=SHOWN_CASES).splitlines()


def change_over(results: Iterable[CaseResult]) -> RunChange:
    """What changed over these cases' speech, against the stored hypotheses of those that have one."""
    return run_change(
        compare_errors(before, case_errors(r))
        for r in results
        if is_speech(r) and (before := stored_errors(r)) is not None
    )


def describe_change_over(results: Iterable[CaseResult]) -> list[str]:
    return _lines(change_over(results))


def run_analysis(results: Sequence[CaseResult]) -> RunAnalysis:
    """The analysis of ``results`` (a run's measured cases, in manifest order)."""
    cases = {r.case.id: case_errors(r) for r in results}
    speech = [r for r in results if is_speech(r)]
    before = {r.case.id: e for r in speech if (e := stored_errors(r)) is not None}
    changes = {r.case.id: c for r in results if (c := case_change(r)) is not None}
    return RunAnalysis(
        errors=run_errors(cases[r.case.id] for r in speech),
        baseline=run_errors(before.values()) if speech and len(before) == len(speech) else None,
        change=change_over(speech) if before else None,
        cases=cases,
        changes=changes,
    )
