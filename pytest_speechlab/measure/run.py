"""Measuring: one ModelRun per model and device, shared by every test of the session.

A run loads its engine on first use (once per session), warms it up once, and measures each
case once: the accuracy pass costs one transcription per case, as a plain loop would. Only
cases in the latency subset are timed again, ``repeats`` times, for latency statistics.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.audio import case_audio
from ..core.calibration import calibrate
from ..core.health import health
from ..core.manifest import Case
from ..core.metrics import Score, Timing, corpus_scores, score
from ..core.perturb import Perturbation
from ..core.settings import Settings
from ..engines import Engine, ModelIdentity
from ..errors import SpeechlabError
from ..store.baselines import Baseline, baseline_path, read_baseline

if TYPE_CHECKING:
    from .judge import Judge


@dataclass
class CaseResult:
    """What one model made of one case."""

    case: Case
    raw_hypothesis: str
    score: Score
    timing: Timing  # one run, or ``repeats`` runs for latency cases
    run: ModelRun = field(repr=False)
    repeated: bool = False  # timed ``repeats`` times for latency statistics

    @property
    def audio_s(self) -> float:
        return self.case.duration_s

    @property
    def rtf(self) -> float:
        """Real-time factor: processing seconds per second of audio (lower is faster)."""
        return self.timing.median / self.audio_s


@dataclass
class CorpusResult:
    """All selected cases of a run, scored together.

    WER and CER are over the speech cases: a non-speech case has no reference words, and a
    hallucinating model would otherwise swamp the corpus figure. Words emitted on non-speech
    cases are counted apart (``nonspeech_words``); each such case is also gated on its own."""

    run: ModelRun
    results: list[CaseResult]
    wer: float
    cer: float

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
    run: ModelRun = field(repr=False)
    repeated: bool = False
    judge: str | None = None  # the judge that listened (``Judge.name``), once it has
    judge_raw: str = ""
    judge_score: Score | None = None  # what the judge heard, scored against the case's text

    @property
    def stored(self) -> dict[str, Any] | None:
        """The baseline's ``tts`` entry for this case, None when there is none."""
        baseline = self.run.baseline
        return (baseline.cases.get(self.case.id, {}) if baseline else {}).get("tts")

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
    def run(self) -> ModelRun:
        return self.clean.run

    @property
    def limit(self) -> float:
        """The most WER the perturbation may cost: the clean WER plus the robustness tolerance."""
        return self.clean.score.wer + self.run.settings.tolerances.robustness


def latency_subset(cases: tuple[Case, ...], settings: Settings) -> tuple[Case, ...]:
    """The cases timed repeatedly: those carrying any of ``settings.latency_tags``."""
    tags = set(settings.latency_tags)
    return tuple(c for c in cases if tags & set(c.tags))


def case_ids_digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]


class AudioCache:
    """Decoded audio by (source, rate): each file, or span of one, is decoded and resampled once
    per session."""

    def __init__(self) -> None:
        self._arrays: dict[tuple[tuple[object, ...], int], np.ndarray] = {}

    def get(self, case: Case, sample_rate: int) -> np.ndarray:
        key = (case.source, sample_rate)
        if key not in self._arrays:
            self._arrays[key] = case_audio(case, sample_rate)
        return self._arrays[key]


def resident_mb() -> float | None:
    """This process's resident memory in MB (Linux's /proc; None elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class ModelRun:
    """One model on one device for the whole session."""

    def __init__(
        self,
        name: str,
        device: str,
        engine_cls: type[Engine],
        settings: Settings,
        cases: tuple[Case, ...],
        audio: AudioCache,
        skip_reason: str | None = None,
    ) -> None:
        self.name = name
        self.device = device
        self.engine_cls = engine_cls
        self.settings = settings
        self.cases = cases
        self.audio = audio
        self.skip_reason = skip_reason
        self.results: dict[str, CaseResult] = {}
        self.syntheses: dict[str, SynthesisResult] = {}
        self.perturbed: dict[tuple[str, Perturbation], PerturbedResult] = {}
        self.benchmarks: dict[str, dict[str, Any]] = {}  # pytest-benchmark figures (speed.py)
        self.errors: dict[str, str] = {}
        self.load_s: float | None = None
        self.load_mb: float | None = None  # resident memory the load added (Linux)
        self.judge: Judge | None = None  # text-to-speech runs: who listens for intelligibility
        self._engine: Engine | None = None
        self.options = self._options()
        self.baseline_file = baseline_path(settings.baselines, name, device)
        self.baseline: Baseline | None = read_baseline(self.baseline_file)

    @property
    def id(self) -> str:
        return f"{self.name}-{self.device}"

    def _options(self) -> dict[str, Any]:
        given = self.settings.model_options.get(self.name, {})
        unknown = set(given) - set(self.engine_cls.default_options)
        if unknown:
            known = ", ".join(sorted(self.engine_cls.default_options))
            raise SpeechlabError(
                f"{self.name}: unknown option(s) {', '.join(sorted(unknown))} (known: {known})"
            )
        return {**self.engine_cls.default_options, **given}

    @property
    def engine(self) -> Engine:
        """The loaded engine, warmed up; loaded on first use so that skipped runs cost nothing."""
        if self._engine is None:
            # Calibrate before any model runs: inference libraries keep their worker threads
            # spinning for a while after a call, which would slow the calibration down.
            calibrate()
            rss = resident_mb()
            start = time.perf_counter()
            engine = self.engine_cls.load(self.settings.sources.get(self.name), self.device, self.options)
            self.load_s = time.perf_counter() - start
            self.load_mb = resident_mb() - rss if rss is not None else None
            for _ in range(self.settings.warmup if self.cases else 0):
                if "asr" in engine.tasks:
                    engine.transcribe(
                        self.audio.get(self.cases[0], engine.sample_rate), self.cases[0].language
                    )
                else:
                    engine.synthesize(self.cases[0].text or "warm up", self.cases[0].language)
            self._engine = engine
        return self._engine

    @property
    def identity(self) -> ModelIdentity | None:
        """The engine's identity once loaded (None for a run that never loaded)."""
        return self._engine.identity if self._engine else None

    def _time(self, case: Case, work: Callable[[], Any], repeats: int) -> tuple[Any, Timing]:
        """Run ``work`` ``repeats`` times and time each run; a failure is recorded against
        ``case`` (for the summary and the results file) and raised."""
        runs, out = [], None
        try:
            for _ in range(repeats):
                start = time.perf_counter()
                out = work()
                runs.append(time.perf_counter() - start)
        except Exception as exc:
            self.errors[case.id] = f"{type(exc).__name__}: {exc}"
            raise
        return out, Timing(tuple(runs))

    def _timed(self, case: Case, repeats: int) -> tuple[str, Timing]:
        engine = self.engine
        audio = self.audio.get(case, engine.sample_rate)
        return self._time(case, lambda: engine.transcribe(audio, case.language), repeats)

    def measure(self, case: Case) -> CaseResult:
        """Transcribe and score ``case`` once (cached for the session)."""
        if case.id not in self.results:
            text, timing = self._timed(case, 1)
            self.results[case.id] = CaseResult(case, text, score(case.text, text), timing, self)
        return self.results[case.id]

    def measure_latency(self, case: Case) -> CaseResult:
        """Time ``case`` ``repeats`` times (after the run's warm-up) and keep those timings."""
        result = self.measure(case)
        if not result.repeated:
            _, result.timing = self._timed(case, self.settings.repeats)
            result.repeated = True
        return result

    def measure_perturbed(
        self, case: Case, perturbation: Perturbation, record: bool = False
    ) -> PerturbedResult:
        """Transcribe ``case`` after ``perturbation`` (cached), beside its clean result; with
        ``record``, the WER goes into the baseline (fixed sweeps, not random draws)."""
        key = (case.id, perturbation)
        if key not in self.perturbed:
            clean = self.measure(case)
            engine = self.engine
            audio = perturbation.apply(self.audio.get(case, engine.sample_rate), engine.sample_rate)
            text, _ = self._time(case, lambda: engine.transcribe(audio, case.language), 1)
            self.perturbed[key] = PerturbedResult(perturbation, text, score(case.text, text), clean)
        self.perturbed[key].recorded |= record
        return self.perturbed[key]

    def _timed_synthesis(self, case: Case, repeats: int) -> tuple[np.ndarray, Timing]:
        engine = self.engine
        return self._time(case, lambda: engine.synthesize(case.text, case.language), repeats)

    def synthesize(self, case: Case, latency: bool = False) -> SynthesisResult:
        """Synthesise ``case.text`` once (cached); with ``latency``, also time it ``repeats`` times."""
        if case.id not in self.syntheses:
            audio, timing = self._timed_synthesis(case, 1)
            rate = self.engine.output_sample_rate
            self.syntheses[case.id] = SynthesisResult(
                case, audio, rate, timing, health(audio, rate, case.text), self
            )
        result = self.syntheses[case.id]
        if latency and not result.repeated:
            _, result.timing = self._timed_synthesis(case, self.settings.repeats)
            result.repeated = True
        return result

    def judged(self, case: Case) -> SynthesisResult:
        """Synthesise ``case`` (cached) and have the judge transcribe it, once."""
        result = self.synthesize(case)
        if result.judge is None and self.judge is not None:
            heard = self.judge.listen(result.audio, result.sample_rate, case.language)
            result.judge, result.judge_raw = self.judge.name, heard
            result.judge_score = score(case.text, heard)
        return result

    def corpus(self) -> CorpusResult:
        results = [self.measure(case) for case in self.cases]
        speech = [r for r in results if r.score.reference]
        wer, cer = corpus_scores([r.score.reference for r in speech], [r.score.hypothesis for r in speech])
        return CorpusResult(self, results, wer, cer)

    def measured_corpus(self) -> CorpusResult | None:
        """The corpus of what was measured, if every selected case was; never measures."""
        if (
            "asr" not in self.engine_cls.tasks
            or not self.cases
            or any(c.id not in self.results for c in self.cases)
        ):
            return None
        return self.corpus()
