"""The settings of a run: tolerances, paths and options, from ``[tool.speechlab]`` and the
command line (``plugin.options`` merges them).

The command line wins over ``pyproject.toml``, which wins over the defaults here. Paths in
``pyproject.toml`` are relative to that file; paths on the command line to the current folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import SpeechlabError


def _tolerance(default: float, unit: str, help: str) -> Any:
    """One row of the tolerance table: its default, the unit its flag names and its help. The
    flag (``--speech-NAME-tolerance``), the ``[tool.speechlab]`` and registry key
    (``NAME_tolerance``), the loaded setting and the promotion's fixed set are all made from it."""
    return field(default=default, metadata={"unit": unit, "help": help})


@dataclass(frozen=True)
class Tolerances:
    """How much worse than its baseline a measurement may be before it fails.

    WER and CER are absolute (0.02 = two points); latency is relative (0.5 = 50% slower, after
    scaling by the machine calibration)."""

    wer: float = _tolerance(0.02, "ABS", "allowed absolute WER increase over the baseline")
    cer: float = _tolerance(0.02, "ABS", "allowed absolute CER increase over the baseline")
    latency: float = _tolerance(0.5, "REL", "allowed relative latency increase, after calibration")
    duration: float = _tolerance(
        0.15, "REL", "text-to-speech: allowed relative change of duration and speaking rate"
    )
    silence: float = _tolerance(
        0.25, "SECONDS", "text-to-speech: allowed extra leading, trailing or longest internal silence"
    )
    robustness: float = _tolerance(
        0.3, "ABS", "allowed absolute WER increase under a perturbation over the clean WER"
    )
    dnsmos: float = _tolerance(0.3, "ABS", "text-to-speech: allowed drop of each DNSMOS score, 1 to 5")
    similarity: float = _tolerance(
        0.1, "ABS", "text-to-speech: allowed drop of the speaker similarity to the voice"
    )
    timestamp: float = _tolerance(50.0, "MS", "allowed rise of a case's mean word start or end error, in ms")


def tolerance_key(name: str) -> str:
    """The ``[tool.speechlab]`` and registry key of a tolerance: ``wer`` -> ``wer_tolerance``."""
    return f"{name}_tolerance"


@dataclass(frozen=True)
class Settings:
    models: tuple[str, ...] = ()
    device: str = "auto"
    manifest: str | None = None  # a path, or a spec FORMAT:PATH?OPTIONS (io.formats)
    audio_root: Path | None = None  # where cases' audio may lie; None: inside the manifest's folder
    tags: tuple[str, ...] = ()
    baselines: Path = Path("baselines")
    results: Path | None = None
    update: bool = False
    tolerances: Tolerances = field(default_factory=Tolerances)
    repeats: int = 5
    warmup: int = 1
    latency_tags: tuple[str, ...] = ("latency",)
    new_cases: str = "fail"
    sources: dict[str, str] = field(default_factory=dict)
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    given_tolerances: frozenset[str] = frozenset()  # set on the command line: a registry can't override
    registry: Path = Path("registry.yaml")
    promote_to: str | None = None
    promote_reason: str = ""
    promote_force: bool = False
    promote_restore: bool = False  # the promotion brings a deprecated model back (speechlab restore)
    dry_run: bool = False  # with update: say what would change, write nothing
    summary: Path | None = None
    judge: str | None = "faster_whisper"  # the speech-to-text model that listens to synthesised speech
    report: Path | None = None
    robustness_tags: tuple[str, ...] = ("robustness",)
    robustness_examples: str = "ci"  # the hypothesis profile of the robustness suite: ci or wide
    ray: str | None = None  # a Ray cluster for the accuracy pass: "auto" or its address (measure.ray_pass)
    ray_latency: bool = False  # time the latency subset on the cluster too (else here, after the pass)
    ray_audio: str = "bytes"  # decoded audio through the object store, or "path": actors read the file
    ray_cpus: int = 1  # CPUs (and engine threads) per actor on a run on cpu


@dataclass(frozen=True)
class Option:
    """One row of the settings table: where a setting comes from and how it is read. The pytest
    options, the ``[tool.speechlab]`` keys, the registry's threshold keys, the loaded settings and
    the promotion's fixed set are all made from these rows (``plugin.options``); a row's default
    is its ``Settings`` (or ``Tolerances``) field's, so no default is written twice."""

    name: str  # the Settings field (for a tolerance, the Tolerances field)
    flag: str | None  # the command-line flag; None: only in pyproject.toml
    key: str | None  # the [tool.speechlab] key; None: only on the command line
    kind: str  # text, list, path, spec, count, choice, switch, pairs or tolerance
    help: str = ""
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    fixed: bool = False  # refused beside --promote-to: a promotion runs the configured gate
    in_registry: bool = False  # a registry model's thresholds may set it (the tolerances)

    @property
    def dest(self) -> str:
        """Where pytest keeps the flag's value: ``--speech-model`` -> ``speech_model``."""
        return (self.flag or "").lstrip("-").replace("-", "_")

    @property
    def default(self) -> Any:
        table = {f.name: f for f in fields(Tolerances if self.kind == "tolerance" else Settings)}
        row = table[self.name]
        return row.default_factory() if callable(row.default_factory) else row.default


def _tolerance_row(row: Any) -> Option:
    flag, unit = f"--speech-{row.name}-tolerance", row.metadata["unit"]
    key, help = tolerance_key(row.name), row.metadata["help"]
    return Option(row.name, flag, key, "tolerance", help, unit, fixed=True, in_registry=True)


OPTIONS = (
    Option("models", "--speech-model", "models", "list",
           "model(s) to benchmark, e.g. faster_whisper; none skips the speech tests (with no model, a "
           "run that collects them is a usage error)", "NAME[,NAME]"),
    Option("device", "--speech-device", "device", "text",
           "auto, cpu, cuda, cuda:N, mps, or several comma separated", "DEV[,DEV]"),
    Option("manifest", "--speech-manifest", "manifest", "spec",
           "the cases: a YAML manifest, or nemo:, kaldi:, hf:, lhotse: (docs/formats.md)", "PATH|SPEC",
           fixed=True),
    Option("audio_root", "--speech-audio-root", "audio_root", "path",
           "let manifest cases read audio from inside DIR (default: only inside the manifest's folder)",
           "DIR", fixed=True),
    Option("tags", "--speech-tags", "tags", "list", "only cases carrying any of these manifest tags",
           "TAG[,TAG]", fixed=True),
    Option("results", "--speech-results", "results", "path",
           "write measured results as JSON (written whether the run passes or not)", "PATH"),
    Option("baselines", "--speech-baselines", "baselines", "path",
           "baseline folder (default baselines/ in pytest's rootdir)", "DIR", fixed=True),
    Option("update", "--update-baselines", None, "switch",
           "record this run's measurements as the new baselines"),
    Option("dry_run", "--speech-dry-run", None, "switch",
           "with --update-baselines: print what would change in the baselines, write nothing"),
    *(_tolerance_row(row) for row in fields(Tolerances)),
    Option("robustness_examples", "--speech-robustness-examples", "robustness_examples", "choice",
           "perturbations tried per robustness case: ci (few, fixed) or wide (many, random)",
           choices=("ci", "wide")),
    Option("judge", "--speech-judge", "judge", "text",
           "speech-to-text model that transcribes synthesised speech (none: no judge)", "NAME", fixed=True),
    Option("report", "--speech-report", "report", "path",
           "write a self-contained HTML report with tables and plots", "PATH.html"),
    Option("repeats", "--speech-repeats", "repeats", "count", "timed runs per latency case", "N", fixed=True),
    Option("warmup", "--speech-warmup", "warmup", "count", "untimed runs per model before any timing", "N",
           fixed=True),
    Option("new_cases", "--speech-new-cases", "new_cases", "choice",
           "a case with no baseline fails the gate or passes as NEW", choices=("fail", "pass"), fixed=True),
    Option("sources", "--speech-source", None, "pairs",
           "where a model's weights come from: hub name, local path or package:NAME", "MODEL=SOURCE"),
    Option("model_options", "--speech-option", "options", "pairs",
           "engine option, e.g. faster_whisper.beam_size=1 (value parsed as YAML)", "MODEL.KEY=VALUE"),
    Option("summary", "--speech-summary", "summary", "path",
           "write a Markdown summary for a reviewer (e.g. to $GITHUB_STEP_SUMMARY)", "PATH"),
    Option("registry", "--speech-registry", "registry", "path",
           "model registry file (default registry.yaml beside pyproject.toml)", "PATH"),
    Option("promote_to", "--promote-to", None, "choice",
           "after the run, promote the model in the registry if the gate passes",
           choices=("candidate", "production")),
    Option("promote_reason", "--promote-reason", None, "text", "why, recorded in the registry history",
           "TEXT"),
    Option("promote_force", "--promote-force", None, "switch",
           "allow a promotion that skips a stage (needs --promote-reason); the gate still runs"),
    Option("promote_restore", "--promote-restore", None, "switch",
           "with --promote-to: bring a deprecated model back, through the gate (speechlab restore)"),
    Option("ray", "--speech-ray", "ray", "text",
           "transcribe on a Ray cluster (the ray extra): auto (the cluster this machine is in) or its "
           "address, HOST:PORT or ray://HOST:PORT", "auto|ADDRESS"),
    Option("ray_latency", "--speech-ray-latency", None, "switch",
           "with --speech-ray: time the latency subset on the cluster too (default: here, after the pass)",
           fixed=True),
    Option("ray_audio", "--speech-ray-audio", "ray_audio", "choice",
           "with --speech-ray: send decoded audio through the object store (bytes), or let the actors "
           "read each case's file (path: the cluster must see the same paths)", choices=("bytes", "path")),
    Option("ray_cpus", "--speech-ray-cpus", "ray_cpus", "count",
           "with --speech-ray, on cpu: CPUs (and engine threads) per actor", "N"),
    Option("latency_tags", None, "latency_tags", "list"),
    Option("robustness_tags", None, "robustness_tags", "list"),
)  # fmt: skip
FILE_KEYS = {row.key for row in OPTIONS if row.key}
REGISTRY_KEYS = tuple(row.key for row in OPTIONS if row.in_registry and row.key)


def finite(path: Path | str, data: Any, where: str = "") -> None:
    """Refuse a non-finite number anywhere in ``data`` (JSON's ``Infinity`` and ``NaN``, YAML's
    ``.inf``, TOML's ``inf``), naming the file and the key: an infinite baseline or threshold is a
    limit that nothing exceeds, and a NaN one compares false with everything."""
    if isinstance(data, float) and not math.isfinite(data):
        raise SpeechlabError(f"{path}: {where or 'value'} is {data!r}: only finite numbers are allowed")
    if isinstance(data, dict):
        for key, value in data.items():
            finite(path, value, f"{where}.{key}" if where else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            finite(path, value, f"{where}[{i}]")
