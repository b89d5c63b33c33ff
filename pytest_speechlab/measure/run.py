"""Measuring: one ModelRun per model and device, shared by every test of the session.

A run loads its engine on first use (once per session), warms it up once, and measures each
case once: the accuracy pass costs one transcription per case, as a plain loop would. Only
cases in the latency subset are timed again, ``repeats`` times, each timed run preceded by a
calibration round and watched for other processes' CPU use (``io.calibration``).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.case import Case
from ..core.health import health
from ..core.metrics import Timing, corpus_scores, score
from ..core.perturb import Perturbation
from ..core.settings import Settings
from ..core.timestamps import summarize
from ..engines import Engine, ModelIdentity
from ..engines.base import TimedEngine
from ..errors import SpeechlabError
from ..io.audio import case_audio
from ..io.calibration import calibration_times, cpu_sample, others_share
from ..io.devices import one_blas_thread
from ..store.baselines import Comparison
from .results import (
    CaseResult,
    CorpusResult,
    Measured,
    PerturbedResult,
    SynthesisResult,
    dumps_measured,
    loads_measured,
)
from .word_timestamps import why_not_measured, word_offsets

if TYPE_CHECKING:
    from .judge import Judge


def latency_subset(cases: tuple[Case, ...], settings: Settings) -> tuple[Case, ...]:
    """The cases timed repeatedly: those carrying any of ``settings.latency_tags``."""
    tags = set(settings.latency_tags)
    return tuple(c for c in cases if tags & set(c.tags))


MAX_RETIMES = 5  # a bound on re-timing whatever the policy says
RETIME_PAUSE_S = 0.5

CACHE_BYTES = 256 * 2**20  # about 2 hours of 16 kHz float32 audio


class AudioCache:
    """Decoded audio by (source, rate), the most recently used first, within a memory budget.

    The tests of one case (WER, CER, latency, perturbations) run one after another, so a case is
    decoded and resampled once; but a corpus of thousands of cases is not held whole: the least
    recently used arrays are dropped past ``budget`` bytes (and decoded again if asked for)."""

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self._arrays: OrderedDict[tuple[tuple[object, ...], int], np.ndarray] = OrderedDict()
        self.budget = budget
        self.held = 0  # bytes
        self.decoded = 0  # decodings so far, for tests

    def get(self, case: Case, sample_rate: int) -> np.ndarray:
        key = (case.source, sample_rate)
        if key in self._arrays:
            self._arrays.move_to_end(key)
            return self._arrays[key]
        audio = case_audio(case, sample_rate)
        self.decoded += 1
        self._arrays[key] = audio
        self.held += audio.nbytes
        while self.held > self.budget and len(self._arrays) > 1:
            _, dropped = self._arrays.popitem(last=False)
            self.held -= dropped.nbytes
        return audio


def resident_mb() -> float | None:
    """This process's resident memory in MB (Linux's /proc; None elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed(work: Callable[[], Any], repeats: int, calibrated: bool) -> tuple[Any, Timing]:
    """Run ``work`` ``repeats`` times; time each run (wall and this process's CPU time) and note
    the share of the CPU that other processes took meanwhile, and with ``calibrated`` a
    calibration round just before each run. Only ``work`` itself is inside the timed interval."""
    runs: list[float] = []
    cpu: list[float] = []
    calibration: list[float] = []
    calibration_cpu: list[float] = []
    others: list[float | None] = []
    out = None
    for _ in range(repeats):
        if calibrated:
            wall, spent = calibration_times()
            calibration.append(wall)
            calibration_cpu.append(spent)
        before = cpu_sample()
        start, start_cpu = time.perf_counter(), time.process_time()
        out = work()
        runs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        others.append(others_share(before, cpu_sample()))
    return out, Timing(tuple(runs), tuple(calibration), tuple(others), tuple(cpu), tuple(calibration_cpu))


def batch_share(timing: Timing, cases: int) -> Timing:
    """What each of ``cases`` transcribed in one batch is credited of the batch's one timing: an
    equal share of its wall and CPU time."""
    return Timing((timing.runs[0] / cases,), (), timing.others_cpu, (timing.cpu[0] / cases,))


class ModelRun:
    """One model on one device for the whole session; ``against`` is what it is compared with
    (read by the caller: a run measures, it does not read baselines)."""

    def __init__(
        self,
        name: str,
        device: str,
        engine_cls: type[Engine],
        settings: Settings,
        cases: tuple[Case, ...],
        audio: AudioCache,
        against: Comparison,
        skip_reason: str | None = None,
    ) -> None:
        self.name = name
        self.device = device
        self.engine_cls = engine_cls
        self.settings = settings
        self.cases = cases
        self.audio = audio
        self.against = against
        self.skip_reason = skip_reason
        self.results: dict[str, CaseResult] = {}
        self.syntheses: dict[str, SynthesisResult] = {}
        self.perturbed: dict[tuple[str, Perturbation], PerturbedResult] = {}
        self.benchmarks: dict[str, dict[str, Any]] = {}  # pytest-benchmark figures (speed.py)
        self.errors: dict[str, str] = {}
        self.load_s: float | None = None
        self.load_mb: float | None = None  # resident memory the load added (Linux)
        self.judge: Judge | None = None  # text-to-speech runs: who listens for intelligibility
        # whether a latency timing (with its baseline entry) should be timed again: the gate's
        # policy (``gate.checks.needs_retiming``), wired in by the plugin; None: never
        self.retime: Callable[[Timing, dict[str, Any] | None], bool] | None = None
        self._engine: Engine | None = None
        self._load_error: str | None = None
        self.unusable_said = False  # the first test that needed it failed saying why; the rest skip
        self._identity: ModelIdentity | None = None  # of merged results, when not loaded here
        self.options = self._options()
        aligned = "asr" in engine_cls.tasks and any(c.alignment for c in cases)
        # why the aligned cases' word timestamps cannot be measured (said once per run), or None
        self.timestamps_note = why_not_measured(name, engine_cls) if aligned else None

    @property
    def id(self) -> str:
        return f"{self.name}-{self.device}"

    @property
    def label(self) -> str:
        return self.against.label

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
        """The loaded engine, warmed up; loaded on first use so that skipped runs cost nothing.
        A load that fails (a bad option value, missing weights) is one line, the engine's own
        message, and is not tried again."""
        if self._load_error is not None:
            raise SpeechlabError(self._load_error)
        if self._engine is None:
            try:
                self._engine = self._load()
            except Exception as exc:
                self._load_error = self._load_failure(exc)
                raise SpeechlabError(self._load_error) from None
        return self._engine

    def _load_failure(self, exc: Exception) -> str:
        given = self.settings.model_options.get(self.name) or {}
        options = f" with {', '.join(f'{k}={v!r}' for k, v in given.items())}" if given else ""
        said = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        said = said if len(said) <= 300 else said[:297] + "..."
        own = said if isinstance(exc, SpeechlabError) else f"{type(exc).__name__}: {said}".rstrip(": ")
        return f"cannot load {self.name} on {self.device}{options}: {own}"

    def unusable(self) -> str | None:
        """Why no test of this run can measure (its baseline refused, its engine not loading),
        or None; the engine is loaded here when it can be."""
        if self.against.refused:
            return self.against.refused
        try:
            self.engine  # noqa: B018 - loaded here, so that a load failure is said once
        except SpeechlabError as exc:
            return str(exc)
        return None

    def _load(self) -> Engine:
        rss = resident_mb()
        start = time.perf_counter()
        engine = self.engine_cls.load(self.settings.sources.get(self.name), self.device, self.options)
        self.load_s = time.perf_counter() - start
        one_blas_thread()  # after the load: it covers the libraries the engine brought
        after = resident_mb()
        self.load_mb = after - rss if rss is not None and after is not None else None
        for _ in range(self.settings.warmup if self.cases else 0):
            if "asr" in engine.tasks:
                engine.transcribe(self.audio.get(self.cases[0], engine.sample_rate), self.cases[0].language)
            else:
                engine.synthesize(self.cases[0].text or "warm up", self.cases[0].language)  # type: ignore[attr-defined]
        return engine

    @property
    def identity(self) -> ModelIdentity | None:
        """The engine's identity once loaded, or as the run that measured the merged results
        knew it (None for a run that never loaded)."""
        return self._engine.identity if self._engine else self._identity

    def export(self) -> dict[str, Any]:
        """What this run measured, as plain data (``merge`` reads it back in another process)."""
        identity = self.identity
        return {
            "identity": asdict(identity) if identity else None,
            "load_s": self.load_s,
            "load_mb": self.load_mb,
            "measured": dumps_measured(
                Measured(
                    list(self.results.values()), list(self.syntheses.values()), list(self.perturbed.values())
                )
            ),
            "benchmarks": self.benchmarks,
            "errors": self.errors,
        }

    def merge(self, data: dict[str, Any]) -> int:
        """Take in what another process's run of the same model measured (an xdist worker's);
        returns how many of its cases this run had measured already (the first one's is kept)."""
        cases = {c.id: c for c in self.cases}
        if data["identity"] and self._identity is None:
            self._identity = ModelIdentity(**data["identity"])
        self.load_s = self.load_s if self.load_s is not None else data["load_s"]
        self.load_mb = self.load_mb if self.load_mb is not None else data["load_mb"]
        measured = loads_measured(data["measured"], cases, self.against)
        repeated = sum(r.case.id in self.results for r in measured.results)
        repeated += sum(s.case.id in self.syntheses for s in measured.syntheses)
        for result in measured.results:
            self.results.setdefault(result.case.id, result)
        for synthesis in measured.syntheses:
            self.syntheses.setdefault(synthesis.case.id, synthesis)
        for perturbed in measured.perturbed:  # beside the clean result kept, if measured twice
            perturbed = replace(perturbed, clean=self.results[perturbed.case.id])
            self.perturbed.setdefault((perturbed.case.id, perturbed.perturbation), perturbed)
        self.benchmarks.update(data["benchmarks"])
        self.errors.update(data["errors"])
        return repeated

    def _time(
        self, case: Case, work: Callable[[], Any], repeats: int, calibrated: bool = False
    ) -> tuple[Any, Timing]:
        """``timed``; a failure is recorded against ``case`` (for the summary and the results
        file) and raised."""
        try:
            return timed(work, repeats, calibrated)
        except Exception as exc:
            self.errors[case.id] = f"{type(exc).__name__}: {exc}"
            raise

    def _timed(self, case: Case, repeats: int, calibrated: bool = False) -> tuple[str, Timing]:
        engine = self.engine
        audio = self.audio.get(case, engine.sample_rate)
        return self._time(case, lambda: engine.transcribe(audio, case.language), repeats, calibrated)

    def measure(self, case: Case) -> CaseResult:
        """Transcribe and score ``case`` once (cached for the session); with an engine's
        ``batch_size`` option above 1, together with the next cases of the manifest."""
        if case.id not in self.results:
            batch = int(self.options.get("batch_size", 1) or 1)
            if batch > 1 and hasattr(self.engine, "transcribe_many"):
                self._measure_batch(case, batch)
            else:
                text, timing = self._timed(case, 1)
                self.results[case.id] = self._scored(case, text, timing)
        return self.results[case.id]

    def _scored(self, case: Case, text: str, timing: Timing) -> CaseResult:
        """The result of a transcription, with its word timestamps where the case is aligned."""
        result = CaseResult(case, text, score(case.text, text), timing, self.against)
        engine = self.engine
        if case.alignment is None or self.timestamps_note or not isinstance(engine, TimedEngine):
            return result
        audio = self.audio.get(case, engine.sample_rate)
        try:  # untimed, and apart from the gated hypothesis
            matched, words = word_offsets(engine, audio, case)
        except Exception as exc:
            self.errors[case.id] = f"word timestamps: {type(exc).__name__}: {exc}"
            raise
        result.timestamps = summarize(matched, words).as_dict()
        result.word_offsets = tuple(matched)
        return result

    def _measure_batch(self, case: Case, size: int) -> None:
        """``case`` and up to ``size - 1`` unmeasured cases after it (of its language), in one
        batch; each is credited an equal share of the batch's time (amortised: the latency
        subset is still timed case by case)."""
        engine: Any = self.engine
        after = self.cases[self.cases.index(case) :]
        batch = [c for c in after if c.id not in self.results and c.language == case.language][:size]
        audios = [self.audio.get(c, engine.sample_rate) for c in batch]
        texts, timing = self._time(case, lambda: engine.transcribe_many(audios, case.language), 1)
        share = batch_share(timing, len(batch))
        for member, text in zip(batch, texts, strict=True):
            self.results[member.id] = self._scored(member, text, share)

    def _retimed(self, timing: Timing, entry: dict[str, Any] | None, again: Callable[[], Timing]) -> Timing:
        """``timing``, timed again in more rounds while the gate's policy asks (a fastest run taken
        under load); every round is kept, so the fastest run of all is what is judged. A pause
        before each round lets a burst of other work pass."""
        while self.retime is not None and timing.retimed < MAX_RETIMES and self.retime(timing, entry):
            time.sleep(RETIME_PAUSE_S)
            timing = timing.joined(again())
        return timing

    def measure_latency(self, case: Case) -> CaseResult:
        """Time ``case`` ``repeats`` times (after the run's warm-up) and keep those timings."""
        result = self.measure(case)
        if not result.repeated:
            _, timing = self._timed(case, self.settings.repeats, calibrated=True)
            again = lambda: self._timed(case, self.settings.repeats, calibrated=True)[1]  # noqa: E731
            result.timing = self._retimed(timing, result.stored, again)
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

    def _timed_synthesis(
        self, case: Case, repeats: int, calibrated: bool = False
    ) -> tuple[np.ndarray, Timing]:
        engine: Any = self.engine
        return self._time(case, lambda: engine.synthesize(case.text, case.language), repeats, calibrated)

    def synthesize(self, case: Case, latency: bool = False) -> SynthesisResult:
        """Synthesise ``case.text`` once (cached); with ``latency``, also time it ``repeats`` times."""
        if case.id not in self.syntheses:
            audio, timing = self._timed_synthesis(case, 1)
            rate = self.engine.output_sample_rate  # type: ignore[attr-defined]
            self.syntheses[case.id] = SynthesisResult(
                case, audio, rate, timing, health(audio, rate, case.text), self.against
            )
        result = self.syntheses[case.id]
        if latency and not result.repeated:
            _, timing = self._timed_synthesis(case, self.settings.repeats, calibrated=True)
            again = lambda: self._timed_synthesis(case, self.settings.repeats, calibrated=True)[1]  # noqa: E731
            result.timing = self._retimed(timing, result.stored, again)
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
        return CorpusResult(results, wer, cer, self.against)

    def measured_corpus(self) -> CorpusResult | None:
        """The corpus of what was measured, if every selected case was; never measures."""
        if (
            "asr" not in self.engine_cls.tasks
            or not self.cases
            or any(c.id not in self.results for c in self.cases)
        ):
            return None
        return self.corpus()
