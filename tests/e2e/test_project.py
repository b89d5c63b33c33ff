"""A newcomer's own project, as the README tells it: init from a folder of audio and transcripts,
record baselines, gate, register and promote; and ``speechlab compare`` of two results files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
    shutil.copy(short_cases()[0].audio, recordings / "untranscribed.wav")
    missing = speechlab("init", "--audio", "recordings", cwd=tmp_path)
    assert missing.returncode == 2 and "pass --skip-missing to leave such files out" in missing.stderr
    init = speechlab("init", "--audio", "recordings", "--skip-missing", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert "skipped 1 audio file(s) without a transcript: recordings/untranscribed.wav" in init.stdout
    written = {line.split("wrote ")[1] for line in init.stdout.splitlines() if "wrote" in line}
    assert written == {"pyproject.toml", "recordings/manifest.yaml", "tests/test_speech.py", ".gitignore"}
    gitignore = (tmp_path / ".gitignore").read_text()
    assert {"*.lock", ".venv/"} <= set(gitignore.splitlines()) and gitignore.endswith("\n")
    assert 'models = ["faster_whisper"]' in (tmp_path / "pyproject.toml").read_text()
    assert not (tmp_path / "speech" / "registry.yaml").exists()  # nothing registered silently
    again = speechlab("init", cwd=tmp_path)
    assert "kept pyproject.toml (it has a [tool.speechlab] block already)" in again.stdout
    assert "kept test_speech.py (exists; --force replaces it)" in again.stdout

    edit_a_transcript(tmp_path, recordings)
    bad = pytest_in(tmp_path, "--speech-option=faster_whisper.compute_type=int9", "-k", "test_wer")
    assert bad.returncode == pytest.ExitCode.TESTS_FAILED and bad.stdout.count("ERROR at setup") == 1
    assert "compute_type='int9': ValueError: Invalid compute type: int9" in bad.stdout

    record = pytest_in(tmp_path, "--update-baselines")  # bare pytest: the models init configured
    assert record.returncode == 0, record.stdout
    assert (tmp_path / "speech" / "baselines" / "faster_whisper" / "cpu.json").is_file()
    gate = pytest_in(tmp_path)
    assert gate.returncode == 0 and "overall: pass" in gate.stdout, gate.stdout

    registered = speechlab("register", "faster_whisper", "--reason", "ours", cwd=tmp_path)
    assert registered.returncode == 0 and "next: record its baselines" not in registered.stdout
    assert "its baselines are recorded (speech/baselines/faster_whisper/cpu.json)" in registered.stdout
    forced = speechlab("promote", "faster_whisper", "--to", "production", "--force", cwd=tmp_path)
    assert forced.returncode == 2 and "give the reason with --reason" in forced.stderr
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
    registry = (tmp_path / "speech" / "registry.yaml").read_text()
    assert str(tmp_path) not in registry and "manifest: recordings/manifest.yaml" in registry


def edit_a_transcript(project: Path, recordings: Path) -> None:
    """A transcript edited after the manifest was built: said at collection, naming both texts,
    and taken in by ``speechlab manifest build``, which keeps a tag added by hand."""
    manifest = recordings / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("tags: [dur_lt5s]", "tags: [dur_lt5s, latency]", 1))
    first = yaml.safe_load(manifest.read_text())["cases"][0]
    transcript = (recordings / first["audio"]).with_suffix(".txt")
    said = transcript.read_text()
    transcript.write_text("four queens of clubs\n")
    warned = pytest_in(project, "--collect-only")
    assert (
        f"recordings/manifest.yaml: case {first['id']}: {transcript.name} says 'four queens of clubs', "
        f"the manifest {first['text']!r}; speechlab manifest build updates the manifest"
    ) in " ".join(warned.stdout.split())
    built = speechlab("manifest", "build", "recordings", "--skip-missing", cwd=project)
    assert built.returncode == 0, built.stderr
    assert f"  {first['id']}: text {first['text']!r} -> 'four queens of clubs'" in built.stdout
    now = yaml.safe_load(manifest.read_text())["cases"][0]
    assert now == {**first, "text": "four queens of clubs"} and "latency" in now["tags"]
    transcript.write_text(said)  # back, for the baselines
    assert "1 change(s)" in speechlab("manifest", "build", "recordings", "--skip-missing", cwd=project).stdout
    assert (
        "is up to date" in speechlab("manifest", "build", "recordings", "--skip-missing", cwd=project).stdout
    )


def test_init_without_audio_writes_a_skeleton_that_asks_to_be_filled(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    assert speechlab("init", "--suites", "asr,tts", cwd=tmp_path).returncode == 0
    assert '[project]\nname = "mine"\n' in (tmp_path / "pyproject.toml").read_text()  # kept, block appended
    assert (
        "from pytest_speechlab.suites.test_tts import *"
        in (tmp_path / "tests" / "test_speech.py").read_text()
    )
    empty = pytest_in(tmp_path)  # init configured faster_whisper
    assert empty.returncode == pytest.ExitCode.USAGE_ERROR
    assert "speech/manifest.yaml: 'cases' is empty" in empty.stderr
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('models = ["faster_whisper"]', ""))
    forgot = pytest_in(tmp_path)  # a CI job that forgot the model is not green
    assert forgot.returncode == pytest.ExitCode.USAGE_ERROR
    assert "speech test(s) collected and no model to run them: pass --speech-model=NAME" in forgot.stderr
    asked = pytest_in(tmp_path, "--speech-model=none")
    assert asked.returncode == 0 and "skipped" in asked.stdout
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
