"""Slices: the corpus cut by what its cases share, each slice gated against its baseline.

Regressions hide in averages: a model that gets worse only on telephone audio, or on one
speaker, can leave the corpus WER within its tolerance. So cases are grouped (by any manifest
tag, by speaker, by language, by duration and by sample rate), and each slice's WER change is
tested as the corpus's is: the paired bootstrap of ``stats`` over the slice's cases. With a
dozen slices, one would pass the 5% level by chance now and then, so the p-values are corrected
for their number: Holm (the default: the family-wise error stays at 5%, under any dependence
between overlapping slices) or Benjamini-Hochberg (the false discovery rate; more slices flagged).
A slice regresses when its WER rose beyond the tolerance and the corrected p-value is below 5%.

A slice of fewer than ``MIN_CASES`` speech cases is reported but not tested: resampling two
cases says nothing about a third, and the bootstrap would call one changed word significant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .analysis import CaseErrors
from .case import Case
from .stats import CONFIDENCE, Paired, bootstrap

Grouping = Callable[[Case], Iterable[str]]
MIN_CASES = 5
ALPHA = 1 - CONFIDENCE
DURATION_EDGES = (5.0, 10.0, 30.0)  # seconds; 30 s is one Whisper window: longer is long-form


def by_tag(case: Case) -> list[str]:
    return [f"tag:{t}" for t in case.tags]


def by_speaker(case: Case) -> list[str]:
    return [f"speaker:{case.speaker}"] if case.speaker else []


def by_language(case: Case) -> list[str]:
    return [f"language:{case.language}"] if case.language else []


def by_duration(case: Case, edges: Sequence[float] = DURATION_EDGES) -> list[str]:
    """One bucket per case: ``duration:0-5s``, ``duration:5-10s``, ... ``duration:30s+``."""
    low = 0.0
    for edge in edges:
        if case.duration_s < edge:
            return [f"duration:{low:g}-{edge:g}s"]
        low = edge
    return [f"duration:{low:g}s+"]


def by_sample_rate(case: Case) -> list[str]:
    """The file's own rate, from its header (the ``srNNNN`` tags are a convention only)."""
    return [f"rate:{case.sample_rate}"] if case.sample_rate else []


GROUPINGS: tuple[Grouping, ...] = (by_tag, by_speaker, by_language, by_duration, by_sample_rate)


def group(cases: Iterable[Case], groupings: Iterable[Grouping] = GROUPINGS) -> dict[str, tuple[str, ...]]:
    """Slice name to the ids of its cases, in manifest order; a case may be in many slices."""
    slices: dict[str, list[str]] = {}
    groupings = tuple(groupings)
    for case in cases:
        for name in dict.fromkeys(name for grouping in groupings for name in grouping(case)):
            slices.setdefault(name, []).append(case.id)
    return {name: tuple(ids) for name, ids in sorted(slices.items())}


@dataclass(frozen=True)
class SliceFigures:
    """One slice of one run: its speech cases, reference words, WER and CER."""

    name: str
    cases: int
    words: int
    wer: float
    cer: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cases": self.cases,
            "words": self.words,
            "wer": round(self.wer, 6),
            "cer": round(self.cer, 6),
        }


def _speech(ids: Iterable[str], *runs: Mapping[str, CaseErrors]) -> list[str]:
    """The ids scored in every run whose reference is not empty (WER is over speech cases)."""
    return [i for i in ids if all(i in run for run in runs) and runs[0][i].reference]


def _rates(ids: Sequence[str], run: Mapping[str, CaseErrors]) -> tuple[int, float, float]:
    words = sum(run[i].words.reference_length for i in ids)
    chars = sum(run[i].chars.reference_length for i in ids)
    wer = sum(run[i].words.errors for i in ids) / words if words else 0.0
    cer = sum(run[i].chars.errors for i in ids) / chars if chars else 0.0
    return words, wer, cer


def figures(groups: Mapping[str, Sequence[str]], run: Mapping[str, CaseErrors]) -> tuple[SliceFigures, ...]:
    """WER and CER of each slice with speech cases, from per-case errors (``analysis.case_errors``)."""
    out = []
    for name, ids in groups.items():
        speech = _speech(ids, run)
        if speech:
            out.append(SliceFigures(name, len(speech), *_rates(speech, run)))
    return tuple(out)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: the i-th smallest of m p-values times (m - i), kept monotone."""
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda k: p_values[k])):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def adjust(p_values: Sequence[float], method: str = "holm") -> list[float]:
    """``holm`` or ``bh`` (Benjamini-Hochberg, scipy's ``false_discovery_control``)."""
    if not p_values:
        return []
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        from scipy.stats import false_discovery_control

        return [float(p) for p in false_discovery_control(np.asarray(p_values, dtype=float), method="bh")]
    raise ValueError(f"unknown correction {method!r} (use holm or bh)")


@dataclass(frozen=True)
class SliceChange:
    """One slice, baseline to this run: figures, the WER change with its bootstrap interval and
    p-value, the p-value corrected for the number of slices tested, and the verdict."""

    name: str
    cases: int
    words: int
    wer_before: float
    wer_after: float
    cer_before: float
    cer_after: float
    low: float
    high: float
    p_value: float
    p_adjusted: float
    tested: bool  # enough cases for the significance test
    regressed: bool  # beyond the tolerance and significant after correction
    tolerance: float

    @property
    def delta(self) -> float:
        return self.wer_after - self.wer_before

    def describe(self) -> str:
        head = (
            f"{self.name}: WER {self.wer_before:.4f} -> {self.wer_after:.4f} ({self.delta:+.4f}) "
            f"over {self.cases} case{'s' * (self.cases != 1)}, {self.words} words"
        )
        if not self.tested:
            return f"{head}; too few cases to test (fewer than {MIN_CASES})"
        verdict = "regressed" if self.regressed else "passes"
        return (
            f"{head}; [{self.low:+.4f}, {self.high:+.4f}], p {self.p_value:.4f}, "
            f"corrected {self.p_adjusted:.4f}, tolerance +{self.tolerance:g}: {verdict}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cases": self.cases,
            "words": self.words,
            "wer_before": round(self.wer_before, 6),
            "wer_after": round(self.wer_after, 6),
            "cer_before": round(self.cer_before, 6),
            "cer_after": round(self.cer_after, 6),
            "delta": round(self.delta, 6),
            "low": round(self.low, 6),
            "high": round(self.high, 6),
            "p_value": round(self.p_value, 6),
            "p_adjusted": round(self.p_adjusted, 6),
            "tested": self.tested,
            "regressed": self.regressed,
            "tolerance": self.tolerance,
        }


def compare(
    groups: Mapping[str, Sequence[str]],
    before: Mapping[str, CaseErrors],
    after: Mapping[str, CaseErrors],
    tolerance: float = 0.02,
    method: str = "holm",
    min_cases: int = MIN_CASES,
) -> tuple[SliceChange, ...]:
    """Each slice's change from the baseline's per-case errors to this run's (same references).

    Cases missing from either side are left out, as are non-speech cases."""
    rows = []
    for name, ids in groups.items():
        speech = _speech(ids, before, after)
        if not speech:
            continue
        data = Paired(
            words=np.array([after[i].words.reference_length for i in speech], dtype=float),
            before=np.array([before[i].words.errors for i in speech], dtype=float),
            after=np.array([after[i].words.errors for i in speech], dtype=float),
        )
        rows.append((name, speech, bootstrap(data)))
    tested = [len(speech) >= min_cases for _, speech, _ in rows]
    corrected = iter(
        adjust([change.p_value for (_, _, change), t in zip(rows, tested, strict=True) if t], method)
    )
    out = []
    for (name, speech, change), is_tested in zip(rows, tested, strict=True):
        words, wer_before, cer_before = _rates(speech, before)
        _, wer_after, cer_after = _rates(speech, after)
        p_adjusted = next(corrected) if is_tested else 1.0
        regressed = is_tested and wer_after - wer_before > tolerance and p_adjusted < ALPHA
        out.append(
            SliceChange(
                name,
                len(speech),
                words,
                wer_before,
                wer_after,
                cer_before,
                cer_after,
                change.low,
                change.high,
                change.p_value,
                p_adjusted,
                is_tested,
                regressed,
                tolerance,
            )
        )
    return tuple(out)
