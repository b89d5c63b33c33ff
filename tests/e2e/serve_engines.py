"""Adapters for the server's tests: one with a fault, for the test that one failing request
leaves the others running (Faster-Whisper tiny.en that raises on digital silence), and a toy
voice whose answer is longer than any socket buffer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from pytest_speechlab.engines import ModelIdentity
from pytest_speechlab.engines.faster_whisper import FasterWhisperEngine


class FaultyOnSilence(FasterWhisperEngine):
    name: ClassVar[str] = "faulty_whisper"

    def transcribe(self, audio: np.ndarray, language: str | None) -> str:
        if not np.any(audio):
            raise RuntimeError("decoder fault on an all-zero input")
        return super().transcribe(audio, language)


class ToyLongVoice:
    """A toy text-to-speech engine, for the slow-reader test only: it speaks 400 s of a quiet
    tone for any text, in 40 chunks, at once, so that the stream outgrows every socket buffer
    and a slow reader decides how fast it can go."""

    name: ClassVar[str] = "long_voice"
    tasks: ClassVar[tuple[str, ...]] = ("tts",)
    sample_rate = 24000
    output_sample_rate = 24000
    default_options: ClassVar[dict[str, object]] = {}
    identity = ModelIdentity("toy-long-voice 1", "tone", "package:none", "sha256:toy", "cpu", "float32")

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        return None

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, object]) -> ToyLongVoice:
        return cls()

    def stream(self, text: str, language: str | None) -> Iterator[np.ndarray]:
        tone = (0.1 * np.sin(np.arange(240_000) * 0.05)).astype(np.float32)  # 10 s
        for _ in range(40):
            yield tone.copy()

    def synthesize(self, text: str, language: str | None) -> np.ndarray:
        return np.concatenate(list(self.stream(text, language)))
