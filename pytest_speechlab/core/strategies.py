"""Hypothesis strategies that draw perturbations for property-based robustness tests.

Parameters come from realistic ranges on a coarse grid (0.5 dB, 0.01 in speed, 0.1 s), so test
ids and failure reports stay readable and a failing example is easy to replay by hand. Each
strategy shrinks towards its mildest setting (high SNR, 0 dB gain, speed 1.0, a high clip
level, no padding), so a failure shrinks to the least perturbation that still breaks the engine.

    from hypothesis import given, settings
    from pytest_speechlab import load_audio, strategies

    @settings(max_examples=20, deadline=None)
    @given(perturbation=strategies.noise(min_snr_db=10))
    def test_noise_robust(perturbation):
        clean = load_audio("data/audio/jfk.wav", 16000)
        noisy = perturbation.apply(clean, 16000)
        ...  # transcribe both, compare the WERs
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from .perturb import KINDS, Perturbation

__all__ = [
    "PROFILE",
    "clipping",
    "gains",
    "noise",
    "padding",
    "perturbations",
    "resampling",
    "speeds",
    "telephone",
]


def _grid(low: float, high: float, step: float, mildest: float) -> st.SearchStrategy[float]:
    """Multiples of ``step`` away from ``mildest`` within [low, high], shrinking towards ``mildest``.

    An integer offset rather than a rounded float: hypothesis shrinks integers towards 0, and a
    rounded value can never fall outside the bounds.
    """
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise ValueError(f"need finite bounds with low <= high, got [{low}, {high}]")
    first = math.ceil((low - mildest) / step - 1e-9)
    last = math.floor((high - mildest) / step + 1e-9)
    if first > last:
        raise ValueError(f"no multiple of {step:g} in [{low}, {high}]")
    return st.integers(first, last).map(lambda k: round(mildest + k * step, 6))


def noise(min_snr_db: float = 5.0, max_snr_db: float = 30.0) -> st.SearchStrategy[Perturbation]:
    """White noise at an SNR in 0.5 dB steps: ``@given(p=noise(min_snr_db=10))``."""
    return _grid(min_snr_db, max_snr_db, 0.5, max_snr_db).map(
        lambda snr: Perturbation.of("noise", snr_db=snr)
    )


def gains(min_db: float = -20.0, max_db: float = 6.0) -> st.SearchStrategy[Perturbation]:
    """Gain in 0.5 dB steps; the default range is a quiet talker up to a hot but mostly unclipped one."""
    mildest = min(max(0.0, min_db), max_db)
    return _grid(min_db, max_db, 0.5, mildest).map(lambda db: Perturbation.of("gain", db=db))


def resampling(rates: Iterable[int] = (8000, 11025, 22050)) -> st.SearchStrategy[Perturbation]:
    """A round trip through one of ``rates``, highest (mildest) first so it is what shrinking keeps."""
    choices = sorted({int(rate) for rate in rates}, reverse=True)
    if not choices or choices[-1] <= 0:
        raise ValueError(f"need positive sample rates, got {rates!r}")
    return st.sampled_from(choices).map(lambda rate: Perturbation.of("resample", via_rate=rate))


def speeds(min_factor: float = 0.9, max_factor: float = 1.1) -> st.SearchStrategy[Perturbation]:
    """Tape-style speed change in steps of 0.01: ``@given(p=speeds(0.95, 1.05))``."""
    if min_factor <= 0:
        raise ValueError(f"speed factors must be positive, got {min_factor}")
    mildest = min(max(1.0, min_factor), max_factor)
    return _grid(min_factor, max_factor, 0.01, mildest).map(lambda f: Perturbation.of("speed", factor=f))


def clipping(min_level: float = 0.3, max_level: float = 0.9) -> st.SearchStrategy[Perturbation]:
    """Hard clipping at a fraction of the peak, in steps of 0.05."""
    if not 0 < min_level <= max_level <= 1:
        raise ValueError(f"clip levels must satisfy 0 < min <= max <= 1, got {min_level}, {max_level}")
    return _grid(min_level, max_level, 0.05, max_level).map(
        lambda level: Perturbation.of("clipping", level=level)
    )


def padding(max_s: float = 2.0) -> st.SearchStrategy[Perturbation]:
    """Silence before and after, each 0 to ``max_s`` seconds in 0.1 s steps."""
    seconds = _grid(0.0, max_s, 0.1, 0.0)
    return st.tuples(seconds, seconds).map(lambda s: Perturbation.of("padding", lead_s=s[0], trail_s=s[1]))


def telephone() -> st.SearchStrategy[Perturbation]:
    """The telephone channel; it has no parameters, so this always draws the same one."""
    return st.just(Perturbation.of("telephone"))


_BY_KIND: dict[str, Callable[[], st.SearchStrategy[Perturbation]]] = {
    "noise": noise,
    "gain": gains,
    "resample": resampling,
    "speed": speeds,
    "clipping": clipping,
    "padding": padding,
    "telephone": telephone,
}


def perturbations(kinds: Iterable[str] = KINDS) -> st.SearchStrategy[Perturbation]:
    """Any of ``kinds`` with its default ranges: ``@given(p=perturbations(["noise", "gain"]))``."""
    kinds = tuple(kinds)
    unknown = [kind for kind in kinds if kind not in _BY_KIND]
    if unknown:
        raise ValueError(f"unknown perturbation kinds {unknown}; expected some of {', '.join(KINDS)}")
    if not kinds:
        raise ValueError("perturbations() needs at least one kind")
    return st.one_of([_BY_KIND[kind]() for kind in dict.fromkeys(kinds)])


PROFILE = "speechlab-robustness"  # the hypothesis profile the robustness suite runs under
EXAMPLES = {"ci": 3, "wide": 25}  # drawn perturbations per case and kind


def register_profile(examples: str) -> None:
    """Register ``PROFILE``: ``ci`` draws few examples, derandomised, so every CI run tries the
    same perturbations; ``wide`` draws many, at random, for local exploration. Deadlines are off
    (a transcription takes as long as it takes) and the model fixtures are shared on purpose."""
    settings.register_profile(
        PROFILE,
        max_examples=EXAMPLES[examples],
        derandomize=examples == "ci",
        database=None if examples == "ci" or settings.default is None else settings.default.database,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# Registered on import, for a suite collected with no model selected; the plugin registers the
# run's choice once a model is (and only then imports this module and hypothesis).
register_profile("ci")
