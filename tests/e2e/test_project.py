"""A newcomer's own project, as the README tells it: init from a folder of audio and transcripts,
record baselines, gate, register and promote; and ``speechlab compare`` of two results files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_speechlab.report.compare import compare

from ..projects import commit_all, short_cases


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)


def speechlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "pytest_speechlab.cli", *args, cwd=cwd)


def pytest_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, cwd=cwd)


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    folder.mkdir()
    for case in short_cases()[:2]:
        shutil.copy(case.audio, folder / case.audio.name)
        (folder / f"{case.audio.stem}.txt").write_text(case.text)
    return folder


@pytest.mark.slow  # run first: see tests/conftest.py
def test_init_gate_register_promote(tmp_path: Path, recordings: Path):
    init = speechlab("init", "--audio", "recordings", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    written = {line.split("wrote ")[1] for line in init.stdout.splitlines() if "wrote" in line}
    assert written == {"pyproject.toml", "recordings/manifest.yaml", "tests/test_speech.py", ".gitignore"}
    assert "*.lock" in (tmp_path / ".gitignore").read_text()
    assert not (tmp_path / "speech" / "registry.yaml").exists()  # nothing registered silently
    again = speechlab("init", cwd=tmp_path)
    assert "kept pyproject.toml (it has a [tool.speechlab] block already)" in again.stdout
    assert "kept test_speech.py (exists; --force replaces it)" in again.stdout

    record = pytest_in(tmp_path, "--speech-model=faster_whisper", "--update-baselines")
    assert record.returncode == 0, record.stdout
    assert (tmp_path / "speech" / "baselines" / "faster_whisper" / "cpu.json").is_file()
    gate = pytest_in(tmp_path, "--speech-model=faster_whisper")
    assert gate.returncode == 0 and "overall: pass" in gate.stdout, gate.stdout

    assert speechlab("register", "faster_whisper", "--reason", "ours", cwd=tmp_path).returncode == 0
    promotion = ("promote", "faster_whisper", "--to", "candidate", "--reason", "gated")
    unverified = speechlab(*promotion, cwd=tmp_path)
    assert unverified.returncode == pytest.ExitCode.USAGE_ERROR
    assert "not a git repository" in unverified.stderr  # a promotion gates what was committed
    commit_all(tmp_path, "baselines recorded")
    promote = speechlab(*promotion, cwd=tmp_path)
    assert promote.returncode == 0, promote.stdout + promote.stderr
    assert "experimental -> candidate" in promote.stdout
    assert "commit (not a git repository)" not in promote.stdout
    assert "PytestAssertRewriteWarning" not in promote.stdout + promote.stderr
    listing = speechlab("list", cwd=tmp_path).stdout
    assert listing.splitlines()[1].split()[:2] == ["faster_whisper", "candidate"]


def test_init_without_audio_writes_a_skeleton_that_asks_to_be_filled(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    assert speechlab("init", "--suites", "asr,tts", cwd=tmp_path).returncode == 0
    assert '[project]\nname = "mine"\n' in (tmp_path / "pyproject.toml").read_text()  # kept, block appended
    assert (
        "from pytest_speechlab.suites.test_tts import *"
        in (tmp_path / "tests" / "test_speech.py").read_text()
    )
    empty = pytest_in(tmp_path, "--speech-model=faster_whisper")
    assert empty.returncode == pytest.ExitCode.USAGE_ERROR
    assert "speech/manifest.yaml: 'cases' is empty" in empty.stderr
    bad = speechlab("init", "--suites", "asr,karaoke", "--force", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown suite(s) karaoke" in bad.stderr


def _results(hypotheses: list[str], latency: float) -> dict:
    cases = []
    for i, (reference, hypothesis) in enumerate(zip(REFS, hypotheses, strict=True)):
        words = list(zip(reference.split(), hypothesis.split(), strict=True))
        wer = sum(a != b for a, b in words) / len(words)
        texts = {"reference": reference, "hypothesis": hypothesis}
        cases.append({"id": f"c{i}", **texts, "wer": wer, "cer": wer / 2, "latency_ms": {"median": latency}})
    return {"model": "m", "device": "cpu", "cases": cases}


REFS = [f"the quick brown fox number {n} jumps" for n in range(30)]  # seven words each


def test_compare_tables_cases_and_the_corpus_interval():
    before = _results(REFS, 100.0)
    worse = [r.replace("quick", "slow") if i % 2 else r for i, r in enumerate(REFS)]
    lines = compare(before, _results(worse, 120.0), ("a.json", "b.json"))
    text = "\n".join(lines)
    assert lines[:2] == ["A: a.json", "B: b.json"]
    assert (
        "c1    0.0000  0.1429  +0.1429  0.0000  0.0714  100.0         120.0         changed" in text
    )  # 1 of 7 words
    assert "corpus over the 30 speech cases both measured against the same reference:" in text
    assert (
        "WER A 0.0000, B 0.0714: corpus WER change +0.0714 [" in text and "15 changed): significant" in text
    )
    same = "\n".join(compare(before, before, ("a", "a")))
    assert "0 changed): not significant" in same
    markdown = compare(before, _results(worse, 120.0), ("a", "b"), markdown=True)
    assert (
        "| case | WER A | WER B | delta | CER A | CER B | latency ms A | latency ms B | transcript "
        "| verdict A / B |" in markdown
    )


def test_compare_command(tmp_path: Path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_results(REFS, 100.0)))
    b.write_text(json.dumps({"runs": [_results(REFS, 90.0)]}))
    out = speechlab("compare", str(a), str(b), cwd=tmp_path)
    assert out.returncode == 0 and "0 changed): not significant" in out.stdout
    (tmp_path / "bad.json").write_text("[1]")
    bad = speechlab("compare", str(a), "bad.json", cwd=tmp_path)
    assert bad.returncode == 2 and "bad.json: not a results file written by --speech-results" in bad.stderr
