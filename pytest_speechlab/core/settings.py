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


TOLERANCE_KEYS = tuple(tolerance_key(f.name) for f in fields(Tolerances))


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


FILE_KEYS = {
    "models", "device", "manifest", "audio_root", "tags", "baselines", "results", "repeats",
    "warmup", "latency_tags", "new_cases", "options", "registry", "summary", "judge", "report",
    "robustness_tags", "robustness_examples", *TOLERANCE_KEYS,
}  # fmt: skip


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
