"""The model registry: each model's lifecycle status, thresholds and the history of its changes.

One human-readable YAML file (``registry.yaml``). A model is registered as experimental and moves
forward one stage at a time, ``experimental -> candidate -> production -> deprecated``; skipping a
stage needs ``force`` and a reason, deprecation needs a reason, and a deprecated model comes back
only through ``restore``. Reaching candidate or production takes the evidence of a gated run
(``speechlab promote``, or ``pytest --promote-to``): nothing else writes those statuses. Every
change is read, checked and written under a lock, atomically, with one history entry appended, so
concurrent writers neither lose entries nor leave half a file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.settings import REGISTRY_KEYS, finite
from ..errors import SpeechlabError
from ..io.manifest import parse_yaml
from ..io.provenance import git_commit, utc_now, who
from .atomic import file_lock, write_atomic

SCHEMA = 1
STATUSES = ("experimental", "candidate", "production", "deprecated")
PROMOTIONS = ("candidate", "production")  # the statuses a gated run promotes to
TOLERANCES = REGISTRY_KEYS  # a model's thresholds may set any tolerance of the table
CEILING_METRICS = ("wer", "cer", "rtf", "hallucination_rate")  # corpus figures of a run
ENTRY_KEYS = {"engine", "source", "revision", "options", "capabilities", "status", "thresholds", "history"}
HEADER = """\
# pytest-speechlab model registry: one entry per --speech-model name.
# Change statuses with the `speechlab` command (promote runs the gate first); edits by hand are
# fine for thresholds, which apply to every run of the model unless given on the command line.
"""


@dataclass
class Entry:
    """One model: what it is, where it stands, and how it got there."""

    name: str
    status: str = "experimental"
    engine: str = ""  # the adapter's package and version, e.g. "faster-whisper 1.2.1"
    source: str = ""  # where the promoted weights came from
    revision: str = ""  # their checksum or commit, from the promoting run
    options: dict[str, Any] = field(default_factory=dict)  # the engine options the promoting run used
    capabilities: list[str] = field(default_factory=list)  # "asr", "tts"
    thresholds: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    line: int = 0

    def tolerances(self) -> dict[str, float]:
        """The gate tolerances this entry sets: {"wer": 0.02, ...}."""
        return {k.removesuffix("_tolerance"): float(v) for k, v in self.thresholds.items() if k in TOLERANCES}

    def before_deprecation(self) -> str:
        """The status the model had when it was deprecated (experimental when unknown)."""
        for change in reversed(self.history):
            if change.get("to") == "deprecated":
                return str(change.get("from") or "experimental")
        return "experimental"

    def ceilings(self, status: str) -> dict[str, float]:
        """Hard limits a run must meet to reach ``status``: {"wer": 0.15}."""
        return {k: float(v) for k, v in self.thresholds.get("ceilings", {}).get(status, {}).items()}

    def as_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status}
        for key in ("engine", "source", "revision"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.options:
            data["options"] = dict(self.options)
        if self.capabilities:
            data["capabilities"] = list(self.capabilities)
        if self.thresholds:
            data["thresholds"] = self.thresholds
        data["history"] = self.history
        return data


@dataclass
class Registry:
    path: Path
    models: dict[str, Entry] = field(default_factory=dict)

    def get(self, name: str) -> Entry:
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise SpeechlabError(f"{self.path}: no model {name!r} (registered: {known})")
        return self.models[name]

    def dumps(self) -> str:
        """The file's text; a non-finite number (in a promotion's evidence, say) is refused
        rather than written as ``.inf``, which the next read would refuse."""
        body = {"schema": SCHEMA, "models": {n: e.as_yaml() for n, e in self.models.items()}}
        finite(self.path, body)
        return HEADER + yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


class _Dumper(yaml.SafeDumper):
    """Writes repeated values out in full: anchors and aliases don't belong in a file people edit."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _lines(text: str) -> dict[str, int]:
    """1-based line of each model's key, for error messages."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(root, yaml.MappingNode):
        return {}
    for key, value in root.value:
        if key.value == "models" and isinstance(value, yaml.MappingNode):
            return {k.value: k.start_mark.line + 1 for k, _ in value.value}
    return {}


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise SpeechlabError(f"{where}: {key} must be a number >= 0, got {value!r}")
    return float(value)


def _check_thresholds(where: str, thresholds: Any) -> None:
    if not isinstance(thresholds, dict):
        raise SpeechlabError(f"{where}: thresholds must be a mapping")
    for key, value in thresholds.items():
        if key in TOLERANCES:
            _number(where, f"thresholds.{key}", value)
        elif key == "ceilings":
            if not isinstance(value, dict):
                raise SpeechlabError(f"{where}: thresholds.ceilings must map a status to limits")
            for status, limits in value.items():
                if status not in PROMOTIONS or not isinstance(limits, dict):
                    raise SpeechlabError(
                        f"{where}: thresholds.ceilings.{status}: expected candidate or production "
                        f"with a mapping of {', '.join(CEILING_METRICS)} to limits"
                    )
                for metric, limit in limits.items():
                    if metric not in CEILING_METRICS:
                        raise SpeechlabError(
                            f"{where}: thresholds.ceilings.{status}.{metric}: unknown metric "
                            f"(use {', '.join(CEILING_METRICS)})"
                        )
                    _number(where, f"thresholds.ceilings.{status}.{metric}", limit)
        else:
            known = ", ".join((*TOLERANCES, "ceilings"))
            raise SpeechlabError(f"{where}: unknown threshold {key!r} (known: {known})")


def _entry(path: Path, name: Any, data: Any, line: int) -> Entry:
    where = f"{path}:{line}: model {name!r}"
    if not isinstance(name, str) or not name.isidentifier():
        raise SpeechlabError(f"{where}: a model name is a --speech-model name (letters, digits, _)")
    if not isinstance(data, dict):
        raise SpeechlabError(f"{where}: expected a mapping of the model's fields")
    unknown = set(data) - ENTRY_KEYS
    if unknown:
        raise SpeechlabError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    status = data.get("status")
    if status not in STATUSES:
        raise SpeechlabError(f"{where}: status must be one of {', '.join(STATUSES)}, got {status!r}")
    capabilities = data.get("capabilities", [])
    if not isinstance(capabilities, list) or not set(capabilities) <= {"asr", "tts"}:
        raise SpeechlabError(f"{where}: capabilities must be a list of asr, tts")
    thresholds = data.get("thresholds", {}) or {}
    _check_thresholds(where, thresholds)
    history = data.get("history", []) or []
    if not isinstance(history, list) or not all(isinstance(h, dict) and "to" in h for h in history):
        raise SpeechlabError(f"{where}: history must be a list of changes, each with 'to'")
    if history and history[-1]["to"] != status:
        raise SpeechlabError(
            f"{where}: status {status!r} disagrees with the last history entry ({history[-1]['to']!r})"
        )
    options = data.get("options", {}) or {}
    if not isinstance(options, dict):
        raise SpeechlabError(f"{where}: options must be a mapping of engine option to value")
    fields = {k: str(data.get(k) or "") for k in ("engine", "source", "revision")}
    return Entry(name, status, capabilities=list(capabilities), thresholds=thresholds, history=history,
                 line=line, options=dict(options), **fields)  # fmt: skip


def load_registry(path: Path | str) -> Registry:
    """Read and validate a registry; a missing file is an empty registry."""
    path = Path(path)
    if not path.exists():
        return Registry(path)
    text = path.read_text(encoding="utf-8")
    data = parse_yaml(path, text)
    finite(path, data)
    if data is None:
        return Registry(path)
    if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
        raise SpeechlabError(f"{path}: expected a mapping with 'schema' and a 'models' mapping")
    if data.get("schema") != SCHEMA:
        raise SpeechlabError(f"{path}: unknown schema {data.get('schema')!r} (this version reads {SCHEMA})")
    lines = _lines(text)
    models = {name: _entry(path, name, value, lines.get(name, 0)) for name, value in data["models"].items()}
    return Registry(path, models)


def check_transition(
    entry: Entry, target: str, *, force: bool = False, restore: bool = False, reason: str = ""
) -> None:
    """Raise unless ``entry`` may move to ``target`` with these flags."""
    current = entry.status
    what = f"{entry.name}: {current} -> {target}"
    if target not in STATUSES:
        raise SpeechlabError(f"{what}: unknown status (use {', '.join(STATUSES)})")
    if target == current:
        raise SpeechlabError(f"{what}: the model is already {current}")
    if (force or restore or target == "deprecated") and not reason.strip():
        raise SpeechlabError(f"{what}: give a reason (it is recorded in the history)")
    if current == "deprecated":
        if not restore:
            raise SpeechlabError(f"{what}: deprecated is final; restore it explicitly, with a reason")
        before = entry.before_deprecation()
        if target not in ("experimental", before):
            where = (
                f"{before} (its status before deprecation) or to experimental"
                if before != "experimental"
                else before
            )
            raise SpeechlabError(f"{what}: a restored model goes back to {where}")
        return
    if restore:
        raise SpeechlabError(f"{what}: only a deprecated model is restored")
    if target == "deprecated":
        return
    step = STATUSES.index(target) - STATUSES.index(current)
    if step < 0:
        raise SpeechlabError(f"{what}: a model does not move back a stage; deprecate it instead")
    if step > 1 and not force:
        raise SpeechlabError(
            f"{what}: skips {STATUSES[STATUSES.index(current) + 1]}; force it, with a reason"
        )


@contextmanager
def locked(path: Path) -> Iterator[Registry]:
    """The registry, read fresh under an exclusive lock held until the block ends."""
    with file_lock(path):
        yield load_registry(path)


def change_status(
    path: Path,
    name: str,
    target: str,
    *,
    reason: str = "",
    force: bool = False,
    restore: bool = False,
    evidence: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check and apply one status change, append it to the history, write; return the entry.

    Candidate and production need ``evidence``, the record of the gated run that earned them."""
    if target in PROMOTIONS and evidence is None:
        raise SpeechlabError(
            f"{name}: {target} is reached only through the gate (speechlab promote {name} --to {target})"
        )
    with locked(path) as registry:
        entry = registry.get(name)
        check_transition(entry, target, force=force, restore=restore, reason=reason)
        change: dict[str, Any] = {
            "from": entry.status,
            "to": target,
            "when": utc_now(),
            "who": who(),
            "commit": git_commit(),
            "reason": reason.strip() or "gate passed",
        }
        if force:
            change["forced"] = True
        if restore:
            change["restored"] = True
        change.update(evidence or {})
        for key, value in (fields or {}).items():
            setattr(entry, key, value)
        entry.status = target
        entry.history.append(change)
        write_atomic(path, registry.dumps())
        return change


def register(path: Path, entry: Entry, reason: str) -> dict[str, Any]:
    """Add a model as experimental, recorded as a change from nothing; it earns candidate and
    production through the gate."""
    if not reason.strip():
        raise SpeechlabError(f"{entry.name}: give a reason for registering it")
    if entry.status != "experimental":
        raise SpeechlabError(
            f"{entry.name}: a model is registered as experimental; {entry.status} is reached through the gate"
        )
    with locked(path) as registry:
        if entry.name in registry.models:
            raise SpeechlabError(f"{path}: {entry.name} is already registered")
        change = {
            "from": None,
            "to": entry.status,
            "when": utc_now(),
            "who": who(),
            "commit": git_commit(),
            "reason": reason.strip(),
        }
        entry.history = [change]
        registry.models[entry.name] = entry
        write_atomic(path, registry.dumps())
        return change
