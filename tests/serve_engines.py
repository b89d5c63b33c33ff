"""An adapter with a fault, for the test that one failing request leaves the others running:
Faster-Whisper tiny.en that raises on digital silence (every sample exactly zero)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from pytest_speechlab.engines.faster_whisper import FasterWhisperEngine


class FaultyOnSilence(FasterWhisperEngine):
    name: ClassVar[str] = "faulty_whisper"

    def transcribe(self, audio: np.ndarray, language: str | None) -> str:
        if not np.any(audio):
            raise RuntimeError("decoder fault on an all-zero input")
        return super().transcribe(audio, language)
