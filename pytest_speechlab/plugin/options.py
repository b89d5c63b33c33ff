"""Command-line options, merged with ``[tool.speechlab]`` into one Settings object."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from ..core.settings import OPTIONS, Option, Settings, Tolerances
from ..errors import SpeechlabError
from ..io.pyproject import read_file_settings


def _help(row: Option) -> str:
    """The row's help, with its default where one is worth saying."""
    default = row.default
    if row.kind not in ("text", "count", "choice", "tolerance") or default in (None, ""):
        return row.help
    return (
        f"{row.help} (default {default:g})" if row.kind == "tolerance" else f"{row.help} (default {default})"
    )


def add_options(parser: pytest.Parser) -> None:
    """One pytest option per row of the settings table that has a flag; an option left unset is
    None (a switch False, a list of pairs empty), so the file or the default decides."""
    add = parser.getgroup("speechlab", "speech model benchmarks (pytest-speechlab)").addoption
    for row in OPTIONS:
        if row.flag is None:
            continue
        if row.kind == "switch":
            add(row.flag, action="store_true", default=False, help=_help(row))
        elif row.kind == "pairs":
            add(row.flag, action="append", default=[], metavar=row.metavar, help=_help(row))
        elif row.choices:
            add(row.flag, choices=row.choices, default=None, help=_help(row))
        else:
            kind = {"count": int, "tolerance": float}.get(row.kind, str)
            add(row.flag, type=kind, default=None, metavar=row.metavar, help=_help(row))


def _split(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    return tuple(str(v).strip() for v in value if str(v).strip())


def _pairs(values: list[str], what: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise SpeechlabError(f"{what}: expected KEY=VALUE, got {value!r}")
        pairs.append((key.strip(), rest.strip()))
    return pairs


def _pyproject(config: pytest.Config) -> Path:
    if config.inipath and config.inipath.name == "pyproject.toml":
        return config.inipath
    return config.rootpath / "pyproject.toml"


NO_MODEL = "none"  # --speech-model=none: run no model, the speech tests skipped on purpose


def skips_asked(config: pytest.Config) -> bool:
    return str(config.getoption("speech_model") or "").strip().lower() == NO_MODEL


def wanted(config: pytest.Config) -> bool:
    """Whether this run asks anything of the plugin: a model, on the command line or in
    ``[tool.speechlab]``, or one of its actions. Otherwise it stays inert and imports nothing."""
    if skips_asked(config):
        return bool(config.getoption("update_baselines") or config.getoption("promote_to"))
    actions = ("speech_model", "update_baselines", "promote_to", "promote_reason", "promote_force")
    if any(config.getoption(name) for name in actions):
        return True
    return bool(read_file_settings(_pyproject(config)).get("models"))


def _finite_number(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and value >= 0


def load_settings(config: pytest.Config) -> Settings:
    """Each row of the settings table from the command line, else ``[tool.speechlab]``, else its
    default; paths on the command line are relative to the current folder, in the file to it."""
    import yaml

    from ..io.formats import resolve_spec

    pyproject = _pyproject(config)
    file = read_file_settings(pyproject)
    base = pyproject.parent
    here = config.invocation_params.dir

    def read(row: Option) -> Any:
        given = config.getoption(row.dest) if row.flag else None
        stored = file.get(row.key) if row.key else None
        if row.kind == "switch":
            return bool(given)
        if row.kind == "list":
            return _split(given or (stored if stored is not None else row.default))
        if row.kind == "spec":  # a manifest spec keeps its format: prefix and ?options
            return resolve_spec(given, here) if given else resolve_spec(stored, base) if stored else None
        if row.kind == "path":
            return (here / given).resolve() if given else (base / stored).resolve() if stored else None
        if row.kind in ("count", "tolerance"):
            value = given if given is not None else stored if stored is not None else row.default
            if not _finite_number(value):
                where = "/".join(w for w in (row.flag, row.key) if w)
                raise SpeechlabError(f"{where}: expected a finite number >= 0, got {value!r}")
            return int(value) if row.kind == "count" else float(value)
        value = given or (stored if stored is not None else row.default)
        if value is not None and row.choices and value not in row.choices:  # the file's: pytest checks flags
            allowed = " or ".join(repr(c) for c in row.choices)
            raise SpeechlabError(f"{pyproject}: {row.key} must be {allowed}")
        return value

    values = {row.name: read(row) for row in OPTIONS if row.kind not in ("pairs", "tolerance")}
    if [m.lower() for m in values["models"]] == [NO_MODEL]:
        values["models"] = ()
    tolerances = Tolerances(**{row.name: read(row) for row in OPTIONS if row.kind == "tolerance"})
    given = frozenset(
        row.name for row in OPTIONS if row.kind == "tolerance" and config.getoption(row.dest) is not None
    )
    model_options: dict[str, dict[str, Any]] = {
        name: dict(values) for name, values in file.get("options", {}).items()
    }
    sources = {name: str(v.pop("source")) for name, v in model_options.items() if "source" in v}
    for key, value in _pairs(config.getoption("speech_source"), "--speech-source"):
        sources[key] = value
    for key, value in _pairs(config.getoption("speech_option"), "--speech-option"):
        model, dot, option = key.partition(".")
        if not dot:
            raise SpeechlabError(f"--speech-option: expected MODEL.KEY=VALUE, got {key!r}")
        model_options.setdefault(model, {})[option] = yaml.safe_load(value)
    judge = str(values["judge"]).strip()
    values.update(
        baselines=values["baselines"] or (config.rootpath / "baselines").resolve(),
        registry=values["registry"] or base / "registry.yaml",
        repeats=max(1, values["repeats"]),
        judge=None if judge.lower() == "none" else judge,
        promote_reason=values["promote_reason"] or "",
    )
    if values["promote_force"] and not values["promote_reason"].strip():
        raise SpeechlabError("--promote-force: give the reason with --promote-reason")
    promoting = values["promote_force"] or values["promote_reason"] or values["promote_restore"]
    if promoting and not values["promote_to"]:
        raise SpeechlabError("--promote-reason/--promote-force/--promote-restore: only with --promote-to")
    if values["dry_run"] and not values["update"]:
        raise SpeechlabError("--speech-dry-run: only with --update-baselines")
    return Settings(
        **values, tolerances=tolerances, given_tolerances=given, sources=sources, model_options=model_options
    )
