"""Word-timestamp error: how far a model's word times are from a reference alignment.

Reference words (from a TextGrid, hand-labelled or forced-aligned) and hypothesis words, each
``(word, start_s, end_s)``, are normalised word by word and aligned by jiwer; only words aligned
as equal (hits) are compared, since a substituted word's time says little. Reported: how many
reference words were matched, the mean and 95th percentile of the absolute start and end
errors in milliseconds, and the share of matched words whose start and end are both within
100 ms (the collar common in alignment papers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jiwer
import numpy as np

from .metrics import normalize

Word = tuple[str, float, float]  # word, start and end in seconds
COLLAR_S = 0.100
SILENCE_LABELS = {"", "sil", "sp", "<sil>", "spn"}


def _tokens(words: Iterable[Word], norm: Callable[[str], str]) -> list[Word]:
    """Each word normalised on its own; one that becomes several tokens lends each its times,
    one that becomes nothing (a filler, punctuation) is dropped."""
    return [(token, start, end) for word, start, end in words for token in norm(word).split()]


@dataclass(frozen=True)
class Offset:
    """One matched word: hypothesis time minus reference time, in seconds."""

    word: str
    start: float
    end: float


def offsets(
    reference: Sequence[Word], hypothesis: Sequence[Word], norm: Callable[[str], str] = normalize
) -> tuple[list[Offset], int]:
    """The offsets of the words matched through the alignment, and the number of reference words."""
    ref, hyp = _tokens(reference, norm), _tokens(hypothesis, norm)
    if not ref or not hyp:
        return [], len(ref)
    out = jiwer.process_words(" ".join(w for w, _, _ in ref), " ".join(w for w, _, _ in hyp))
    matched = []
    for chunk in out.alignments[0]:
        if chunk.type == "equal":
            for k in range(chunk.ref_end_idx - chunk.ref_start_idx):
                (word, r0, r1), (_, h0, h1) = ref[chunk.ref_start_idx + k], hyp[chunk.hyp_start_idx + k]
                matched.append(Offset(word, float(h0 - r0), float(h1 - r1)))
    return matched, len(ref)


@dataclass(frozen=True)
class TimestampError:
    """Word-timestamp error over one or more cases."""

    reference_words: int
    matched: int
    start_mean_ms: float
    start_p95_ms: float
    end_mean_ms: float
    end_p95_ms: float
    within_100ms: float  # share of matched words with start and end both within the collar

    def describe(self) -> str:
        return (
            f"word timestamps: {self.matched} of {self.reference_words} words matched; start error mean "
            f"{self.start_mean_ms:.0f} ms, p95 {self.start_p95_ms:.0f} ms; end error mean "
            f"{self.end_mean_ms:.0f} ms, p95 {self.end_p95_ms:.0f} ms; {self.within_100ms:.0%} within 100 ms"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference_words": self.reference_words,
            "matched": self.matched,
            "start_mean_ms": round(self.start_mean_ms, 1),
            "start_p95_ms": round(self.start_p95_ms, 1),
            "end_mean_ms": round(self.end_mean_ms, 1),
            "end_p95_ms": round(self.end_p95_ms, 1),
            "within_100ms": round(self.within_100ms, 4),
        }


def summarize(matched: Sequence[Offset], reference_words: int) -> TimestampError:
    """Pool the offsets of any number of cases (means and percentiles over words)."""
    if not matched:
        return TimestampError(reference_words, 0, 0.0, 0.0, 0.0, 0.0, 0.0)
    start = np.abs([o.start for o in matched]) * 1000
    end = np.abs([o.end for o in matched]) * 1000
    within = np.mean((start <= COLLAR_S * 1000 + 1e-9) & (end <= COLLAR_S * 1000 + 1e-9))
    return TimestampError(
        reference_words,
        len(matched),
        float(start.mean()),
        float(np.percentile(start, 95)),
        float(end.mean()),
        float(np.percentile(end, 95)),
        float(within),
    )


def timestamp_error(
    reference: Sequence[Word], hypothesis: Sequence[Word], norm: Callable[[str], str] = normalize
) -> TimestampError:
    """The word-timestamp error of one case."""
    return summarize(*offsets(reference, hypothesis, norm))
