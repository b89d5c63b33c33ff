"""Baseline files: one small JSON file per model and device, written atomically.

Files are sorted, indented and rounded so that the diff of ``baselines/`` in a pull request
reads as what changed. Every update also appends a line to ``baselines/history.jsonl``, under a
lock, and the history is never rewritten; the baseline is replaced with a temp-file-and-rename,
so an interrupted update leaves the old file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.settings import Tolerances, finite
from ..errors import SpeechlabError
from .atomic import append_line, dumps, file_lock, write_atomic

SCHEMA = 1
HISTORY = "history.jsonl"


@dataclass
class Baseline:
    """The stored measurements of one model on one device."""

    path: Path
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    corpus: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # identity, machine, normaliser, ...

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **self.meta, "corpus": self.corpus, "cases": self.cases}


@dataclass(frozen=True)
class Comparison:
    """What one model's run on one device is compared with: its baseline, the tolerances, and
    what to do where the baseline has nothing to say."""

    label: str  # "faster_whisper on cpu", for messages
    path: Path  # the baseline file, whether it exists or not
    baseline: Baseline | None
    tolerances: Tolerances = field(default_factory=Tolerances)
    new_cases: str = "fail"  # a case with no baseline entry: "fail" or "pass"
    update: bool = False  # this run records new baselines instead of comparing
    refused: str | None = None  # why this baseline cannot be compared at all, e.g. another normaliser

    def entry(self, case_id: str) -> dict[str, Any] | None:
        """The baseline's entry for a case, None when there is none."""
        return self.baseline.cases.get(case_id) if self.baseline else None


def baseline_path(folder: Path, model: str, device: str) -> Path:
    """``baselines/<model>/<device>.json``; cuda:1 shares the cuda baseline."""
    return folder / model / f"{device.partition(':')[0]}.json"


# the figures of a case (and of the corpus) that must be numbers >= 0 wherever they are read
NUMBERS = ("wer", "cer", "judge_wer", "latency_ms", "latency_min_ms", "calibration_ms", "rtf", "audio_s")


def _non_negative(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _check_numbers(path: Path, where: str, values: Any) -> None:
    if not isinstance(values, dict):
        raise SpeechlabError(f"{path}: {where} must be an object")
    for key, value in values.items():
        if key in ("tts", "robustness"):
            _check_numbers(path, f"{where}.{key}", value)
        if key == "robustness" and not all(_non_negative(v) for v in value.values()):
            raise SpeechlabError(f"{path}: {where}.robustness must map perturbations to WERs >= 0")
        if key in NUMBERS and not _non_negative(value):
            raise SpeechlabError(f"{path}: {where}.{key} must be a number >= 0, got {value!r}")


def read_baseline(path: Path) -> Baseline | None:
    """The baseline at ``path``, None if there is none; a malformed file is an error."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        finite(path, data)
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


def _apply(
    now: dict[str, Any], before: dict[str, Any], new: dict[str, Any], gone: Sequence[str]
) -> dict[str, Any]:
    """``now`` with the keys ``new`` changed against ``before`` taken from ``new`` and ``gone``
    dropped."""
    kept = {k: v for k, v in now.items() if k not in gone}
    return kept | {k: v for k, v in new.items() if before.get(k) != v}


def merge(
    disk: Baseline | None,
    read: Baseline | None,
    new: Baseline,
    removed: Sequence[str] = (),
) -> tuple[Baseline, list[str]]:
    """``new`` applied to the baseline as it is on disk now (``disk``) rather than as the run read
    it at its start (``read``, what ``new`` was computed from): the cases, corpus and metadata
    (the machine the latencies were timed on, ...) that ``new`` changed against ``read`` are taken
    from ``new``, every other from ``disk``, so a concurrent update of other cases is kept.
    Returns the merged baseline and the cases that a concurrent update had changed and this one
    overwrote (the later wins)."""
    if disk is None:
        return new, []
    before = read or Baseline(new.path)
    cases = _apply(disk.cases, before.cases, new.cases, removed)
    touched = [k for k, v in new.cases.items() if before.cases.get(k) != v]
    overwrote = sorted(k for k in touched if k in disk.cases and disk.cases[k] != before.cases.get(k))
    corpus = new.corpus if new.corpus != before.corpus else disk.corpus
    meta = _apply(disk.meta, before.meta, new.meta, [k for k in before.meta if k not in new.meta])
    return Baseline(new.path, cases, corpus, meta), overwrote


def write_baseline(
    baseline: Baseline,
    history: dict[str, Any],
    read: Baseline | None = None,
    removed: Sequence[str] = (),
) -> Baseline:
    """Write ``baseline`` (computed from ``read``, the baseline as the run read it) merged over the
    file as it is now, and append ``history`` to the history file beside the model folders, both
    under the history's lock: concurrent updates take turns, each re-reads what the other wrote,
    and no case nor history line is lost. Returns what was written."""
    log = baseline.path.parent.parent / HISTORY
    with file_lock(log):
        merged, overwrote = merge(read_baseline(baseline.path), read, baseline, removed)
        if overwrote:
            history = {**history, "overwrote_concurrent": overwrote}
        line = json.dumps(history, sort_keys=True, ensure_ascii=False, allow_nan=False)
        write_atomic(baseline.path, dumps(merged.to_json()))
        append_line(log, line)
    return merged
