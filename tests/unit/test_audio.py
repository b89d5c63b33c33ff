"""Audio at any common rate, channel count and sample format decodes to the same 16 kHz signal."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from pytest_speechlab.core.signal import resample
from pytest_speechlab.errors import SpeechlabError
from pytest_speechlab.io.audio import load_audio
from pytest_speechlab.measure import run as runner

from ..projects import short_cases, speech_clip

RATES = (8000, 16000, 22050, 44100, 48000)
FORMATS = (("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"))


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    return speech_clip()


def variant(speech, tmp_path, rate: int, fmt: str, subtype: str, channels: int):
    samples, source_rate = speech
    signal = resample(samples, source_rate, rate) * 0.8
    if channels == 2:
        signal = np.stack([signal, signal], axis=1)
    path = tmp_path / f"v{rate}_{subtype}_{channels}.{fmt.lower()}"
    soundfile.write(path, signal, rate, subtype=subtype, format=fmt)
    return path


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(("fmt", "subtype"), FORMATS)
@pytest.mark.parametrize("channels", [1, 2])
def test_every_variant_decodes_to_the_same_16k_signal(speech, tmp_path, rate, fmt, subtype, channels):
    path = variant(speech, tmp_path, rate, fmt, subtype, channels)
    audio = load_audio(path, 16000)
    samples, source_rate = speech
    reference = resample(samples, source_rate, 16000) * 0.8
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - len(reference)) <= 16000 // rate + 2
    n = min(len(audio), len(reference))
    if rate >= 16000:  # narrower bands lose the top of the spectrum; the rest must match closely
        assert np.corrcoef(audio[:n], reference[:n])[0, 1] > 0.99
    else:
        assert np.corrcoef(audio[:n], reference[:n])[0, 1] > 0.8


def test_corrupt_audio_names_the_file(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(SpeechlabError, match=r"broken.wav: cannot decode audio"):
        load_audio(path, 16000)


def test_audio_is_decoded_once_per_session(monkeypatch):
    calls = []

    def counting(case, rate):
        calls.append((case.audio, rate))
        return np.zeros(16000, dtype=np.float32)

    monkeypatch.setattr(runner, "case_audio", counting)
    cache = runner.AudioCache()
    case = short_cases()[0]
    for _ in range(3):
        cache.get(case, 16000)
    assert len(calls) == 1


def test_uploaded_float_wav_decodes_to_the_very_samples():
    """What the openai_api engine uploads (float32 WAV) reaches the server's engine bit for bit,
    even beyond full scale."""
    from pytest_speechlab.io.audio import decode_audio, encode_audio

    samples = (np.random.default_rng(0).standard_normal(16000) * 0.7).astype(np.float32)
    samples[:10] = [1.5, -2.0, 1e-8, 0, 0.25, -0.25, 1, -1, 3.0, 0.5]
    assert np.array_equal(decode_audio(encode_audio(samples, 16000), 16000, "upload.wav"), samples)
