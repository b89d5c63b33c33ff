"""Text-to-speech quality on real synthesised speech (Piper and espeak-ng, offline): DNSMOS,
speaker similarity and artifacts, each with a staged fault that must show."""

from __future__ import annotations

import importlib.util
import shutil
from typing import Any

import numpy as np
import pytest

from pytest_speechlab.core.perturb import add_noise
from pytest_speechlab.engines import engine_class
from pytest_speechlab.errors import SpeechlabError
from pytest_speechlab.measure import voice_models as voice

pytest.importorskip("piper")
if shutil.which("espeak-ng") is None:
    pytest.skip("espeak-ng is not installed", allow_module_level=True)

SENTENCES = (
    "Set a timer for fifteen minutes and remind me to call Grandma Rosa.",
    "The museum opened in 1895 and now holds more than forty thousand paintings.",
    "Turn the volume down to level three.",
)


def usable(check: Any) -> None:
    """Skip, with the reason, where an optional package of the tts-quality extra cannot load."""
    try:
        check()
    except SpeechlabError as exc:
        pytest.skip(str(exc))


def engine(name: str, **options: Any) -> Any:
    cls = engine_class(name)
    return cls.load(None, "cpu", {**cls.default_options, **options})


@pytest.fixture(scope="module")
def speech() -> dict[str, tuple[list[np.ndarray], int]]:
    """The sentences, synthesised once per module by each engine: (clips, sample rate)."""
    out = {}
    for name in ("piper", "espeak"):
        tts = engine(name)
        out[name] = ([tts.synthesize(s, "en") for s in SENTENCES], tts.output_sample_rate)
    return out


@pytest.mark.full  # the tts-quality extra (DNSMOS, Resemblyzer, librosa's pyin)
def test_dnsmos_ranks_piper_above_espeak_and_clean_above_noisy(speech):
    usable(voice._dnsmos_model)
    piper, rate = speech["piper"]
    espeak, espeak_rate = speech["espeak"]
    piper, espeak = piper[:2], espeak[:2]  # two sentences: DNSMOS costs about a second a clip
    clean = [voice.dnsmos(x, rate) for x in piper]
    formant = [voice.dnsmos(x, espeak_rate) for x in espeak]
    noisy = [voice.dnsmos(add_noise(x, 10, seed=i), rate) for i, x in enumerate(piper)]
    for c, f, n in zip(clean, formant, noisy, strict=True):
        assert 1 <= f.ovrl < c.ovrl <= 5 and c.p808 > f.p808
        assert n.bak < c.bak - 1 and n.ovrl < c.ovrl  # the noise is heard as background
    assert voice.spread([c.ovrl for c in clean])["p5"] <= voice.spread([c.ovrl for c in clean])["mean"]
    assert set(clean[0].as_dict()) == {"sig", "bak", "ovrl", "p808"}


@pytest.mark.full  # the tts-quality extra (DNSMOS, Resemblyzer, librosa's pyin)
def test_the_same_voice_is_more_similar_than_another_engine_and_a_drifting_voice_falls_below(speech):
    """Piper's voice against its first sentence: its other sentences are close, espeak is far,
    and the same sentences pitch-shifted up four semitones (a drifting voice) fall below what a
    gate would allow."""
    usable(voice._encoder)
    import librosa

    piper, rate = speech["piper"]
    espeak, espeak_rate = speech["espeak"]
    reference = voice.speaker_embedding(piper[0], rate)
    same = [voice.similarity(voice.speaker_embedding(x, rate), reference) for x in piper[1:]]
    other = [voice.similarity(voice.speaker_embedding(x, espeak_rate), reference) for x in espeak]
    drifted = [
        voice.similarity(
            voice.speaker_embedding(librosa.effects.pitch_shift(x, sr=rate, n_steps=4), rate),
            reference,
        )
        for x in piper[1:]
    ]
    floor = min(same) - 0.05  # a baseline's similarity less a tolerance
    assert min(same) > max(other) + 0.1
    assert max(drifted) < floor
    assert voice.similarity(reference, reference) == pytest.approx(1.0)


def test_a_staged_stall_is_measured_to_within_10_ms(speech):
    piper, rate = speech["piper"]
    x = piper[0]
    frame = int(0.010 * rate)
    levels = [np.sqrt(np.mean(x[i : i + frame] ** 2)) for i in range(0, len(x) - frame, frame)]
    loudest = int(np.argmax(levels)) * frame + frame // 2  # cut in the middle of a loud sound
    before = voice.longest_silence(x, rate)
    stalled = np.concatenate([x[:loudest], np.zeros(int(0.6 * rate), np.float32), x[loudest:]])
    assert before < 0.6
    assert voice.longest_silence(stalled, rate) == pytest.approx(0.6, abs=0.010)
    assert type(voice.longest_silence(stalled, rate)) is float  # plain: it crosses processes
    assert voice.longest_silence(np.zeros(rate, np.float32), rate) == 0.0


def test_speaking_rate_follows_espeaks_words_per_minute(speech):
    espeak, rate = speech["espeak"]
    fast = engine("espeak", words_per_minute=240)
    normal = [voice.speaking_rate(s, x, rate) for s, x in zip(SENTENCES, espeak, strict=True)]
    quick = [voice.speaking_rate(s, fast.synthesize(s, "en"), rate) for s in SENTENCES]
    ratios = [q / n for q, n in zip(quick, normal, strict=True)]
    assert all(1.3 < r < 1.7 for r in ratios), ratios  # asked for 1.5 times the pace
    assert all(1.5 < n < 4.5 for n in normal)  # words per second of plain speech
    assert all(type(n) is float for n in normal)


@pytest.mark.full  # the tts-quality extra (DNSMOS, Resemblyzer, librosa's pyin)
def test_a_staged_octave_error_shows_as_pitch_jumps(speech):
    """The middle third of a Piper sentence shifted up an octave: a jump where it starts (where
    it ends the shifted contour has fallen, so that step is less than an octave); the sentence
    as synthesised has none."""
    import librosa

    piper, rate = speech["piper"]
    x = piper[1]
    third = len(x) // 3
    up = librosa.effects.pitch_shift(x[third : 2 * third], sr=rate, n_steps=12)
    broken = np.concatenate([x[:third], up, x[2 * third :]])
    clean, faulty = voice.pitch(x, rate), voice.pitch(broken, rate)
    assert 70 < clean.median_hz < 250 and clean.voiced_share > 0.3
    assert clean.jumps == 0 and faulty.jumps >= 1
    assert faulty.median_hz > clean.median_hz
    artifacts = voice.artifacts(SENTENCES[1], x, rate)
    assert artifacts.pitch == clean and set(artifacts.as_dict()) == {
        "longest_silence_s",
        "words_per_s",
        "pitch",
    }


def test_versions_name_the_packages_behind_the_figures():
    found = voice.versions()
    assert set(found) == set(voice.PACKAGES)
    for package, version in found.items():  # an installed package by its version, else said so
        assert (version == "not installed") == (importlib.util.find_spec(package) is None), package
