"""The intelligibility round trip: a fixed speech-to-text model listens to synthesised speech.

A voice can keep its level, pace and silences and still mumble. The judge transcribes each
synthesised utterance and the WER against the text it was given is the voice's judge WER. The
judge must stay fixed for the figures to compare, so its identity (engine, source, revision) is
stored with the baseline and a judge WER measured by another judge is not gated against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.signal import resample
from .run import ModelRun


@dataclass
class Judge:
    """A speech-to-text model run used only to listen; loaded on first use, once per device."""

    run: ModelRun

    @property
    def name(self) -> str:
        """Which judge, precisely enough to tell two judges apart (model, source and revision)."""
        identity = self.run.engine.identity
        return f"{self.run.name} {identity.model_id} {identity.compute_type} {identity.revision}"

    def listen(self, audio: np.ndarray, sample_rate: int, language: str | None) -> str:
        engine = self.run.engine
        if sample_rate != engine.sample_rate:
            audio = resample(audio, sample_rate, engine.sample_rate)
        return engine.transcribe(np.ascontiguousarray(audio, dtype=np.float32), language)
