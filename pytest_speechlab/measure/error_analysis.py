"""The error analysis of measured transcripts, shared by the gate and the baseline recorder.

Per case, the counts and the word alignment of ``core.analysis``, cached: the gate, the
assertions and every output ask for the same case, and the baseline's stored hypothesis is
scored against the same reference once. Per corpus, what a baseline keeps of the analysis: the
sentence error rate, the figures of each slice (``core.slices``) and the phrases the model wrote
over non-speech (``core.hallucination``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from ..core import analysis, hallucination, slices
from ..core.analysis import CaseErrors
from ..core.case import Case
from .results import CaseResult, text_digest

LONGFORM_TAG = "longform"
LONGFORM_S = slices.DURATION_EDGES[-1]  # longer than one 30 s Whisper window


@lru_cache(maxsize=1 << 16)
def scored(case_id: str, reference: str, hypothesis: str) -> CaseErrors:
    """``analysis.case_errors`` of two normalised texts, cached."""
    return analysis.case_errors(case_id, reference, hypothesis)


def case_errors(result: CaseResult) -> CaseErrors:
    """This run's errors of one case."""
    return scored(result.case.id, result.score.reference, result.score.hypothesis)


def stored_hypothesis(result: CaseResult) -> str | None:
    """The baseline's normalised hypothesis of the case, if it has one scored against the same
    reference text (None where the reference was edited since: those errors mean nothing now)."""
    entry = result.stored or {}
    hypothesis = entry.get("hypothesis")
    digest = entry.get("reference_sha256")
    if not isinstance(hypothesis, str) or (digest is not None and digest != text_digest(result.case.text)):
        return None
    return hypothesis


def stored_errors(result: CaseResult) -> CaseErrors | None:
    """The baseline's errors of one case: its stored hypothesis against this run's reference."""
    hypothesis = stored_hypothesis(result)
    return None if hypothesis is None else scored(result.case.id, result.score.reference, hypothesis)


def is_speech(result: CaseResult) -> bool:
    """A case with reference words: the corpus WER is over these (non-speech is hallucination)."""
    return bool(result.score.reference)


def is_longform(case: Case) -> bool:
    return LONGFORM_TAG in case.tags or case.duration_s >= LONGFORM_S


def slice_groups(results: Iterable[CaseResult]) -> dict[str, tuple[str, ...]]:
    return slices.group(r.case for r in results)


def slice_figures(results: Sequence[CaseResult]) -> tuple[slices.SliceFigures, ...]:
    """WER and CER of each slice of ``results`` with speech cases."""
    return slices.figures(slice_groups(results), {r.case.id: case_errors(r) for r in results})


def nonspeech_phrases(outputs: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Phrase to the non-speech cases it was written on; ``outputs``: case id to normalised text."""
    return hallucination.nonspeech_phrases(outputs)


def nonspeech_outputs(results: Iterable[CaseResult]) -> dict[str, str]:
    return {r.case.id: r.score.hypothesis for r in results if not is_speech(r)}


def corpus_entry(results: Sequence[CaseResult]) -> dict[str, Any]:
    """What a baseline's corpus entry keeps of the analysis, rounded as baselines are."""
    run = analysis.run_errors(case_errors(r) for r in results if is_speech(r))
    return {
        "sentence_error_rate": round(run.sentence_error_rate, 4),
        "slices": {
            f.name: {"cases": f.cases, "words": f.words, "wer": round(f.wer, 4), "cer": round(f.cer, 4)}
            for f in slice_figures(results)
        },
        "nonspeech_phrases": {
            phrase: list(ids) for phrase, ids in nonspeech_phrases(nonspeech_outputs(results)).items()
        },
    }
