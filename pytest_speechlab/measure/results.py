"""What a run measured, one object per case: plain data that the gate's checks read.

A result knows its case, what the engine produced, its score and timing, and what it is compared
with (``against``: the run's baseline and tolerances), so an assertion in a test needs nothing
but the result. It never points back at the run that made it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..core.manifest import Case
from ..core.metrics import Score, Timing
from ..core.perturb import Perturbation
from ..core.timestamps import Offset
from ..store.baselines import Comparison


@dataclass
class CaseResult:
    """What one model made of one case."""

    case: Case
    raw_hypothesis: str
    score: Score
    timing: Timing  # one run, or ``repeats`` runs for latency cases
    against: Comparison = field(repr=False)
    repeated: bool = False  # timed ``repeats`` times for latency statistics
    timestamps: dict[str, Any] | None = None  # word-timestamp error (TimestampError.as_dict), if aligned
    word_offsets: tuple[Offset, ...] = field(default=(), repr=False)  # its matched words, pooled per run

    @property
    def audio_s(self) -> float:
        return self.case.duration_s

    @property
    def rtf(self) -> float:
        """Real-time factor: processing seconds per second of audio (lower is faster)."""
        return self.timing.median / self.audio_s

    @property
    def stored(self) -> dict[str, Any] | None:
        """The baseline's entry for this case, None when there is none."""
        return self.against.entry(self.case.id)


@dataclass
class CorpusResult:
    """All selected cases of a run, scored together.

    WER and CER are over the speech cases: a non-speech case has no reference words, and a
    hallucinating model would otherwise swamp the corpus figure. Words emitted on non-speech
    cases are counted apart (``nonspeech_words``); each such case is also gated on its own."""

    results: list[CaseResult]
    wer: float
    cer: float
    against: Comparison = field(repr=False)

    @property
    def audio_s(self) -> float:
        return sum(r.audio_s for r in self.results)

    @property
    def latency_s(self) -> float:
        return sum(r.timing.median for r in self.results)

    @property
    def rtf(self) -> float:
        return self.latency_s / self.audio_s if self.audio_s else 0.0

    @property
    def nonspeech_words(self) -> int:
        return sum(len(r.score.hypothesis.split()) for r in self.results if not r.score.reference)

    @property
    def nonspeech_s(self) -> float:
        return sum(r.audio_s for r in self.results if not r.score.reference)

    @property
    def hallucination_rate(self) -> float | None:
        """Words emitted per second of non-speech audio (None without non-speech cases)."""
        return self.nonspeech_words / self.nonspeech_s if self.nonspeech_s else None

    @property
    def case_ids_sha256(self) -> str:
        return case_ids_digest([r.case.id for r in self.results])


@dataclass
class SynthesisResult:
    """What one text-to-speech model made of one case's text."""

    case: Case
    audio: np.ndarray = field(repr=False)
    sample_rate: int
    timing: Timing
    health: dict[str, float]
    against: Comparison = field(repr=False)
    repeated: bool = False
    judge: str | None = None  # the judge that listened (``Judge.name``), once it has
    judge_raw: str = ""
    judge_score: Score | None = None  # what the judge heard, scored against the case's text
    quality: dict[str, Any] | None = None  # the voice figures (measure.quality), once measured

    @property
    def stored(self) -> dict[str, Any] | None:
        """The baseline's ``tts`` entry for this case, None when there is none."""
        return (self.against.entry(self.case.id) or {}).get("tts")

    @property
    def rtf(self) -> float:
        """Processing seconds per second of audio produced."""
        return self.timing.median / max(self.health["duration_s"], 1e-9)


@dataclass
class PerturbedResult:
    """What one model made of one case after a perturbation, beside its clean result."""

    perturbation: Perturbation
    raw_hypothesis: str
    score: Score
    clean: CaseResult = field(repr=False)
    recorded: bool = False  # part of the fixed sweep stored in the baseline

    @property
    def case(self) -> Case:
        return self.clean.case

    @property
    def against(self) -> Comparison:
        return self.clean.against


def case_ids_digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]


def text_digest(text: str) -> str:
    """A short digest of a reference text, stored with its baseline entry: an edited reference
    is a stale baseline, not a regression."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# Results cross process boundaries (pytest-xdist workers to the controller) as plain data: a
# result's case is named by its id and found again in the receiver's own manifest, and
# synthesised audio stays where it was made (the figures of it travel).


def timing_data(timing: Timing) -> dict[str, Any]:
    return {
        "runs": list(timing.runs),
        "calibration": list(timing.calibration),
        "others_cpu": list(timing.others_cpu),
    }


def timing_from(data: dict[str, Any]) -> Timing:
    return Timing(tuple(data["runs"]), tuple(data["calibration"]), tuple(data["others_cpu"]))


def case_data(result: CaseResult) -> dict[str, Any]:
    return {
        "case": result.case.id,
        "raw_hypothesis": result.raw_hypothesis,
        "score": asdict(result.score),
        "timing": timing_data(result.timing),
        "repeated": result.repeated,
        "timestamps": result.timestamps,
        "word_offsets": [[o.word, o.start, o.end] for o in result.word_offsets],
    }


def case_from(data: dict[str, Any], cases: dict[str, Case], against: Comparison) -> CaseResult:
    return CaseResult(
        cases[data["case"]],
        data["raw_hypothesis"],
        Score(**data["score"]),
        timing_from(data["timing"]),
        against,
        data["repeated"],
        data.get("timestamps"),
        tuple(Offset(*o) for o in data.get("word_offsets", ())),
    )


def synthesis_data(result: SynthesisResult) -> dict[str, Any]:
    return {
        "case": result.case.id,
        "sample_rate": result.sample_rate,
        "timing": timing_data(result.timing),
        "health": dict(result.health),
        "repeated": result.repeated,
        "judge": result.judge,
        "judge_raw": result.judge_raw,
        "judge_score": asdict(result.judge_score) if result.judge_score else None,
        "quality": result.quality,
    }


def synthesis_from(data: dict[str, Any], cases: dict[str, Case], against: Comparison) -> SynthesisResult:
    judged = data["judge_score"]
    return SynthesisResult(
        cases[data["case"]],
        np.zeros(0, np.float32),
        data["sample_rate"],
        timing_from(data["timing"]),
        data["health"],
        against,
        data["repeated"],
        data["judge"],
        data["judge_raw"],
        Score(**judged) if judged else None,
        data.get("quality"),
    )


def perturbed_data(result: PerturbedResult) -> dict[str, Any]:
    return {
        "perturbation": result.perturbation.as_dict(),
        "raw_hypothesis": result.raw_hypothesis,
        "score": asdict(result.score),
        "case": result.case.id,
        "recorded": result.recorded,
    }


def perturbed_from(data: dict[str, Any], clean: CaseResult) -> PerturbedResult:
    perturbation = Perturbation.from_dict(data["perturbation"])
    return PerturbedResult(
        perturbation, data["raw_hypothesis"], Score(**data["score"]), clean, data["recorded"]
    )
