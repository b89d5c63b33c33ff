"""The quality of synthesised speech beyond intelligibility: how good it sounds, whose voice it
is, and the artifacts a listener would notice.

* **DNSMOS** (Reddy et al., 2021/2022): a no-reference estimate of the mean opinion score, from
  Microsoft's ONNX models that the ``speechmos`` package ships (nothing is downloaded). P.835
  gives speech quality (SIG), background (BAK) and overall (OVRL); P.808 a single overall score.
  The models were trained on noisy and enhanced human speech, at 16 kHz, on 9 s windows (a
  shorter clip is repeated to 9 s by speechmos, as in Microsoft's script). What they rank on our
  own engines is measured in docs/tts-quality.md.
* **Speaker similarity**: the cosine similarity of Resemblyzer's speaker embeddings (a GE2E
  encoder whose weights ship in the package) of an utterance and a reference of the voice, so
  that a voice that drifts (another speaker, a shifted pitch) is caught.
* **Artifacts**: the longest silence inside the utterance (a stall), the speaking rate in words
  per second over the spoken span, and pitch jumps: changes of the pYIN f0 (librosa) of
  ``JUMP_OCTAVES`` or more between successive voiced frames at most ``JUMP_GAP_S`` apart, which
  an octave error makes and speech does not. The gap is allowed because pYIN's transition prior
  does not let f0 leap an octave from one frame to the next: it marks the frames around a leap
  unvoiced instead. Clean Piper and espeak sentences show none (docs/tts-quality.md).

Each model is loaded once, lazily (torch and onnxruntime are heavy), with the engines' thread
count (``devices.engine_threads``: the cores the process may use).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np

from ..core.health import FRAME_S, SILENCE_DBFS
from ..core.signal import resample
from ..errors import SpeechlabError
from ..io import provenance
from ..io.devices import engine_threads

RATE = 16000  # DNSMOS, the speaker encoder and the pitch tracker work at 16 kHz
HOP_S = 0.001  # silence windows (10 ms, as health's) slide by 1 ms: gaps to within a few ms
JUMP_OCTAVES = 0.75
JUMP_GAP_S = 0.2
PYIN_FRAME, PYIN_HOP = 1024, 256  # samples at 16 kHz: 64 ms frames every 16 ms
F0_MIN_HZ, F0_MAX_HZ = 60.0, 1000.0  # wide enough that an octave error up or down is still tracked
PACKAGES = ("speechmos", "onnxruntime", "resemblyzer", "torch", "librosa")


def versions() -> dict[str, str]:
    """The packages behind these figures, for results and baselines."""
    return provenance.versions(PACKAGES)


def to_rate(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    mono = np.asarray(samples, dtype=np.float32)
    if sample_rate != RATE:
        mono = resample(mono, sample_rate, RATE)
    return np.clip(mono, -1.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Dnsmos:
    sig: float
    bak: float
    ovrl: float
    p808: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in vars(self).items()}


def _require(module: str, package: str) -> Any:
    try:
        return import_module(module)
    except ImportError as exc:
        hint = ""
        if "pkg_resources" in str(exc):  # webrtcvad 2.0.10, which Resemblyzer requires
            hint = "; webrtcvad needs pkg_resources: pip install --force-reinstall --no-deps webrtcvad-wheels"
        raise SpeechlabError(
            f"{package} is not usable ({exc}){hint} (pip install 'pytest-speechlab[tts-quality]')"
        ) from None


@cache
def _dnsmos_model() -> Any:
    """speechmos's scorer, with its two ONNX sessions made again with our thread count."""
    dnsmos = _require("speechmos.dnsmos", "speechmos")
    import onnxruntime

    folder = Path(dnsmos.__file__).parent / "dnsmos_models"
    primary, p808 = str(folder / "sig_bak_ovr.onnx"), str(folder / "model_v8.onnx")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = engine_threads()
    scorer = dnsmos.DNSMOS(primary, p808)
    scorer.onnx_sess = onnxruntime.InferenceSession(primary, options, providers=["CPUExecutionProvider"])
    scorer.p808_onnx_sess = onnxruntime.InferenceSession(p808, options, providers=["CPUExecutionProvider"])
    return scorer


def dnsmos(samples: np.ndarray, sample_rate: int) -> Dnsmos:
    """DNSMOS P.835 (SIG, BAK, OVRL) and P.808 of float mono ``samples``."""
    scores = _dnsmos_model()(to_rate(samples, sample_rate), RATE, False)
    return Dnsmos(
        float(scores["sig_mos"]),
        float(scores["bak_mos"]),
        float(scores["ovrl_mos"]),
        float(scores["p808_mos"]),
    )


@cache
def _encoder() -> Any:
    resemblyzer = _require("resemblyzer", "resemblyzer")
    import torch

    torch.set_num_threads(min(torch.get_num_threads(), engine_threads()))
    return resemblyzer.VoiceEncoder("cpu", verbose=False)


def speaker_embedding(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Resemblyzer's 256-dimensional, unit-length embedding, after its own preprocessing (volume
    normalised, long silences trimmed)."""
    from resemblyzer import preprocess_wav

    wav = preprocess_wav(to_rate(samples, sample_rate), source_sr=None)
    return np.asarray(_encoder().embed_utterance(wav), dtype=np.float64)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings: 1 for the same direction."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _loud(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int, int]:
    """Which sliding windows (``FRAME_S`` long, every ``HOP_S``) are above the silence level."""
    x = np.asarray(samples, dtype=np.float64)
    window, hop = max(1, int(sample_rate * FRAME_S)), max(1, int(sample_rate * HOP_S))
    if len(x) < window:
        return np.zeros(0, dtype=bool), window, hop
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    starts = np.arange(0, len(x) - window + 1, hop)
    rms = np.sqrt(np.maximum(energy[starts + window] - energy[starts], 0.0) / window)
    return rms >= 10 ** (SILENCE_DBFS / 20), window, hop


def longest_silence(samples: np.ndarray, sample_rate: int) -> float:
    """Seconds of the longest silence between the first and the last sound (health's level)."""
    loud, window, hop = _loud(samples, sample_rate)
    at = np.flatnonzero(loud)
    if len(at) < 2 or (gaps := np.diff(at) - 1).max() == 0:
        return 0.0
    return float(((gaps.max() - 1) * hop + window) / sample_rate)


def spoken_span(samples: np.ndarray, sample_rate: int) -> float:
    """Seconds from the first sound to the end of the last (leading and trailing silence out)."""
    loud, window, hop = _loud(samples, sample_rate)
    at = np.flatnonzero(loud)
    return 0.0 if len(at) == 0 else float(((at[-1] - at[0]) * hop + window) / sample_rate)


def speaking_rate(text: str, samples: np.ndarray, sample_rate: int) -> float:
    """Words of ``text`` per second of the spoken span."""
    span = spoken_span(samples, sample_rate)
    return len(text.split()) / span if span else 0.0


@dataclass(frozen=True)
class Pitch:
    """pYIN's f0 track of an utterance, summarised."""

    median_hz: float
    voiced_share: float  # of the frames
    jumps: int  # changes of JUMP_OCTAVES or more between voiced frames up to JUMP_GAP_S apart

    def as_dict(self) -> dict[str, float | int]:
        return {
            "median_hz": round(self.median_hz, 1),
            "voiced_share": round(self.voiced_share, 4),
            "jumps": self.jumps,
        }


def pitch(samples: np.ndarray, sample_rate: int) -> Pitch:
    import librosa

    f0, voiced, _ = librosa.pyin(
        to_rate(samples, sample_rate),
        fmin=F0_MIN_HZ,
        fmax=F0_MAX_HZ,
        sr=RATE,
        frame_length=PYIN_FRAME,
        hop_length=PYIN_HOP,
    )
    at = np.flatnonzero(voiced)
    if len(at) == 0:
        return Pitch(0.0, 0.0, 0)
    near = np.diff(at) * PYIN_HOP / RATE <= JUMP_GAP_S
    steps = np.abs(np.log2(f0[at[1:]] / f0[at[:-1]]))[near]
    return Pitch(float(np.median(f0[at])), float(voiced.mean()), int(np.count_nonzero(steps >= JUMP_OCTAVES)))


@dataclass(frozen=True)
class Artifacts:
    longest_silence_s: float
    words_per_s: float
    pitch: Pitch

    def as_dict(self) -> dict[str, Any]:
        return {
            "longest_silence_s": round(self.longest_silence_s, 3),
            "words_per_s": round(self.words_per_s, 3),
            "pitch": self.pitch.as_dict(),
        }


def artifacts(text: str, samples: np.ndarray, sample_rate: int) -> Artifacts:
    """The artifact figures of one synthesised utterance of ``text``."""
    return Artifacts(
        longest_silence(samples, sample_rate),
        speaking_rate(text, samples, sample_rate),
        pitch(samples, sample_rate),
    )


def spread(values: Sequence[float]) -> dict[str, float]:
    """Corpus figures of a per-utterance score: the mean and the 5th percentile (the worst 5%)."""
    if not values:
        return {"mean": 0.0, "p5": 0.0}
    arr = np.asarray(values, dtype=float)
    return {"mean": round(float(arr.mean()), 4), "p5": round(float(np.percentile(arr, 5)), 4)}
