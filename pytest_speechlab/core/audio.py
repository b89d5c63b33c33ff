"""Decoding audio into the array an engine expects.

Engines get float32 mono samples at their own rate; decoding here (soundfile, then one
resampling with librosa's soxr) keeps ffmpeg out of the loop and makes every engine see the
same samples.
"""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import soundfile

from ..errors import SpeechlabError


def load_audio(path: Path | str, sample_rate: int) -> np.ndarray:
    """Decode ``path`` to float32 mono at ``sample_rate``, averaging channels."""
    try:
        samples, source_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise SpeechlabError(f"{path}: cannot decode audio ({exc})") from None
    if samples.size == 0:
        raise SpeechlabError(f"{path}: no audio frames")
    mono = samples.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise SpeechlabError(f"{path}: audio contains NaN or infinite samples")
    if source_rate != sample_rate:
        mono = librosa.resample(mono, orig_sr=source_rate, target_sr=sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)
