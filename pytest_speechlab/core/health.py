"""The health of synthesised audio: level, clipping, silence and pace.

These catch what breaks in a text-to-speech change without a listener: a voice that clips, goes
quiet, pads seconds of silence, or speaks at another pace (duration per character). Silence is
measured in 10 ms frames whose RMS is below -45 dBFS.
"""

from __future__ import annotations

import numpy as np

SILENCE_DBFS = -45.0
FRAME_S = 0.010
CLIP_LEVEL = 0.999


def dbfs(value: float) -> float:
    return float(20 * np.log10(max(value, 1e-10)))


def health(samples: np.ndarray, sample_rate: int, text: str) -> dict[str, float]:
    """Figures of one synthesised utterance (``samples``: float32 mono in [-1, 1]). No audio at all
    is silence of length 0 (never NaN, which is not JSON)."""
    duration = len(samples) / sample_rate
    if not len(samples):
        return {"duration_s": 0.0, "peak_dbfs": -200.0, "rms_dbfs": -200.0, "clipping": 0.0,
                "lead_silence_s": 0.0, "trail_silence_s": 0.0, "s_per_char": 0.0}  # fmt: skip
    frame = max(1, int(sample_rate * FRAME_S))
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    loud = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) >= 10 ** (SILENCE_DBFS / 20)
    if loud.any():
        lead = int(np.argmax(loud)) * FRAME_S
        trail = int(np.argmax(loud[::-1])) * FRAME_S
    else:
        lead = trail = duration
    return {
        "duration_s": round(duration, 4),
        "peak_dbfs": round(dbfs(float(np.max(np.abs(samples)))) if len(samples) else -200.0, 2),
        "rms_dbfs": round(dbfs(float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))), 2),
        "clipping": round(float(np.mean(np.abs(samples) >= CLIP_LEVEL)), 6),
        "lead_silence_s": round(lead, 3),
        "trail_silence_s": round(trail, 3),
        "s_per_char": round(duration / max(len(text), 1), 5),
    }
