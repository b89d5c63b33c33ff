"""Error rates and latency statistics.

Text is normalised with openai-whisper's ``EnglishTextNormalizer`` (the normaliser the Open
ASR Leaderboard uses) and scored with jiwer. The normaliser's name and package version go into
every result and baseline, because a different normaliser makes WERs incomparable.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version

import jiwer


@cache
def normalizer() -> Callable[[str], str]:
    # Imported lazily: the whisper package pulls in torch, which a collection-only run should not pay.
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


@cache
def normalizer_id() -> str:
    return f"whisper.EnglishTextNormalizer (openai-whisper {version('openai-whisper')})"


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
    """Wall-clock seconds of repeated runs of the same work, after warm-up."""

    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def min(self) -> float:
        return min(self.runs)

    @property
    def max(self) -> float:
        return max(self.runs)

    def as_ms(self) -> dict[str, float | int]:
        return {
            "median": round(self.median * 1000, 2),
            "min": round(self.min * 1000, 2),
            "max": round(self.max * 1000, 2),
            "runs": len(self.runs),
            "all": [round(t * 1000, 2) for t in self.runs],
        }
