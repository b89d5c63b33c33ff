"""Perturbations of clean audio for metamorphic ASR tests.

A robustness test transcribes a case after one of these and checks the WER stays within a set
degradation of the clean WER, so each one must do exactly what it says and nothing else: noise
at the requested SNR (measured on the noise actually drawn), gain without clipping, band limits
that really remove the band. All are deterministic (seeded) and return a new float32 array,
never touching their input, so a case's clean audio can be reused across perturbations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import signal

KINDS = ("noise", "gain", "resample", "speed", "clipping", "padding", "telephone")

TELEPHONE_BAND = (300.0, 3400.0)  # Hz: the ITU narrowband voice channel
TELEPHONE_RATE = 8000


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive, got {value}")


def _roundtrip(audio: np.ndarray, sample_rate: float, via_rate: float) -> np.ndarray:
    """Down to ``via_rate`` and back, trimmed or zero-padded to the input's length."""
    down = signal.resample(audio, sample_rate, via_rate)
    back = signal.resample(down, via_rate, sample_rate)
    return signal.fix_length(back, audio.shape[-1])


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """Measured SNR of ``noisy`` against ``clean``: whatever changed counts as noise."""
    noise = _power(np.asarray(noisy, dtype=np.float64) - np.asarray(clean, dtype=np.float64))
    signal = _power(np.asarray(clean))
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise) if signal else -math.inf


def add_noise(audio: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White Gaussian noise at exactly ``snr_db`` over the whole clip.

    The noise is rescaled to its own drawn power, not the nominal variance, so the SNR a test
    measures is the one requested, even on a short clip. Silence has no SNR: it comes back as is.
    """
    _finite("snr_db", snr_db)
    clean = np.asarray(audio, dtype=np.float32)
    signal = _power(clean)
    if signal == 0:
        return clean.copy()
    noise = np.asarray(np.random.default_rng(seed).standard_normal(clean.shape))
    noise *= math.sqrt(signal / 10 ** (snr_db / 10) / _power(noise))
    return (clean + noise).astype(np.float32)


def gain(audio: np.ndarray, db: float) -> np.ndarray:
    """Scale by ``db`` decibels. Not clipped, so a large gain may leave [-1, 1]: clipping is a
    perturbation of its own, and mixing the two would hide which one an engine minds."""
    _finite("db", db)
    return (np.asarray(audio, dtype=np.float32) * np.float32(10 ** (db / 20))).astype(np.float32)


def resample(audio: np.ndarray, sample_rate: int, via_rate: int) -> np.ndarray:
    """Round trip through ``via_rate``: what a lower-rate recording path leaves (no content above
    ``via_rate / 2``), at the engine's rate and the input's length so references still align."""
    _positive("sample_rate", sample_rate)
    _positive("via_rate", via_rate)
    clean = np.asarray(audio, dtype=np.float32)
    return np.array(_roundtrip(clean, sample_rate, via_rate), dtype=np.float32)


def change_speed(audio: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """Tape-style speed change (tempo and pitch together, like ``sox speed``): ``factor`` > 1 is
    faster, higher and shorter, about ``len / factor`` samples.

    Playing at ``factor`` times the rate is reading the samples as if recorded at
    ``sample_rate * factor``, then resampling that back to ``sample_rate``.
    """
    _positive("sample_rate", sample_rate)
    _positive("factor", factor)
    clean = np.asarray(audio, dtype=np.float32)
    out = signal.resample(clean, sample_rate * factor, sample_rate)
    return np.array(out, dtype=np.float32)


def clip(audio: np.ndarray, level: float) -> np.ndarray:
    """Hard clip at ``level`` times the clip's own peak, so the same level is as harsh on a quiet
    recording as on a loud one."""
    if not 0 < level <= 1:
        raise ValueError(f"level must be in (0, 1], got {level}")
    clean = np.asarray(audio, dtype=np.float32)
    if clean.size == 0:
        return clean.copy()
    limit = np.float32(level * float(np.max(np.abs(clean))))
    return np.clip(clean, -limit, limit).astype(np.float32)


def pad(audio: np.ndarray, sample_rate: int, lead_s: float, trail_s: float) -> np.ndarray:
    """Digital silence before and after: an engine should not hallucinate words into it."""
    _positive("sample_rate", sample_rate)
    if not (lead_s >= 0 and trail_s >= 0 and math.isfinite(lead_s + trail_s)):
        raise ValueError(f"padding must be non-negative seconds, got {lead_s} and {trail_s}")
    clean = np.asarray(audio, dtype=np.float32)
    lead, trail = round(lead_s * sample_rate), round(trail_s * sample_rate)
    return np.concatenate([np.zeros(lead, np.float32), clean, np.zeros(trail, np.float32)])


def telephone(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """A narrowband telephone channel: the 300-3400 Hz voice band, then an 8 kHz round trip.

    The band-pass runs forwards and backwards (zero phase), so words do not shift in time.
    """
    low, high = TELEPHONE_BAND
    if sample_rate <= 2 * high:
        raise ValueError(f"telephone needs a sample rate above {2 * high:g} Hz, got {sample_rate}")
    import scipy.signal  # here: scipy.signal is slow to import and only this needs it

    sos = scipy.signal.butter(4, [low, high], btype="bandpass", fs=sample_rate, output="sos")
    band = scipy.signal.sosfiltfilt(sos, np.asarray(audio, dtype=np.float64))
    return np.array(_roundtrip(band, sample_rate, TELEPHONE_RATE), dtype=np.float32)


# kind -> (required params, optional params with defaults)
_PARAMS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "noise": (("snr_db",), {"seed": 0}),
    "gain": (("db",), {}),
    "resample": (("via_rate",), {}),
    "speed": (("factor",), {}),
    "clipping": (("level",), {}),
    "padding": (("lead_s", "trail_s"), {}),
    "telephone": ((), {}),
}


def _fmt(value: float) -> str:
    return f"{value:g}".replace("+", "")


@dataclass(frozen=True)
class Perturbation:
    """One perturbation with its parameters: hashable, printable, and stable as a pytest id."""

    kind: str
    params: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in _PARAMS:
            raise ValueError(f"unknown perturbation kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        required, optional = _PARAMS[self.kind]
        given = dict(self.params)
        missing = [name for name in required if name not in given]
        unknown = sorted(set(given) - set(required) - set(optional))
        if missing or unknown or len(given) != len(self.params):
            raise ValueError(
                f"{self.kind} takes {', '.join(required + tuple(optional)) or 'no parameters'}; "
                f"missing {missing}, unknown {unknown}"
            )
        for name, value in given.items():
            _finite(f"{self.kind} {name}", float(value))
        # normalised here so equal perturbations compare and hash equal, however they were built
        object.__setattr__(self, "params", tuple(sorted((k, float(v)) for k, v in given.items())))

    @classmethod
    def of(cls, kind: str, **params: float) -> Perturbation:
        """``Perturbation.of("noise", snr_db=10)``."""
        return cls(kind, tuple(params.items()))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Perturbation:
        """The inverse of :meth:`as_dict`, for perturbations read back from a report."""
        return cls.of(data["kind"], **data.get("params", {}))

    def _get(self, name: str) -> float:
        return dict(self.params).get(name, _PARAMS[self.kind][1].get(name, 0.0))

    def apply(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """The perturbed copy of ``audio`` (float32, at ``sample_rate``)."""
        p = self._get
        match self.kind:
            case "noise":
                return add_noise(audio, p("snr_db"), seed=int(p("seed")))
            case "gain":
                return gain(audio, p("db"))
            case "resample":
                return resample(audio, sample_rate, int(p("via_rate")))
            case "speed":
                return change_speed(audio, sample_rate, p("factor"))
            case "clipping":
                return clip(audio, p("level"))
            case "padding":
                return pad(audio, sample_rate, p("lead_s"), p("trail_s"))
            case _:
                return telephone(audio, sample_rate)

    def describe(self) -> str:
        """A phrase for reports: ``noise at 10 dB SNR``."""
        p = self._get
        match self.kind:
            case "noise":
                seed = f", seed {int(p('seed'))}" if p("seed") else ""
                return f"noise at {_fmt(p('snr_db'))} dB SNR{seed}"
            case "gain":
                return f"gain {p('db'):+g} dB"
            case "resample":
                return f"resampled via {_fmt(p('via_rate'))} Hz"
            case "speed":
                return f"speed x{_fmt(p('factor'))}"
            case "clipping":
                return f"clipped at {_fmt(round(p('level') * 100, 4))}% of peak"
            case "padding":
                return f"padding {_fmt(p('lead_s'))} s + {_fmt(p('trail_s'))} s"
            case _:
                return f"telephone band {_fmt(TELEPHONE_BAND[0])}-{_fmt(TELEPHONE_BAND[1])} Hz"

    @property
    def id(self) -> str:
        """A pytest id (only ``[A-Za-z0-9._-]``): ``noise-snr10``, ``gain-6db``, ``speed-x1.05``."""
        p = self._get
        match self.kind:
            case "noise":
                seed = f"-seed{int(p('seed'))}" if p("seed") else ""
                return f"noise-snr{_fmt(p('snr_db'))}{seed}"
            case "gain":
                return f"gain{_fmt(p('db'))}db"
            case "resample":
                return f"resample-{_fmt(p('via_rate'))}hz"
            case "speed":
                return f"speed-x{_fmt(p('factor'))}"
            case "clipping":
                return f"clip-{_fmt(round(p('level') * 100, 4))}pct"
            case "padding":
                return f"pad-{_fmt(p('lead_s'))}s-{_fmt(p('trail_s'))}s"
            case _:
                return "telephone"

    def as_dict(self) -> dict[str, Any]:
        """``{"kind": ..., "params": {...}}``, for JSON reports."""
        return {"kind": self.kind, "params": dict(self.params)}

    def __str__(self) -> str:
        return self.describe()


def noise_sweep(snrs: tuple[float, ...] = (30, 20, 10, 5, 0)) -> tuple[Perturbation, ...]:
    """Noise at fixed SNRs, mildest first: the points of a deterministic WER-vs-SNR curve."""
    return tuple(Perturbation.of("noise", snr_db=snr) for snr in snrs)
