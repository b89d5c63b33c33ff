"""The robustness perturbations do what they say: measured SNR, gain, band limits, speed, clipping.

A metamorphic test is only as good as its perturbation: a noise level 3 dB off or a band-pass
that leaks would move the WER threshold without anyone noticing. Properties are checked over
hypothesis draws of the exported strategies, on synthetic signals and on a bundled clip.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_speechlab import load_audio
from pytest_speechlab.core import strategies
from pytest_speechlab.core.perturb import (
    KINDS,
    Perturbation,
    add_noise,
    change_speed,
    clip,
    gain,
    noise_sweep,
    pad,
    resample,
    snr_db,
    telephone,
)

SR = 16000
CLIP = Path(__file__).resolve().parents[2] / "data" / "audio" / "cards_001.wav"  # "ten of clubs", ~1 s
ID = re.compile(r"^[A-Za-z0-9._-]+$")
FAST = settings(max_examples=25, deadline=None, derandomize=True)


def synthetic(seconds: float = 1.5, seed: int = 7) -> np.ndarray:
    """Tones plus amplitude-modulated noise: broadband, uneven in time, like speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SR)) / SR
    tones = sum(
        a * np.sin(2 * np.pi * f * t + p) for a, f, p in [(0.3, 220, 0), (0.2, 1000, 1), (0.1, 2500, 2)]
    )
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    x = tones + 0.1 * envelope * rng.standard_normal(t.size)
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def tone(freq: float, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(np.square(x, dtype=np.float64))))


def middle(x: np.ndarray, edge: int = 1600) -> np.ndarray:
    """Away from the ends, where filters and resamplers ring."""
    return x[edge:-edge]


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / SR)[np.argmax(spectrum)])


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return synthetic()


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load_audio(CLIP, SR)


# noise


@FAST
@given(p=strategies.noise(), seed=st.integers(0, 2**32 - 1))
def test_noise_hits_the_requested_snr(signal, p, seed):
    snr = dict(p.params)["snr_db"]
    before = signal.copy()
    noisy = add_noise(signal, snr, seed=seed)
    assert abs(snr_db(signal, noisy) - snr) < 0.5
    np.testing.assert_array_equal(signal, before)


@FAST
@given(p=strategies.noise(min_snr_db=0.0))
def test_noise_on_real_speech(speech, p):
    noisy = p.apply(speech, SR)
    assert noisy.dtype == np.float32 and noisy.shape == speech.shape
    assert abs(snr_db(speech, noisy) - dict(p.params)["snr_db"]) < 0.5


def test_noise_is_deterministic(signal):
    np.testing.assert_array_equal(add_noise(signal, 10, seed=3), add_noise(signal, 10, seed=3))
    assert not np.array_equal(add_noise(signal, 10, seed=3), add_noise(signal, 10, seed=4))
    p = Perturbation.of("noise", snr_db=10)
    np.testing.assert_array_equal(p.apply(signal, SR), add_noise(signal, 10))


def test_noise_leaves_silence_alone():
    silence = np.zeros(SR, np.float32)
    out = add_noise(silence, 10)
    np.testing.assert_array_equal(out, silence)
    assert out is not silence


def test_noise_sweep_is_a_monotone_curve(speech):
    sweep = noise_sweep()
    assert [p.id for p in sweep] == ["noise-snr30", "noise-snr20", "noise-snr10", "noise-snr5", "noise-snr0"]
    measured = [snr_db(speech, p.apply(speech, SR)) for p in sweep]
    assert measured == sorted(measured, reverse=True)
    assert np.allclose(measured, [30, 20, 10, 5, 0], atol=0.5)


# gain


@FAST
@given(p=strategies.gains())
def test_gain_changes_rms_by_exactly_the_gain(signal, p):
    out = p.apply(signal, SR)
    assert abs(rms_db(out) - rms_db(signal) - dict(p.params)["db"]) < 0.05


def test_gain_does_not_clip(signal):
    assert np.max(np.abs(gain(signal, 12))) > 1.0


# resampling


@FAST
@given(p=strategies.resampling())
def test_resample_keeps_the_length(signal, p):
    assert p.apply(signal, SR).shape == signal.shape


def test_resample_removes_the_band_above_the_new_nyquist():
    high, low = tone(6000), tone(1000)
    assert rms_db(middle(resample(high, SR, 8000))) < rms_db(middle(high)) - 30
    assert abs(rms_db(middle(resample(low, SR, 8000))) - rms_db(middle(low))) < 1


# speed


@FAST
@given(p=strategies.speeds())
def test_speed_changes_duration_and_pitch(p):
    factor = dict(p.params)["factor"]
    x = tone(1000, seconds=1.5)
    out = p.apply(x, SR)
    assert abs(out.size / x.size * factor - 1) < 0.01
    assert abs(peak_hz(middle(out)) - 1000 * factor) < 3


def test_speed_above_one_is_faster(signal):
    assert change_speed(signal, SR, 1.25).size == pytest.approx(signal.size / 1.25, abs=1)
    assert change_speed(signal, SR, 0.8).size == pytest.approx(signal.size / 0.8, abs=1)


# clipping


@FAST
@given(p=strategies.clipping())
def test_clipping_caps_at_the_level(speech, p):
    level = dict(p.params)["level"]
    out = p.apply(speech, SR)
    limit = level * np.max(np.abs(speech))
    assert abs(np.max(np.abs(out)) - limit) < 1e-6
    assert np.sum(np.isclose(np.abs(out), limit, rtol=0, atol=1e-7)) > 1
    below = np.abs(speech) < np.float32(limit)
    np.testing.assert_array_equal(out[below], speech[below])


def test_clipping_level_must_be_a_fraction(signal):
    with pytest.raises(ValueError, match="level"):
        clip(signal, 1.5)


# padding


@FAST
@given(p=strategies.padding())
def test_padding_adds_exact_silence(signal, p):
    lead, trail = (round(dict(p.params)[k] * SR) for k in ("lead_s", "trail_s"))
    out = p.apply(signal, SR)
    assert out.size == lead + signal.size + trail
    assert not np.any(out[:lead]) and not np.any(out[out.size - trail :])
    np.testing.assert_array_equal(out[lead : lead + signal.size], signal)


def test_pad_counts_samples():
    out = pad(np.ones(10, np.float32), SR, 0.5, 1.0)
    assert out.size == 8000 + 10 + 16000 and out[8000:8010].all()


# telephone


def test_telephone_keeps_only_the_voice_band():
    for freq, check in [
        (100, lambda d: d < -15),
        (1000, lambda d: abs(d) < 1),
        (5000, lambda d: d < -30),
    ]:
        x = tone(freq)
        out = telephone(x, SR)
        assert out.shape == x.shape and out.dtype == np.float32
        change = rms_db(middle(out)) - rms_db(middle(x))
        assert check(change), f"{freq} Hz changed by {change:.1f} dB"


def test_telephone_on_speech(speech):
    out = Perturbation.of("telephone").apply(speech, SR)
    assert out.shape == speech.shape and np.all(np.isfinite(out))


# the Perturbation value and the strategies


ALL = [
    strategies.noise(),
    strategies.gains(),
    strategies.resampling(),
    strategies.speeds(),
    strategies.clipping(),
    strategies.padding(),
    strategies.telephone(),
    strategies.perturbations(),
]


@pytest.mark.parametrize("strategy", ALL, ids=[*KINDS, "any"])
@settings(max_examples=10, deadline=None, derandomize=True)
@given(data=st.data())
def test_every_draw_is_a_usable_test_case(signal, strategy, data):
    p = data.draw(strategy)
    assert ID.match(p.id), p.id
    assert p.describe()
    restored = json.loads(json.dumps(p.as_dict()))
    assert Perturbation.from_dict(restored) == p
    hash(p)
    before = signal.copy()
    out = p.apply(signal, SR)
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    np.testing.assert_array_equal(signal, before)


def test_strategies_only_draw_the_chosen_kinds():
    seen = set()

    @settings(max_examples=40, deadline=None, derandomize=True)
    @given(p=strategies.perturbations(["gain", "telephone"]))
    def draw(p):
        seen.add(p.kind)

    draw()
    assert seen == {"gain", "telephone"}


@pytest.mark.parametrize(
    ("p", "description", "id_"),
    [
        (Perturbation.of("noise", snr_db=10), "noise at 10 dB SNR", "noise-snr10"),
        (Perturbation.of("noise", snr_db=7.5, seed=2), "noise at 7.5 dB SNR, seed 2", "noise-snr7.5-seed2"),
        (Perturbation.of("gain", db=-6), "gain -6 dB", "gain-6db"),
        (Perturbation.of("gain", db=3.5), "gain +3.5 dB", "gain3.5db"),
        (Perturbation.of("resample", via_rate=8000), "resampled via 8000 Hz", "resample-8000hz"),
        (Perturbation.of("speed", factor=1.05), "speed x1.05", "speed-x1.05"),
        (Perturbation.of("clipping", level=0.35), "clipped at 35% of peak", "clip-35pct"),
        (Perturbation.of("padding", lead_s=0.5, trail_s=1.0), "padding 0.5 s + 1 s", "pad-0.5s-1s"),
        (Perturbation.of("telephone"), "telephone band 300-3400 Hz", "telephone"),
    ],
)
def test_descriptions_and_ids(p, description, id_):
    assert p.describe() == description and str(p) == description
    assert p.id == id_


def test_params_are_sorted_so_equal_perturbations_hash_equal():
    a = Perturbation.of("padding", trail_s=1, lead_s=0.5)
    b = Perturbation("padding", (("lead_s", 0.5), ("trail_s", 1.0)))
    assert a == b and hash(a) == hash(b)
    assert a.params == (("lead_s", 0.5), ("trail_s", 1.0))


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="bogus"):
        Perturbation.of("bogus")
    with pytest.raises(ValueError, match="bogus"):
        strategies.perturbations(["noise", "bogus"])


@pytest.mark.parametrize(
    ("kind", "params"),
    [("noise", {}), ("gain", {"db": 1, "level": 0.5}), ("telephone", {"db": 1}), ("gain", {"db": math.nan})],
)
def test_bad_params_are_refused(kind, params):
    with pytest.raises(ValueError, match=kind):
        Perturbation.of(kind, **params)
