"""Command-line options, merged with ``[tool.speechlab]`` into one Settings object."""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from ..core.settings import Settings, Tolerances, tolerance_key
from ..errors import SpeechlabError
from ..io.pyproject import read_file_settings


def tolerance_flag(name: str) -> tuple[str, str]:
    """The command-line flag of a tolerance of the table and where pytest keeps its value:
    ``wer`` -> ``--speech-wer-tolerance``, ``speech_wer_tolerance``."""
    return f"--speech-{name}-tolerance", f"speech_{name}_tolerance"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("speechlab", "speech model benchmarks (pytest-speechlab)")
    add = group.addoption
    add(
        "--speech-model",
        default=None,
        metavar="NAME[,NAME]",
        help="model(s) to benchmark, e.g. faster_whisper; the suite is skipped without one",
    )
    add(
        "--speech-device",
        default=None,
        metavar="DEV[,DEV]",
        help="auto (default), cpu, cuda, cuda:N, mps, or several comma separated",
    )
    add(
        "--speech-manifest",
        default=None,
        metavar="PATH|SPEC",
        help="the cases: a YAML manifest, or nemo:, kaldi:, hf:, lhotse: (docs/formats.md)",
    )
    add(
        "--speech-audio-root",
        default=None,
        metavar="DIR",
        help="let manifest cases read audio from inside DIR (default: only inside the manifest's folder)",
    )
    add(
        "--speech-tags",
        default=None,
        metavar="TAG[,TAG]",
        help="only cases carrying any of these manifest tags",
    )
    add(
        "--speech-results",
        default=None,
        metavar="PATH",
        help="write measured results as JSON (written whether the run passes or not)",
    )
    add("--speech-baselines", default=None, metavar="DIR", help="baseline folder")
    add(
        "--update-baselines",
        action="store_true",
        default=False,
        help="record this run's measurements as the new baselines",
    )
    add(
        "--speech-dry-run",
        action="store_true",
        default=False,
        help="with --update-baselines: print what would change in the baselines, write nothing",
    )
    for row in fields(Tolerances):  # one flag per row of the tolerance table
        add(
            tolerance_flag(row.name)[0],
            type=float,
            default=None,
            metavar=row.metadata["unit"],
            help=f"{row.metadata['help']} (default {row.default:g})",
        )
    add(
        "--speech-robustness-examples",
        choices=("ci", "wide"),
        default=None,
        help="perturbations tried per robustness case: ci (few, fixed; default) or wide (many, random)",
    )
    add(
        "--speech-judge",
        default=None,
        metavar="NAME",
        help="speech-to-text model that transcribes synthesised speech (default faster_whisper; none)",
    )
    add(
        "--speech-report",
        default=None,
        metavar="PATH.html",
        help="write a self-contained HTML report with tables and plots",
    )
    add(
        "--speech-repeats",
        type=int,
        default=None,
        metavar="N",
        help="timed runs per latency case (default 5)",
    )
    add(
        "--speech-warmup",
        type=int,
        default=None,
        metavar="N",
        help="untimed runs per model before any timing (default 1)",
    )
    add(
        "--speech-new-cases",
        choices=("fail", "pass"),
        default=None,
        help="a case with no baseline fails the gate (default) or passes as NEW",
    )
    add(
        "--speech-source",
        action="append",
        default=[],
        metavar="MODEL=SOURCE",
        help="where a model's weights come from: hub name, local path or package:NAME",
    )
    add("--speech-option", action="append", default=[], metavar="MODEL.KEY=VALUE",
        help="engine option, e.g. faster_whisper.beam_size=1 (value parsed as YAML)")  # fmt: skip
    add(
        "--speech-summary",
        default=None,
        metavar="PATH",
        help="write a Markdown summary for a reviewer (e.g. to $GITHUB_STEP_SUMMARY)",
    )
    add(
        "--speech-registry",
        default=None,
        metavar="PATH",
        help="model registry file (default registry.yaml beside pyproject.toml)",
    )
    add(
        "--promote-to",
        default=None,
        choices=("candidate", "production"),
        help="after the run, promote the model in the registry if the gate passes",
    )
    add("--promote-reason", default="", metavar="TEXT", help="why, recorded in the registry history")
    add(
        "--promote-force",
        action="store_true",
        default=False,
        help="allow a promotion that skips a stage (needs --promote-reason); the gate still runs",
    )
    add(
        "--promote-restore",
        action="store_true",
        default=False,
        help="with --promote-to: bring a deprecated model back, through the gate (speechlab restore)",
    )


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


def wanted(config: pytest.Config) -> bool:
    """Whether this run asks anything of the plugin: a model, on the command line or in
    ``[tool.speechlab]``, or one of its actions. Otherwise it stays inert and imports nothing."""
    actions = ("speech_model", "update_baselines", "promote_to", "promote_reason", "promote_force")
    if any(config.getoption(name) for name in actions):
        return True
    return bool(read_file_settings(_pyproject(config)).get("models"))


def load_settings(config: pytest.Config) -> Settings:
    import yaml

    from ..io.formats import resolve_spec

    pyproject = _pyproject(config)
    file = read_file_settings(pyproject)
    base = pyproject.parent
    here = config.invocation_params.dir

    def opt(name: str) -> Any:
        return config.getoption(name)

    def path(cli: str, key: str, default: Path | None) -> Path | None:
        if opt(cli):
            return (here / opt(cli)).resolve()
        if file.get(key):
            return (base / file[key]).resolve()
        return default

    def spec(cli: str, key: str) -> str | None:  # a manifest spec keeps its format: prefix and ?options
        if opt(cli):
            return resolve_spec(opt(cli), here)
        return resolve_spec(file[key], base) if file.get(key) else None

    def number(cli: str, key: str, default: float) -> Any:
        value = opt(cli)
        if value is None:
            value = file.get(key, default)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise SpeechlabError(
                f"--{cli.replace('_', '-')}/{key}: expected a finite number >= 0, got {value!r}"
            )
        return value

    model_options: dict[str, dict[str, Any]] = {
        name: dict(values) for name, values in file.get("options", {}).items()
    }
    sources = {name: str(v.pop("source")) for name, v in model_options.items() if "source" in v}
    for key, value in _pairs(opt("speech_source"), "--speech-source"):
        sources[key] = value
    for key, value in _pairs(opt("speech_option"), "--speech-option"):
        model, dot, option = key.partition(".")
        if not dot:
            raise SpeechlabError(f"--speech-option: expected MODEL.KEY=VALUE, got {key!r}")
        model_options.setdefault(model, {})[option] = yaml.safe_load(value)
    new_cases = opt("speech_new_cases") or file.get("new_cases", "fail")
    if new_cases not in ("fail", "pass"):
        raise SpeechlabError(f"{pyproject}: new_cases must be 'fail' or 'pass'")
    defaults = Tolerances()
    given = frozenset(f.name for f in fields(Tolerances) if opt(tolerance_flag(f.name)[1]) is not None)
    promote_to = opt("promote_to")
    judge = str(opt("speech_judge") or file.get("judge", "faster_whisper")).strip()
    examples = opt("speech_robustness_examples") or file.get("robustness_examples", "ci")
    if examples not in ("ci", "wide"):
        raise SpeechlabError(f"{pyproject}: robustness_examples must be 'ci' or 'wide'")
    if opt("promote_force") and not opt("promote_reason").strip():
        raise SpeechlabError("--promote-force: give the reason with --promote-reason")
    if (opt("promote_force") or opt("promote_reason") or opt("promote_restore")) and not promote_to:
        raise SpeechlabError("--promote-reason/--promote-force/--promote-restore: only with --promote-to")
    if opt("speech_dry_run") and not opt("update_baselines"):
        raise SpeechlabError("--speech-dry-run: only with --update-baselines")
    return Settings(
        models=_split(opt("speech_model") or file.get("models")),
        device=opt("speech_device") or file.get("device", "auto"),
        manifest=spec("speech_manifest", "manifest"),
        audio_root=path("speech_audio_root", "audio_root", None),
        tags=_split(opt("speech_tags") or file.get("tags")),
        baselines=path("speech_baselines", "baselines", None) or (config.rootpath / "baselines").resolve(),
        results=path("speech_results", "results", None),
        update=bool(opt("update_baselines")),
        tolerances=Tolerances(
            **{
                row.name: float(
                    number(tolerance_flag(row.name)[1], tolerance_key(row.name), getattr(defaults, row.name))
                )
                for row in fields(Tolerances)
            }
        ),
        repeats=max(1, int(number("speech_repeats", "repeats", 5))),
        warmup=int(number("speech_warmup", "warmup", 1)),
        latency_tags=_split(file.get("latency_tags", ["latency"])),
        new_cases=new_cases,
        sources=sources,
        model_options=model_options,
        given_tolerances=given,
        registry=path("speech_registry", "registry", None) or base / "registry.yaml",
        promote_to=promote_to,
        promote_reason=opt("promote_reason"),
        promote_force=bool(opt("promote_force")),
        promote_restore=bool(opt("promote_restore")),
        dry_run=bool(opt("speech_dry_run")),
        summary=path("speech_summary", "summary", None),
        judge=None if judge.lower() == "none" else judge,
        report=path("speech_report", "report", None),
        robustness_tags=_split(file.get("robustness_tags", ["robustness"])),
        robustness_examples=examples,
    )
