"""Error rates and latency statistics.

Text is normalised with openai-whisper's ``EnglishTextNormalizer`` (the normaliser the Open
ASR Leaderboard uses; vendored in ``normalizers/``) and scored with jiwer. The normaliser's and
the scorer's identities go into every result and baseline: another normaliser or scorer makes
WERs incomparable.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from typing import Any

import jiwer

NORMALIZER_RELEASE = "20250625"  # the openai-whisper release the vendored normaliser comes from


@cache
def normalizer() -> Callable[[str], str]:
    from .normalizers.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalizer_id() -> str:
    """The normaliser's identity, recorded with every figure: Whisper's English normaliser of one
    openai-whisper release (vendored, so it needs neither torch nor openai-whisper)."""
    return f"whisper.EnglishTextNormalizer (openai-whisper {NORMALIZER_RELEASE})"


@cache
def scorer_id() -> str:
    """The scorer's identity: jiwer's version. Figures of another major version are not compared."""
    return f"jiwer {version('jiwer')}"


def normalize(text: str) -> str:
    return normalizer()(text)


@dataclass(frozen=True)
class Score:
    """Word and character errors of one hypothesis against one reference (normalised)."""

    reference: str
    hypothesis: str
    wer: float
    cer: float
    hits: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def reference_words(self) -> int:
        return self.hits + self.substitutions + self.deletions


def score(reference: str, hypothesis: str) -> Score:
    """Score raw texts. With an empty reference (non-speech audio), the WER is the number of
    words emitted, as jiwer counts it: any output there is a hallucination."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    words = jiwer.process_words(ref, hyp)
    chars = jiwer.process_characters(ref, hyp)
    return Score(
        reference=ref,
        hypothesis=hyp,
        wer=float(words.wer),
        cer=float(chars.cer),
        hits=words.hits,
        substitutions=words.substitutions,
        deletions=words.deletions,
        insertions=words.insertions,
    )


def corpus_scores(references: list[str], hypotheses: list[str]) -> tuple[float, float]:
    """Corpus WER and CER over already normalised texts: errors summed over every word of every
    case, divided by all reference words (not a mean of per-case rates)."""
    if not references:
        return 0.0, 0.0
    wer = jiwer.process_words(references, hypotheses).wer
    cer = jiwer.process_characters(references, hypotheses).cer
    return float(wer), float(cer)


def alignment(reference: str, hypothesis: str) -> str:
    """jiwer's word alignment of two normalised texts, for failure messages."""
    if not reference and not hypothesis:
        return "REF: (empty)\nHYP: (empty)"
    out = jiwer.process_words(reference, hypothesis)
    text = jiwer.visualize_alignment(out, show_measures=False, skip_correct=False)
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("===")]
    return "\n".join(lines)


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated runs of the same work, after warm-up, with the conditions
    of each run: the calibration round timed just before it and the share of the machine's CPU
    that other processes used during it (``calibration``; empty or None where not measured).

    ``cpu`` is the process's CPU seconds during each run: with engine threads that wait without
    spinning (``devices.passive_waiting``) it counts the work done, not the time others held the
    cores, so it holds on a loaded machine where wall time does not. ``calibration_cpu`` is the
    calibration round's CPU seconds, which scale it across machines. ``retimed``: extra rounds
    timed because the first ones were taken under load."""

    runs: tuple[float, ...]
    calibration: tuple[float, ...] = ()
    others_cpu: tuple[float | None, ...] = ()
    cpu: tuple[float, ...] = ()
    calibration_cpu: tuple[float, ...] = ()
    retimed: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def min(self) -> float:
        return min(self.runs)

    @property
    def max(self) -> float:
        return max(self.runs)

    @property
    def calibration_min(self) -> float | None:
        """The fastest calibration round beside these runs: the machine's speed at its best."""
        return min(self.calibration) if self.calibration else None

    @property
    def cpu_min(self) -> float | None:
        """The least CPU time of the runs: the work itself, with the least interference."""
        return min(self.cpu) if self.cpu else None

    @property
    def calibration_cpu_min(self) -> float | None:
        return min(self.calibration_cpu) if self.calibration_cpu else None

    @property
    def fastest_others_cpu(self) -> float | None:
        """The share of the CPU others took during the fastest run (the one a latency check reads)."""
        if not self.others_cpu:
            return None
        return self.others_cpu[self.runs.index(self.min)]

    def joined(self, more: Timing) -> Timing:
        """These runs and ``more``'s, as one timing re-timed once more (its fastest run may be new)."""
        return Timing(
            self.runs + more.runs,
            self.calibration + more.calibration,
            self.others_cpu + more.others_cpu,
            self.cpu + more.cpu,
            self.calibration_cpu + more.calibration_cpu,
            self.retimed + 1,
        )

    @property
    def others_cpu_median(self) -> float | None:
        known = [s for s in self.others_cpu if s is not None]
        return statistics.median(known) if known else None

    def as_ms(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "median": round(self.median * 1000, 2),
            "min": round(self.min * 1000, 2),
            "max": round(self.max * 1000, 2),
            "runs": len(self.runs),
            "all": [round(t * 1000, 2) for t in self.runs],
        }
        if self.calibration:
            out["calibration_min"] = round(min(self.calibration) * 1000, 3)
        share = self.others_cpu_median
        if share is not None:
            out["others_cpu"] = round(share, 3)
        if self.cpu:
            out["cpu_min"] = round(min(self.cpu) * 1000, 2)
            out["cpu_all"] = [round(t * 1000, 2) for t in self.cpu]
        if self.calibration_cpu:
            out["calibration_cpu_min"] = round(min(self.calibration_cpu) * 1000, 3)
        if self.retimed:
            out["retimed"] = self.retimed
        return out
