"""espeak-ng (formant synthesis) text-to-speech adapter, through its command-line program."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from typing import Any, ClassVar

import numpy as np
import soundfile

from ..errors import SpeechlabError
from .base import ModelIdentity


def _program() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise SpeechlabError(
            "espeak: the espeak-ng program is not installed (e.g. apt-get install espeak-ng)"
        )
    return path


class EspeakEngine:
    name: ClassVar[str] = "espeak"
    tasks: ClassVar[tuple[str, ...]] = ("tts",)
    sample_rate: ClassVar[int] = 0  # no speech input
    output_sample_rate: ClassVar[int] = 22050
    default_source: ClassVar[str] = "en-us"  # the espeak-ng voice
    default_options: ClassVar[dict[str, Any]] = {"words_per_minute": 160, "pitch": 50}

    def __init__(self, program: str, voice: str, identity: ModelIdentity) -> None:
        self._program = program
        self._voice = voice
        self._identity = identity

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        _program()
        return None if device == "cpu" else f"{device}: espeak-ng runs on the cpu only"

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> EspeakEngine:
        program = _program()
        voice = source or cls.default_source
        out = subprocess.run([program, "--version"], capture_output=True, text=True, check=True).stdout
        found = re.search(r"\d+\.\d+(\.\d+)?", out)
        engine = f"espeak-ng {found.group(0) if found else 'unknown'}"
        identity = ModelIdentity(
            engine=engine,
            model_id=voice,
            source=f"voice:{voice}",
            revision=engine,  # formant rules ship with the program: its version is the revision
            device=device,
            compute_type="none",
            options=dict(options),
            packages={},
        )
        return cls(program, voice, identity)

    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    def synthesize(self, text: str, language: str | None, speed: float = 1.0) -> np.ndarray:
        """``speed`` scales the words per minute."""
        opts = self._identity.options
        cmd = [
            self._program,
            "-v",
            self._voice,
            "-s",
            str(round(opts["words_per_minute"] * speed)),
            "-p",
            str(opts["pitch"]),
        ]
        # "--" ends the options: a text that starts with "-" is spoken, not read as an option
        wav = subprocess.run([*cmd, "--stdout", "--", text], capture_output=True, check=True).stdout
        samples, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
        if rate != self.output_sample_rate:
            raise SpeechlabError(f"espeak: expected {self.output_sample_rate} Hz output, got {rate}")
        return samples
