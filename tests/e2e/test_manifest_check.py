"""``speechlab manifest check`` on real files: a clip cut to 0.07 s under a seven-word text, a
silent one, a clipped one, an 8 kHz one among 16 kHz ones and copies under other ids are each
named; the header-only part of the check warns at collection."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from ..projects import Project
from .test_gate import TOY_ENGINE

RATE = 16000
SPEECH = "one two three"  # three words in a second: an easy pace


def noise(seed: int, seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    """A stand-in for speech: its own samples per seed, peaking near -10 dBFS, never clipped."""
    return (np.random.default_rng(seed).uniform(-0.3, 0.3, round(seconds * rate))).astype(np.float32)


def clean_cases(folder: Path, count: int = 8) -> list[dict[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for i in range(1, count + 1):
        soundfile.write(folder / f"ok_{i}.wav", noise(i), RATE, subtype="PCM_16")
        cases.append({"id": f"ok_{i}", "audio": f"ok_{i}.wav", "text": SPEECH})
    return cases


def suspicious_cases(folder: Path) -> list[dict[str, str]]:
    """The clean cases, then one of each mistake."""
    cases = clean_cases(folder)
    soundfile.write(folder / "cut.wav", noise(20, 0.07), RATE, subtype="PCM_16")  # 2.3 KB, a valid WAV
    soundfile.write(folder / "quiet.wav", np.zeros(RATE, np.float32), RATE, subtype="PCM_16")
    square = np.tile(
        np.array([1.0, -1.0, 0.5, -0.5], np.float32), RATE // 4
    )  # half the samples at full scale
    soundfile.write(folder / "loud.wav", square, RATE, subtype="PCM_16")
    soundfile.write(folder / "phone.wav", noise(21, rate=8000), 8000, subtype="PCM_16")
    shutil.copy(folder / "ok_1.wav", folder / "copy.wav")  # the same bytes
    soundfile.write(folder / "ok_2.flac", soundfile.read(folder / "ok_2.wav")[0], RATE)  # the same samples
    return [
        *cases,
        {"id": "cut", "audio": "cut.wav", "text": "the quick brown fox jumps over dogs"},
        {"id": "quiet", "audio": "quiet.wav", "text": SPEECH},
        {"id": "loud", "audio": "loud.wav", "text": SPEECH},
        {"id": "phone", "audio": "phone.wav", "text": SPEECH},
        {"id": "copy", "audio": "copy.wav", "text": SPEECH},
        {"id": "ok_2_flac", "audio": "ok_2.flac", "text": SPEECH},
    ]


def write_manifest(folder: Path, cases: list[dict[str, str]]) -> Path:
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump({"cases": cases}, sort_keys=False))
    return path


def speechlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_speechlab.cli", *args], cwd=cwd, capture_output=True, text=True
    )


FOUND = [
    "case cut: 0.07 s of audio for 7 words (at most 6 words/s is speech)",
    "case quiet: silent, peak -200 dBFS (speech peaks above -50 dBFS)",
    "case loud: clipped, 50.0% of samples at full scale (over 1% is distortion)",
    "case phone: 8000 Hz where 13 of 14 cases are 16000 Hz",
    "cases ok_1 and copy: the same audio",
    "cases ok_2 and ok_2_flac: the same audio",
]


def test_check_names_each_suspicious_case(tmp_path: Path):
    manifest = write_manifest(tmp_path / "speech", suspicious_cases(tmp_path / "speech"))
    done = speechlab("manifest", "check", str(manifest), cwd=tmp_path)
    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout.splitlines() == [*FOUND, "speechlab: 6 suspicious case(s) in 14 cases"]


def test_a_clean_manifest_and_the_configured_one(tmp_path: Path):
    folder = tmp_path / "speech"
    write_manifest(folder, clean_cases(folder))
    (tmp_path / "pyproject.toml").write_text('[tool.speechlab]\nmanifest = "speech/manifest.yaml"\n')
    done = speechlab("manifest", "check", cwd=tmp_path)  # the manifest of [tool.speechlab]
    assert (done.returncode, done.stdout, done.stderr) == (0, "speechlab: 8 cases, nothing suspicious\n", "")


def test_a_bad_manifest_is_one_line(tmp_path: Path):
    (tmp_path / "manifest.yaml").write_text("cases: []\n")
    done = speechlab("manifest", "check", "manifest.yaml", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "speechlab: error: manifest.yaml: 'cases' is empty\n"
    nowhere = speechlab("manifest", "check", cwd=tmp_path)  # no pyproject.toml here
    assert nowhere.returncode == 2 and nowhere.stderr.count("\n") == 1, nowhere.stderr


def test_collection_warns_of_what_the_headers_show(project: Project):
    """At collection only headers and file sizes are read: the cut clip, the 8 kHz one and the
    byte-for-byte copy are found; silence, clipping and a re-encoded copy need the samples."""
    project.pytester.makeconftest(TOY_ENGINE)
    shutil.rmtree(project.path / "data" / "audio")
    cases = suspicious_cases(project.path / "data" / "audio")
    project.write_manifest([{**c, "audio": f"audio/{c['audio']}"} for c in cases])
    result = project.run("--co", "-q", model="toy_echo")
    assert result.ret == 0, result.stdout.str()
    full = "(`speechlab manifest check` decodes the audio for the full check)"
    result.stdout.fnmatch_lines(
        [
            "*warnings summary*",
            f"*SpeechlabWarning: {FOUND[0]} {full}",
            f"*SpeechlabWarning: {FOUND[3]} {full}",
            f"*SpeechlabWarning: {FOUND[4]} {full}",
        ]
    )
    assert result.stdout.str().count("SpeechlabWarning: ") == 3
    strict = project.run(
        "--co", "-q", "-W", "error::pytest_speechlab.errors.SpeechlabWarning", model="toy_echo"
    )
    assert strict.ret == pytest.ExitCode.USAGE_ERROR  # one line, as any bad input, not a traceback
    strict.stderr.fnmatch_lines([f"ERROR: {FOUND[0]} {full}"])
