"""Decoding audio into the array an engine expects.

Engines get float32 mono samples at their own rate; decoding here (soundfile, then one
resampling with librosa's soxr) keeps ffmpeg out of the loop and makes every engine see the
same samples. Files and uploaded bytes take the same path, so a server and a test run of the
same recording hand the engine identical arrays.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import soundfile

from ..errors import SpeechlabError


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, before any sample is decoded."""

    sample_rate: int
    frames: int
    channels: int
    format: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _undecodable(where: str, exc: Exception) -> SpeechlabError:
    reason = re.sub(r"^Error opening <_io\.BytesIO object at \w+>: ", "", str(exc))
    return SpeechlabError(f"{where}: cannot decode audio ({reason})")


def _read(source: Any, where: str) -> tuple[np.ndarray, int]:
    try:
        samples, rate = soundfile.read(source, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise _undecodable(where, exc) from None
    return samples, int(rate)


def _to_engine(samples: np.ndarray, source_rate: int, sample_rate: int, where: str) -> np.ndarray:
    """Average channels, check the samples and resample to ``sample_rate``."""
    if samples.size == 0:
        raise SpeechlabError(f"{where}: no audio frames")
    mono = samples.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise SpeechlabError(f"{where}: audio contains NaN or infinite samples")
    if source_rate != sample_rate:
        mono = librosa.resample(mono, orig_sr=source_rate, target_sr=sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


def load_audio(path: Path | str, sample_rate: int) -> np.ndarray:
    """Decode ``path`` to float32 mono at ``sample_rate``, averaging channels."""
    samples, source_rate = _read(str(path), str(path))
    return _to_engine(samples, source_rate, sample_rate, str(path))


def audio_info(data: bytes, where: str) -> AudioInfo:
    """The header of encoded audio ``data``: enough to refuse a recording that is too long
    before decoding it."""
    try:
        info = soundfile.info(io.BytesIO(data))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise _undecodable(where, exc) from None
    return AudioInfo(int(info.samplerate), int(info.frames), int(info.channels), str(info.format))


def decode_audio(data: bytes, sample_rate: int, where: str) -> np.ndarray:
    """Decode encoded audio ``data`` (an upload) exactly as ``load_audio`` decodes a file."""
    samples, source_rate = _read(io.BytesIO(data), where)
    return _to_engine(samples, source_rate, sample_rate, where)


def encode_audio(samples: np.ndarray, sample_rate: int, fmt: str = "WAV", subtype: str = "FLOAT") -> bytes:
    """``samples`` as an in-memory file; WAV FLOAT keeps float32 samples bit for bit."""
    out = io.BytesIO()
    soundfile.write(out, samples, sample_rate, format=fmt, subtype=subtype)
    return out.getvalue()
