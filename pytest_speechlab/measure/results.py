"""What a run measured, one object per case: plain data that the gate's checks read.

A result knows its case, what the engine produced, its score and timing, and what it is compared
with (``against``: the run's baseline and tolerances), so an assertion in a test needs nothing
but the result. It never points back at the run that made it.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.case import Case
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


# Results cross process boundaries (pytest-xdist workers to the controller) pickled, whole but for
# what the receiving run has itself (pickle's persistent ids): a result's case, found again by its
# id in the receiver's manifest; its comparison, the receiver's own; synthesised audio, which stays
# where it was made (its figures travel). Every field travels, without a list of them to keep up.
# Only a run's own worker processes send them.


@dataclass
class Measured:
    """What one run measured, in one process."""

    results: list[CaseResult]
    syntheses: list[SynthesisResult]
    perturbed: list[PerturbedResult]


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, audio: set[int]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.audio = audio

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, Case):
            return ("case", obj.id)
        if isinstance(obj, Comparison):
            return ("against",)
        if id(obj) in self.audio:
            return ("audio",)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, cases: dict[str, Case], against: Comparison) -> None:
        super().__init__(file)
        self.cases, self.against = cases, against

    def persistent_load(self, pid: Any) -> Any:
        kind = pid[0]
        if kind == "case":
            return self.cases[pid[1]]
        if kind == "against":
            return self.against
        if kind == "audio":
            return np.zeros(0, np.float32)
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


def dumps_measured(measured: Measured) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, {id(s.audio) for s in measured.syntheses}).dump(measured)
    return buffer.getvalue()


def loads_measured(data: bytes, cases: dict[str, Case], against: Comparison) -> Measured:
    """``dumps_measured``'s results, joined to the receiving run's cases and comparison."""
    measured: Measured = _Unpickler(io.BytesIO(data), cases, against).load()
    return measured
