"""Fixtures of the end-to-end tests: throwaway projects run with pytester and the real engines,
and baselines recorded once per CI run and shared by every xdist worker."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from ..projects import GATE_CASES, GATE_LATENCY, Project, bundled_cases, make_project, short_cases

# pytester's in-process runs remove the modules a run imported when it ends, and some native
# extensions cannot be imported twice in one process: torch crashes ("bad call flags", then a
# segfault), numpy.fft refuses ("cannot load module more than once per process", through
# librosa's resampling), soxr aborts. The plugin imports these lazily, so import them here, once, for the
# whole test session.
# The plugin makes OpenMP threads wait passively before engines load (io/devices.py); these
# imports come first here, so the same policy is set before them.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
for _native in (
    "torch",
    "ctranslate2",
    "onnxruntime",
    "soxr",
    "numpy.fft",
    "librosa",
    "scipy.signal",
    "whisper",
    "faster_whisper",
):
    with contextlib.suppress(ImportError):
        importlib.import_module(_native)
# numba (under librosa's pitch shift and pyin) imports its type registries on its first
# compilation; imported again after a pytester run removed them, they register twice ("duplicate
# registration"). One compilation here imports them for the whole session.
with contextlib.suppress(ImportError):
    import numba

    numba.njit(lambda x: x + 1)(1)


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    """A throwaway project with three short bundled cases and the suite."""
    cases = short_cases()
    return make_project(pytester, cases, {cases[0].id})


@pytest.fixture
def gate_project(pytester: pytest.Pytester) -> Project:
    """A throwaway project with the thirteen ``GATE_CASES``, two of them timed repeatedly."""
    by_id = {c.id: c for c in bundled_cases()}
    return make_project(pytester, [by_id[i] for i in GATE_CASES], GATE_LATENCY)


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where recorded baselines are kept for the whole run: beside the xdist workers' own temporary
    folders (their common parent), so that each is recorded by one worker and read by all."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "speechlab-recorded"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def recorded(recordings: Path) -> Any:
    """``recorded(project, model)``: the project's baseline of ``model`` (and its history),
    recorded by a real ``--update-baselines`` run once per CI run for each project setup
    (manifest, pyproject, conftest, suites), under a file lock, and copied into each project
    after that."""

    def record(project: Project, model: str = "faster_whisper") -> dict[str, Any]:
        baseline = project.path / "baselines" / model / "cpu.json"
        history = project.path / "baselines" / "history.jsonl"
        setup = hashlib.sha256(model.encode())
        files = [project.manifest, project.path / "pyproject.toml", project.path / "conftest.py"]
        for file in [*files, *sorted((project.path / "suites").glob("*.py"))]:
            setup.update(str(file.relative_to(project.path)).encode() + b"\0")
            setup.update((file.read_bytes() if file.exists() else b"") + b"\0")
        stored = recordings / f"{setup.hexdigest()[:16]}.json"
        with FileLock(f"{stored}.lock"):
            if not stored.exists():
                result = project.run("--update-baselines", model=model)
                assert result.ret == 0, result.stdout.str()
                kept = {"baseline": baseline.read_text(), "history": history.read_text()}
                stored.write_text(json.dumps(kept))
            kept = json.loads(stored.read_text())
        baseline.parent.mkdir(parents=True, exist_ok=True)
        baseline.write_text(kept["baseline"])
        history.write_text(kept["history"])
        return json.loads(baseline.read_text())

    return record
