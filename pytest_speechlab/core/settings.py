"""The settings of a run: tolerances, paths and options, from ``[tool.speechlab]`` and the
command line (``plugin.options`` merges them).

The command line wins over ``pyproject.toml``, which wins over the defaults here. Paths in
``pyproject.toml`` are relative to that file; paths on the command line to the current folder.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpeechlabError


@dataclass(frozen=True)
class Tolerances:
    """How much worse than its baseline a measurement may be before it fails.

    WER and CER are absolute (0.02 = two points); latency is relative (0.5 = 50% slower, after
    scaling by the machine calibration)."""

    wer: float = 0.02
    cer: float = 0.02
    latency: float = 0.5
    duration: float = 0.15  # text-to-speech: relative change of duration and speaking rate, either way
    silence: float = 0.25  # text-to-speech: seconds of extra leading, trailing or longest internal silence
    robustness: float = 0.3  # WER under a perturbation over the same case's clean WER, absolute
    dnsmos: float = 0.3  # text-to-speech: how far a DNSMOS score (1-5) may drop, absolute
    similarity: float = 0.1  # text-to-speech: how far the speaker similarity may drop, absolute
    timestamp: float = 50.0  # ms a case's mean word start or end error may rise, absolute


@dataclass(frozen=True)
class Settings:
    models: tuple[str, ...] = ()
    device: str = "auto"
    manifest: str | None = None  # a path, or a spec FORMAT:PATH?OPTIONS (core.formats)
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
    "models", "device", "manifest", "audio_root", "tags", "baselines", "results", "wer_tolerance",
    "cer_tolerance", "latency_tolerance", "duration_tolerance", "silence_tolerance", "repeats",
    "warmup", "latency_tags", "new_cases", "options", "registry", "summary", "judge", "report",
    "robustness_tolerance", "robustness_tags", "robustness_examples", "dnsmos_tolerance",
    "similarity_tolerance", "timestamp_tolerance",
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


def read_file_settings(path: Path) -> dict[str, Any]:
    """``[tool.speechlab]`` of a pyproject.toml, checked for unknown keys."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpeechlabError(f"{path}: not valid TOML ({exc})") from None
    section = data.get("tool", {}).get("speechlab", {})
    finite(path, section, "[tool.speechlab]")
    unknown = set(section) - FILE_KEYS
    if unknown:
        raise SpeechlabError(f"{path}: unknown [tool.speechlab] key(s) {', '.join(sorted(unknown))}")
    return section
