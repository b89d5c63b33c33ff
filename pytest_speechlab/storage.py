"""Baseline files: one small JSON file per model and device, written atomically.

Files are sorted, indented and rounded so that the diff of ``baselines/`` in a pull request
reads as what changed. Every update also appends a line to ``baselines/history.jsonl``; the
file is replaced with a temp-file-and-rename, so an interrupted update leaves the old file.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import SpeechlabError

SCHEMA = 1
HISTORY = "history.jsonl"


def _mode_for(path: Path) -> int:
    """The permissions the new file gets: those of the file it replaces, else a new file's
    (0o666 less the umask). mkstemp's temp files are private (0o600), and the rename would
    otherwise carry that over to a baseline, the registry or a report."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextmanager
def open_atomic(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A file that replaces ``path`` when the block ends without error.

    It is written beside the target and renamed over it, so readers see the old file or the
    new one, never half; on any error (an interrupt included) the temp file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically."""
    with open_atomic(path) as f:
        f.write(text)


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass
class Baseline:
    """The stored measurements of one model on one device."""

    path: Path
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    corpus: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # identity, machine, normaliser, ...

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **self.meta, "corpus": self.corpus, "cases": self.cases}


def shown(path: Path) -> str:
    """``path`` as a person reads it: relative to the current folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def baseline_path(folder: Path, model: str, device: str) -> Path:
    """``baselines/<model>/<device>.json``; cuda:1 shares the cuda baseline."""
    return folder / model / f"{device.partition(':')[0]}.json"


def _check_numbers(path: Path, where: str, values: Any) -> None:
    if not isinstance(values, dict):
        raise SpeechlabError(f"{path}: {where} must be an object")
    for key, value in values.items():
        if key in ("tts", "robustness"):
            _check_numbers(path, f"{where}.{key}", value)
        if key == "robustness" and not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value.values()
        ):
            raise SpeechlabError(f"{path}: {where}.robustness must map perturbations to WERs >= 0")
        if key in ("wer", "cer", "judge_wer", "latency_ms", "latency_min_ms", "rtf", "audio_s") and not (
            isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        ):
            raise SpeechlabError(f"{path}: {where}.{key} must be a number >= 0, got {value!r}")


def read_baseline(path: Path) -> Baseline | None:
    """The baseline at ``path``, None if there is none; a malformed file is an error."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SpeechlabError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpeechlabError(f"{path}: cannot read baseline ({exc})") from None
    if not isinstance(data, dict):
        raise SpeechlabError(f"{path}: a baseline must be a JSON object")
    if data.get("schema") != SCHEMA:
        raise SpeechlabError(
            f"{path}: unsupported baseline schema {data.get('schema')!r} (expected {SCHEMA})"
        )
    cases = data.pop("cases", None)
    corpus = data.pop("corpus", {})
    data.pop("schema")
    if not isinstance(cases, dict):
        raise SpeechlabError(f"{path}: 'cases' must be an object of case id to metrics")
    for case_id, values in cases.items():
        _check_numbers(path, f"cases.{case_id}", values)
    _check_numbers(path, "corpus", corpus)
    return Baseline(path=path, cases=cases, corpus=corpus, meta=data)


def write_baseline(baseline: Baseline, history: dict[str, Any]) -> None:
    """Write the baseline, then append ``history`` to the history file beside the model folders."""
    write_atomic(baseline.path, dumps(baseline.to_json()))
    log = baseline.path.parent.parent / HISTORY
    previous = log.read_text(encoding="utf-8") if log.exists() else ""
    line = json.dumps(history, sort_keys=True, ensure_ascii=False)
    write_atomic(log, previous + line + "\n")
