"""The one protocol every engine adapter implements.

An adapter loads a model once (``load``), transcribes float32 mono arrays at its
``sample_rate`` and says exactly what it is (``identity``), so that a baseline can record what
was measured. Everything engine-specific stays inside its adapter module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class ModelIdentity:
    """What produced a measurement; stored with results and baselines."""

    engine: str  # package and version, e.g. "faster-whisper 1.2.1"
    model_id: str  # e.g. "tiny.en"
    source: str  # where the weights came from: "package:...", "hub:...", "dir:..."
    revision: str  # checksum of the weights, e.g. "sha256:..."
    device: str
    compute_type: str
    options: dict[str, Any] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Word:
    """One word and when it was heard, in seconds from the start of the audio."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Segment:
    """A stretch of transcript with its times; ``words`` only when word timings were asked for."""

    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()


class Engine(Protocol):
    name: ClassVar[str]  # the --speech-model name
    tasks: ClassVar[tuple[str, ...]]  # "asr", "tts" or both
    sample_rate: ClassVar[int]  # rate of the arrays transcribe() takes
    default_options: ClassVar[dict[str, Any]]  # every option the adapter understands

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        """Why ``device`` cannot be used (package missing, no such hardware), or None."""
        ...

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> Engine:
        """Load the model once; ``source`` None means the adapter's offline default."""
        ...

    @property
    def identity(self) -> ModelIdentity: ...

    def transcribe(self, audio: np.ndarray, language: str | None) -> str:
        """Text heard in float32 mono ``audio`` at ``sample_rate`` (asr engines)."""
        ...


class SpeechEngine(Protocol):
    """Text-to-speech: an adapter with ``"tts"`` in its ``tasks`` implements this too."""

    output_sample_rate: int  # rate of the arrays synthesize() returns

    def synthesize(self, text: str, language: str | None) -> np.ndarray:
        """Float32 mono samples at the adapter's ``output_sample_rate``."""
        ...


@runtime_checkable
class TimedEngine(Protocol):
    """Speech-to-text with timings: an adapter that can say when each segment (and word) was
    heard implements this too. ``transcribe`` stays the gated, text-only path. Checkable at
    run time: a run measures word timestamps only where the adapter gives them."""

    def transcribe_segments(
        self, audio: np.ndarray, language: str | None, word_timestamps: bool
    ) -> list[Segment]:
        """Segments of ``audio`` in order, with word timings when ``word_timestamps``."""
        ...
