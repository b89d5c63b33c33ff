"""Pure operations on sample arrays that every layer shares: resampling and fixing a length."""

from __future__ import annotations

import numpy as np


def fix_length(samples: np.ndarray, size: int) -> np.ndarray:
    """``samples`` trimmed, or padded with zeros at the end, to exactly ``size``."""
    if len(samples) >= size:
        return samples[:size]
    return np.pad(samples, (0, size - len(samples)))


def resample(samples: np.ndarray, orig_sr: float, target_sr: float) -> np.ndarray:
    """Mono ``samples`` from ``orig_sr`` to ``target_sr``: soxr's high-quality mode, then padded or
    trimmed to ``ceil(len * ratio)`` samples, in the input's dtype. This is exactly what
    ``librosa.resample`` does by default (tested), without librosa's numba and scikit-learn."""
    if orig_sr == target_sr:
        return samples
    import soxr

    out = soxr.resample(samples, orig_sr, target_sr, quality="soxr_hq")
    size = int(np.ceil(samples.shape[-1] * float(target_sr) / orig_sr))
    return np.asarray(fix_length(out, size), dtype=samples.dtype)
