"""Is a corpus change real? Paired bootstraps over cases, seeded: corpus WER and latency.

With a few dozen cases one word is a point or more of corpus WER, so a fixed tolerance alone
either misses real regressions or fails on noise. Each case is scored twice, against its
baseline hypothesis and against this run's (paired: the same case, the same reference), and
cases are resampled with replacement; the spread of the corpus WER difference over the
resamples is the interval. A regression fails the gate only when the change is beyond the
tolerance **and** the interval's lower bound is above zero: many cases moved, not one word.
"""

from __future__ import annotations

from dataclasses import dataclass

import jiwer
import numpy as np

SEED = 20240917  # fixed: the same run gives the same interval, in CI and on a laptop
RESAMPLES = 2000
CONFIDENCE = 0.95  # one-sided: the lower bound is the 5th percentile of the differences


@dataclass(frozen=True)
class Paired:
    """Word errors of each case before (baseline) and after (this run), on the same references."""

    words: np.ndarray  # reference words per case
    before: np.ndarray  # word errors per case, baseline hypothesis
    after: np.ndarray  # word errors per case, this run


@dataclass(frozen=True)
class Change:
    """The corpus WER change, baseline to this run, with its bootstrap interval."""

    before: float
    after: float
    low: float  # one-sided lower bound of the change at CONFIDENCE
    high: float  # the matching upper bound (the interval shown is [low, high], 90% two-sided)
    cases: int
    changed_cases: int
    metric: str = "WER"
    # one-sided: the share of resamples that show no regression, (k + 1) / (resamples + 1), so
    # that several tests (slices) can be corrected for their number
    p_value: float = 1.0

    @property
    def delta(self) -> float:
        return self.after - self.before

    @property
    def significant(self) -> bool:
        """The interval excludes zero on the side of a regression."""
        return self.low > 0

    def describe(self) -> str:
        return (
            f"corpus {self.metric} change {self.delta:+.4f} [{self.low:+.4f}, {self.high:+.4f}] "
            f"({CONFIDENCE:.0%} one-sided bootstrap over {self.cases} cases, "
            f"{self.changed_cases} changed)"
        )


def word_errors(reference: str, hypothesis: str) -> int:
    """Substitutions, deletions and insertions of two normalised texts (jiwer)."""
    out = jiwer.process_words(reference, hypothesis)
    return out.substitutions + out.deletions + out.insertions


def char_errors(reference: str, hypothesis: str) -> int:
    """Character substitutions, deletions and insertions of two normalised texts (jiwer)."""
    out = jiwer.process_characters(reference, hypothesis)
    return out.substitutions + out.deletions + out.insertions


def paired(references: list[str], before: list[str], after: list[str], unit: str = "word") -> Paired:
    """Score both hypotheses of each speech case (non-empty reference) against its reference, in
    words or in characters (``unit="char"``, for corpus CER: jiwer counts the spaces too)."""
    errors, size = (word_errors, lambda r: len(r.split())) if unit == "word" else (char_errors, len)
    rows = [(r, b, a) for r, b, a in zip(references, before, after, strict=True) if r.strip()]
    return Paired(
        words=np.array([size(r) for r, _, _ in rows], dtype=float),
        before=np.array([errors(r, b) for r, b, _ in rows], dtype=float),
        after=np.array([errors(r, a) for r, _, a in rows], dtype=float),
    )


def bootstrap(data: Paired, resamples: int = RESAMPLES, seed: int = SEED, metric: str = "WER") -> Change:
    """The corpus WER change and its interval from ``resamples`` case resamples."""
    n = len(data.words)
    total = float(data.words.sum())
    before = float(data.before.sum()) / total if total else 0.0
    after = float(data.after.sum()) / total if total else 0.0
    if n == 0 or total == 0:
        return Change(before, after, 0.0, 0.0, n, 0, metric)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(resamples, n))
    words = data.words[picks].sum(axis=1)
    diffs = (data.after[picks].sum(axis=1) - data.before[picks].sum(axis=1)) / np.maximum(words, 1)
    tail = (1 - CONFIDENCE) * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    changed = int(np.count_nonzero(data.after != data.before))
    p_value = (np.count_nonzero(diffs <= 0) + 1) / (resamples + 1)
    return Change(before, after, float(low), float(high), n, changed, metric, float(p_value))


@dataclass(frozen=True)
class Slowdown:
    """The latency subset's total time over the baseline's, with its bootstrap interval."""

    ratio: float
    low: float
    high: float
    expected: float  # the ratio the machine calibration explains (>= 1)
    cases: int

    @property
    def significant(self) -> bool:
        """Slower than the calibration explains, in most resamples: many cases, not one."""
        return self.low > self.expected

    def describe(self) -> str:
        return (
            f"latency ratio x{self.ratio:.2f} [x{self.low:.2f}, x{self.high:.2f}] "
            f"({CONFIDENCE:.0%} one-sided bootstrap over {self.cases} cases, x{self.expected:.2f} expected)"
        )


def slowdown(
    before: np.ndarray, after: np.ndarray, expected: float, resamples: int = RESAMPLES, seed: int = SEED
) -> Slowdown:
    """Paired per-case times (baseline, this run) resampled over cases: the total time ratio.

    One case that ran slow (a noisy neighbour during its runs) moves the total but not the
    interval's lower bound; a slower model moves every case."""
    n = len(before)
    ratio = float(after.sum()) / float(before.sum()) if n and before.sum() else 1.0
    if n == 0:
        return Slowdown(ratio, ratio, ratio, expected, 0)
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    ratios = after[picks].sum(axis=1) / np.maximum(before[picks].sum(axis=1), 1e-12)
    tail = (1 - CONFIDENCE) * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return Slowdown(ratio, float(low), float(high), expected, n)
