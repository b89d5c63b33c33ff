"""The slice gate: each slice's WER against the baseline's, corrected for the number of slices.

The baseline's figures of a slice are those of its stored hypotheses, scored against this run's
references (``measure.error_analysis``): the paired bootstrap of ``core.slices.compare`` needs them per
case. A check per slice: it fails when the WER rose by more than the WER tolerance **and** the
slice's p-value, corrected for the number of slices tested (Holm), is below 5%.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.settings import Tolerances
from ..core.slices import ALPHA, MIN_CASES, SliceChange, SliceFigures, compare, figures
from ..measure.error_analysis import case_errors, slice_groups, stored_errors
from ..measure.results import CaseResult
from .checks import Check

CORRECTION = "holm"
COMPARED = (
    "wer_before",
    "cer_before",
    "delta",
    "low",
    "high",
    "p_value",
    "p_adjusted",
    "tested",
    "regressed",
)


@dataclass(frozen=True)
class SliceTest:
    """The significance of one slice's change: its bootstrap, corrected for ``tested`` slices."""

    slice: SliceChange
    tested: int  # slices with enough cases to be tested: what the p-value is corrected for

    @property
    def significant(self) -> bool:
        return self.slice.tested and self.slice.p_adjusted < ALPHA

    def describe(self) -> str:
        s = self.slice
        head = f"{s.cases} case{'s' * (s.cases != 1)}, {s.words} words"
        if not s.tested:
            return f"{head}: fewer than {MIN_CASES} cases, not tested"
        return (
            f"{head}; change [{s.low:+.4f}, {s.high:+.4f}], p {s.p_value:.4f}, "
            f"{s.p_adjusted:.4f} corrected for {self.tested} slices ({CORRECTION.capitalize()})"
        )


@dataclass(frozen=True)
class SliceReport:
    """Each slice of a run: its figures, and its change against the baseline where it has one."""

    figures: tuple[SliceFigures, ...]
    changes: tuple[SliceChange, ...]  # the slices with cases the baseline has hypotheses of

    def rows(self) -> list[dict[str, Any]]:
        """One row a slice: this run's figures, then the baseline's and the test's where compared
        (``verdict``: FAIL where it regressed, pass, or None where not compared)."""
        changes = {c.name: c for c in self.changes}
        rows = []
        for f in self.figures:
            row = f.as_dict()
            change = changes.get(f.name)
            row["verdict"] = None
            if change is not None:
                compared = change.as_dict()
                row |= {k: compared[k] for k in COMPARED}
                row |= {"compared_cases": change.cases, "verdict": "FAIL" if change.regressed else "pass"}
            rows.append(row)
        return rows


def slice_report(results: Sequence[CaseResult], tol: Tolerances) -> SliceReport:
    """Each slice's figures and its change from the baseline's stored hypotheses to this run's;
    the cases without a stored hypothesis (or with an edited reference) are left out of the
    comparison, on both sides."""
    groups = slice_groups(results)
    before = {r.case.id: e for r in results if (e := stored_errors(r)) is not None}
    after = {r.case.id: case_errors(r) for r in results}
    changes = compare(groups, before, after, tolerance=tol.wer, method=CORRECTION)  # none without `before`
    return SliceReport(figures(groups, after), changes)


def slice_checks(changes: Sequence[SliceChange]) -> list[Check]:
    """One check per slice: passes within the tolerance, or beyond it by a change its corrected
    test cannot tell from noise (and always where the slice is too small to test)."""
    tested = sum(c.tested for c in changes)
    return [
        Check(
            f"slice {c.name} WER",
            c.wer_after,
            c.wer_before,
            c.wer_before + c.tolerance,
            f"+{c.tolerance:g} absolute",
            change=SliceTest(c, tested),
        )
        for c in changes
    ]
