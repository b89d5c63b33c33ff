"""Speed, measured by pytest-benchmark: model load, per-case latency, batched throughput and
text-to-speech time to first audio.

pytest-benchmark does the timing (rounds after warm-up, its statistics, its storage: compare
runs with ``--benchmark-autosave`` and ``--benchmark-compare``, gate with
``--benchmark-compare-fail=median:25%``). Each function here sets up one measurement, runs it
through the ``benchmark`` fixture, and keeps the figures on the model run for the results JSON,
with throughput as inverse real-time factor (RTFx: audio seconds per second, as the Open ASR
Leaderboard reports it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..core.case import Case
from .run import ModelRun

GAP_S = 0.5  # silence between cases in the long recording of the batched benchmark


def _record(benchmark: Any, run: ModelRun, name: str, audio_s: float | None, **extra: Any) -> dict[str, Any]:
    """Keep pytest-benchmark's statistics of ``name`` on ``run`` (nothing when benchmarks are
    disabled: ``--benchmark-disable`` runs the target once, untimed)."""
    stats = getattr(benchmark.stats, "stats", None)
    if stats is None:
        return {}
    figures = {
        "name": name,
        "median_s": stats.median,
        "min_s": stats.min,
        "iqr_s": stats.iqr,
        "rounds": stats.rounds,
        **extra,
    }
    if audio_s:
        figures.update(audio_s=round(audio_s, 3), rtfx=audio_s / stats.median)
    benchmark.extra_info.update({k: v for k, v in figures.items() if k not in ("name", "median_s", "min_s")})
    run.benchmarks[name] = figures
    return figures


def bench_load(benchmark: Any, run: ModelRun, rounds: int = 3) -> dict[str, Any]:
    """Loading the model from its source, ``rounds`` times (the files are in the OS cache after
    the session's first load: this is the warm load time)."""
    source = run.settings.sources.get(run.name)
    benchmark.pedantic(run.engine_cls.load, args=(source, run.device, run.options), rounds=rounds)
    return _record(benchmark, run, "load", None)


def bench_transcribe(benchmark: Any, run: ModelRun, case: Case) -> str:
    """Transcribing one case, ``repeats`` rounds after one warm-up round; returns the text."""
    engine = run.engine
    audio = run.audio.get(case, engine.sample_rate)
    text = benchmark.pedantic(
        engine.transcribe, args=(audio, case.language), rounds=run.settings.repeats, warmup_rounds=1
    )
    _record(benchmark, run, f"transcribe[{case.id}]", case.duration_s)
    return text


def long_recording(run: ModelRun, cases: tuple[Case, ...]) -> tuple[np.ndarray, str]:
    """The speech ``cases`` joined into one recording with short pauses, and their joined text:
    a batched pipeline cuts long audio at pauses and decodes the pieces together."""
    rate = run.engine.sample_rate
    gap = np.zeros(int(GAP_S * rate), np.float32)
    speech = [c for c in cases if c.text.strip()]
    parts = [piece for c in speech for piece in (run.audio.get(c, rate), gap)]
    audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return audio, " ".join(c.text for c in speech)


def bench_batched(
    benchmark: Any, run: ModelRun, audio: np.ndarray, language: str | None, batch_size: int
) -> str:
    """Throughput of the engine's batched pipeline on ``audio`` (a ``long_recording``)."""
    engine = run.engine
    batched = engine.transcribe_batched  # type: ignore[attr-defined]
    text = benchmark.pedantic(
        batched, args=(audio, language, batch_size), rounds=run.settings.repeats, warmup_rounds=1
    )
    _record(benchmark, run, f"batched[{batch_size}]", len(audio) / engine.sample_rate, batch_size=batch_size)
    return text


def first_audio(engine: Any, text: str, language: str | None) -> np.ndarray:
    """The first chunk of audio a text-to-speech engine produces: from its ``stream`` when it
    has one, else the whole utterance (then time to first audio is the synthesis time)."""
    stream: Callable[[str, str | None], Iterator[np.ndarray]] | None = getattr(engine, "stream", None)
    if stream is None:
        return engine.synthesize(text, language)
    return next(iter(stream(text, language)), np.zeros(0, np.float32))


def bench_first_audio(benchmark: Any, run: ModelRun, case: Case) -> np.ndarray:
    """Time to first audio of one case's text, ``repeats`` rounds after one warm-up round."""
    engine = run.engine
    chunk = benchmark.pedantic(
        first_audio, args=(engine, case.text, case.language), rounds=run.settings.repeats, warmup_rounds=1
    )
    _record(benchmark, run, f"first_audio[{case.id}]", None, streaming=hasattr(engine, "stream"))
    return chunk
