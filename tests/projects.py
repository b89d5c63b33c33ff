"""What the plugin's tests share: the bundled cases, and throwaway projects run with pytester.

Each project holds a few short cases copied from the bundled data, the real suite file and a
``pyproject.toml``; the end-to-end tests run the real Faster-Whisper engine in it with the
offline tiny.en weights.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import yaml

from pytest_speechlab.core.case import Case
from pytest_speechlab.io.manifest import load_manifest

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data" / "manifest.yaml"


def bundled_cases() -> tuple[Case, ...]:
    return load_manifest(BUNDLED).cases


def speech_clip() -> tuple[np.ndarray, int]:
    """The first short case's samples, mono, at their own rate: a clip to make variants of."""
    samples, rate = soundfile.read(short_cases()[0].audio, dtype="float32", always_2d=True)
    return samples.mean(axis=1), rate


def short_cases() -> list[Case]:
    """Three short cases: one tiny.en gets right, one it gets wrong ("clubs" heard as "clothes"),
    and digital silence. Enough for control flow, and quick."""
    by_id = {c.id: c for c in bundled_cases()}
    return [by_id["cards_001"], by_id["cards_002"], by_id["silence_3s"]]


def error_line_without(modules: list[str], statement: str) -> str:
    """The ``SpeechlabError`` line that ``statement`` raises in a fresh interpreter where
    ``modules`` cannot be imported (``sys.modules[name] = None``): a missing or broken package,
    without uninstalling anything. The statement sees ``SeamlessM4TEngine`` and ``LFMAudioEngine``."""
    code = (
        "import sys\n"
        f"for name in {modules!r}:\n"
        "    sys.modules[name] = None\n"
        "from pytest_speechlab.engines.lfm_audio import LFMAudioEngine\n"
        "from pytest_speechlab.engines.seamless import SeamlessM4TEngine\n"
        "from pytest_speechlab.errors import SpeechlabError\n"
        "try:\n"
        f"    {statement}\n"
        "except SpeechlabError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


@dataclass
class Project:
    pytester: pytest.Pytester
    cases: list[dict[str, Any]]

    @property
    def path(self) -> Path:
        return self.pytester.path

    @property
    def manifest(self) -> Path:
        return self.path / "data" / "manifest.yaml"

    @property
    def baseline(self) -> Path:
        return self.path / "baselines" / "faster_whisper" / "cpu.json"

    def write_manifest(self, cases: list[dict[str, Any]] | None = None) -> None:
        if cases is not None:
            self.cases = cases
        self.manifest.write_text(yaml.safe_dump({"cases": self.cases}, sort_keys=False))

    def run(
        self, *args: str, model: str | None = "faster_whisper", subprocess: bool = False
    ) -> pytest.RunResult:
        """Run pytest in the project; in a subprocess when the run patches modules."""
        base = ["-p", "no:cacheprovider", "-rfEs"]
        if model:
            base.append(f"--speech-model={model}")
        run = self.pytester.runpytest_subprocess if subprocess else self.pytester.runpytest_inprocess
        return run(*base, *args)

    def read_baseline(self) -> dict[str, Any]:
        return json.loads(self.baseline.read_text())

    def write_baseline(self, data: dict[str, Any]) -> None:
        self.baseline.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


PYPROJECT = """
[tool.pytest.ini_options]
testpaths = ["suites"]
filterwarnings = ["ignore::pytest.PytestAssertRewriteWarning"]

[tool.speechlab]
manifest = "data/manifest.yaml"
baselines = "baselines"
device = "cpu"
repeats = 2
# These tests are about control flow, not timing: a generous latency tolerance keeps a busy
# test machine from failing a re-run that follows an update by a few seconds.
latency_tolerance = 3.0
# No warm-up transcription: each pytest run of a project would spend one on its first case. The
# gate judges the fastest of the repeats, and the second is warm (that the warm-up keeps the cold
# start out of the timings is test_measure.py's).
warmup = 0

# tiny.en quantised to int8, faster-whisper's usual setting on a CPU: each transcription about a
# third faster than in float32, the plugin's default (which the bundled baselines, the server's
# tests and the engine's own tests use).
[tool.speechlab.options.faster_whisper]
compute_type = "int8"
"""


# The throwaway projects read no load by default: these tests run two at a time (xdist) beside
# each other, and a latency timed under that load is neither judged on its wall time nor recorded
# (docs/gate.md), which is not what most of them test. A test about load stages its own with a
# conftest of its own (this one is replaced); the load meter itself is tested against real busy
# processes in e2e/test_measure_e2e.py.
QUIET = """
import pytest_speechlab.measure.run as run

run.others_share = lambda before, after: 0.0  # staged: no other process took the CPU
"""


def commit_all(path: Path, message: str = "staged") -> None:
    """Commit everything in ``path``, a git repository made on first use: a promotion needs what
    judges it (baselines, manifest, pyproject, registry) committed as it is."""
    if not (path / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    who = ["-c", "user.name=speechlab tests", "-c", "user.email=tests@example.invalid"]
    subprocess.run(["git", *who, "commit", "-q", "--allow-empty", "-m", message], cwd=path, check=True)


def use_suite(project: Path, name: str) -> None:
    """Bring a shipped suite into a project as a user does: one import line in a test file."""
    (project / "suites").mkdir(exist_ok=True)
    (project / "suites" / f"{name}.py").write_text(
        f"from pytest_speechlab.suites.{name} import *  # noqa: F403\n"
    )


def make_project(
    pytester: pytest.Pytester, cases: list[Case], latency: set[str], alignments: bool = False
) -> Project:
    """A throwaway project with ``cases`` copied from the bundled data (``latency``: the ids timed
    repeatedly; with ``alignments``, the reference word alignments of the cases that have one),
    the speech-to-text suite and a ``pyproject.toml``."""
    audio = pytester.path / "data" / "audio"
    audio.mkdir(parents=True)
    entries = []
    for case in cases:
        shutil.copy(case.audio, audio / case.audio.name)
        tags = [t for t in case.tags if t != "latency"] + (["latency"] if case.id in latency else [])
        entries.append({"id": case.id, "audio": f"audio/{case.audio.name}", "text": case.text, "tags": tags})
        if alignments and case.alignment is not None:
            (pytester.path / "data" / "alignments").mkdir(exist_ok=True)
            shutil.copy(case.alignment, pytester.path / "data" / "alignments" / case.alignment.name)
            entries[-1]["alignment"] = f"alignments/{case.alignment.name}"
    use_suite(pytester.path, "test_asr")
    (pytester.path / "pyproject.toml").write_text(PYPROJECT)
    (pytester.path / "conftest.py").write_text(QUIET)
    proj = Project(pytester, entries)
    proj.write_manifest()
    return proj


# Short bundled cases, most of which tiny.en gets partly wrong: enough speech cases for the corpus
# bootstrap to call a regression over many of them significant, eight synthetic ones it errs on
# (a slice to stage a regression in) beside seven human ones, and a non-speech case.
GATE_CASES = (
    "cards_001", "cards_002", "cards_003", "goforward", "commonvoice_22058266", "espeak_phone",
    "librivox_0880", "cards_005", "piper_03", "espeak_stereo48k", "piper_05", "espeak_01", "silence_3s",
    "piper_01", "piper_06", "espeak_02",
)  # fmt: skip
GATE_LATENCY = {"cards_002", "espeak_phone"}
