"""Decoding audio into the array an engine expects.

Engines get float32 mono samples at their own rate; decoding here (soundfile, then one
resampling with soxr) keeps ffmpeg out of the loop and makes every engine see the same
samples. A case that is a span of a longer file decodes only that span (soundfile seeks to
it), and a case whose audio is bytes in a table file reads only that row. Uploaded bytes take
the same path, so a server and a test run of the same recording hand the engine identical arrays.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import soundfile

from ..core.case import Case
from ..core.signal import resample
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


def _undecodable(name: object, exc: Exception) -> SpeechlabError:
    reason = re.sub(r"^Error opening <_io\.BytesIO object at \w+>: ", "", str(exc))
    return SpeechlabError(f"{name}: cannot decode audio ({reason})")


def load_audio(
    path: Path | str | IO[bytes],
    sample_rate: int,
    offset_s: float | None = None,
    duration_s: float | None = None,
    name: object = None,
) -> np.ndarray:
    """Decode ``path`` (a file, or an open file of encoded bytes that messages call ``name``)
    to float32 mono at ``sample_rate``, averaging channels; with ``offset_s`` only the
    ``duration_s`` seconds from there."""
    name = name if name is not None else path
    source = str(path) if isinstance(path, Path) else path
    try:
        if offset_s is None:
            samples, source_rate = soundfile.read(source, dtype="float32", always_2d=True)
        else:
            with soundfile.SoundFile(source) as f:
                source_rate = f.samplerate
                f.seek(round(offset_s * source_rate))
                frames = -1 if duration_s is None else round(duration_s * source_rate)
                samples = f.read(frames, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise _undecodable(name, exc) from None
    if samples.size == 0:
        raise SpeechlabError(f"{name}: no audio frames")
    mono = samples.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise SpeechlabError(f"{name}: audio contains NaN or infinite samples")
    if source_rate != sample_rate:
        mono = resample(mono, source_rate, sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


def case_audio(case: Case, sample_rate: int) -> np.ndarray:
    """A case's samples at ``sample_rate``: its file, the span of it, or its table row."""
    if case.embedded is None:
        return load_audio(case.audio, sample_rate, case.offset_s, case.duration_s)
    from .formats.hf import embedded_bytes

    data = io.BytesIO(embedded_bytes(case.audio, case.embedded))
    name = f"{case.audio} row {case.embedded.row}"
    return load_audio(data, sample_rate, case.offset_s, case.duration_s, name=name)


def audio_info(data: bytes, where: str) -> AudioInfo:
    """The header of encoded audio ``data``: enough to refuse a recording that is too long
    before decoding it."""
    try:
        info = soundfile.info(io.BytesIO(data))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise _undecodable(where, exc) from None
    return AudioInfo(int(info.samplerate), int(info.frames), int(info.channels), str(info.format))


def decode_audio(data: bytes, sample_rate: int, where: str, block_frames: int = 2**16) -> np.ndarray:
    """Decode encoded audio ``data`` (an upload) to the same samples as ``load_audio``, a block
    of frames at a time, each averaged to mono at once: memory holds one block of every channel
    and the mono signal, never the whole recording in all its channels."""
    blocks: list[np.ndarray] = []
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as f:
            source_rate = f.samplerate
            while True:
                block = f.read(block_frames, dtype="float32", always_2d=True)
                if not len(block):
                    break
                blocks.append(block.mean(axis=1))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise _undecodable(where, exc) from None
    if not blocks:
        raise SpeechlabError(f"{where}: no audio frames")
    mono = np.concatenate(blocks)
    if not np.all(np.isfinite(mono)):
        raise SpeechlabError(f"{where}: audio contains NaN or infinite samples")
    if source_rate != sample_rate:
        mono = resample(mono, source_rate, sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


def encode_audio(samples: np.ndarray, sample_rate: int, fmt: str = "WAV", subtype: str = "FLOAT") -> bytes:
    """``samples`` as an in-memory file; WAV FLOAT keeps float32 samples bit for bit."""
    out = io.BytesIO()
    soundfile.write(out, samples, sample_rate, format=fmt, subtype=subtype)
    return out.getvalue()
