"""Manifests in the formats people already have, read into the same ``Case`` objects.

A manifest spec is ``[FORMAT:]PATH[?KEY=VALUE&...]``. Without a prefix the format is told
from the path: a ``.yaml``/``.yml`` file is ours; a folder with ``wav.scp`` and ``text`` is a
Kaldi data directory; a ``save_to_disk`` folder (``dataset_info.json``, ``state.json`` or
``dataset_dict.json``), a ``.parquet`` file or a folder of them is a Hugging Face dataset; a
JSON-lines file (``.json``, ``.jsonl``, optionally ``.gz``) is NeMo when its first line has
``audio_filepath`` and lhotse when it is a lhotse recording, supervision or cut. The
prefixes ``yaml:``, ``nemo:``, ``kaldi:``, ``hf:`` and ``lhotse:`` say it outright. Options
after ``?`` are for the formats that need them (``hf:DIR?split=test&text=sentence``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl

from ...errors import SpeechlabError
from ..manifest import Manifest, Reach, load_yaml, reach
from .common import reading

FORMATS = ("yaml", "nemo", "kaldi", "hf", "lhotse")
OPTIONS = {
    "yaml": (),
    "nemo": (),
    "kaldi": (),
    "hf": ("split", "audio", "text", "id", "speaker", "language"),
    "lhotse": ("recordings", "supervisions"),
}
HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
LHOTSE_KEYS = (
    {"sources", "sampling_rate"},
    {"recording_id", "start", "duration"},
    {"type", "start", "duration"},
)


def split_spec(spec: str) -> tuple[str | None, str, str]:
    """``(format or None, path, query)`` of a spec; a prefix counts only if it names a format,
    so ``C:\\data`` stays a path."""
    prefix, sep, rest = spec.partition(":")
    fmt = prefix if sep and prefix in FORMATS else None
    path, _, query = (rest if fmt else spec).partition("?")
    return fmt, path, query


def resolve_spec(spec: str | Path, base: Path) -> str:
    """``spec`` with its path made absolute against ``base``, prefix and options kept."""
    fmt, path, query = split_spec(str(spec))
    resolved = str((base / path).resolve())
    return (f"{fmt}:" if fmt else "") + resolved + (f"?{query}" if query else "")


def _options(fmt: str, spec: str, query: str) -> dict[str, str]:
    if not query:
        return {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise SpeechlabError(f"{spec}: options must read KEY=VALUE&KEY=VALUE, got {query!r}") from None
    options = dict(pairs)
    unknown = set(options) - set(OPTIONS[fmt])
    if unknown:
        known = ", ".join(OPTIONS[fmt]) or "none"
        raise SpeechlabError(f"{spec}: unknown {fmt} option(s) {', '.join(sorted(unknown))} (known: {known})")
    return options


SNIFF = 64 * 2**10  # characters read to tell a JSON format from its first line


def first_line(path: Path, limit: int = SNIFF) -> str:
    """The first non-empty line among the first ``limit`` characters of ``path`` (its start, when
    longer): a file without line breaks is not read whole to learn its format."""
    with reading(path) as f:
        head = f.read(limit)
    return next((line.strip() for line in head.splitlines() if line.strip()), "")


def detect(path: Path) -> str:
    """The format of ``path`` from its name and, for JSON lines, its first line."""
    if path.is_dir():
        if (path / "wav.scp").is_file() and (path / "text").is_file():
            return "kaldi"
        if any((path / name).is_file() for name in HF_MARKERS) or any(path.rglob("*.parquet")):
            return "hf"
        raise SpeechlabError(
            f"{path}: not a manifest folder (a Kaldi data dir has wav.scp and text; a Hugging Face "
            "dataset has dataset_info.json or parquet files)"
        )
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes and suffixes[-1] == ".parquet":
        return "hf"
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in (".json", ".jsonl"):
        line = first_line(path)
        if line.startswith("["):
            return "lhotse"  # lhotse's eager JSON manifests are one list
        try:
            first = json.loads(line)
        except json.JSONDecodeError:
            first = None
        if isinstance(first, dict) and "audio_filepath" in first:
            return "nemo"
        if isinstance(first, dict) and any(keys <= set(first) for keys in LHOTSE_KEYS):
            return "lhotse"
        raise SpeechlabError(
            f"{path}: cannot tell the format of this JSON file (NeMo lines have 'audio_filepath'; "
            "lhotse lines are recordings, supervisions or cuts); prefix the path with nemo: or lhotse:"
        )
    return "yaml"


def _reader(fmt: str) -> Callable[[Path, dict[str, str], Reach], Manifest]:
    if fmt == "nemo":
        from . import nemo as module
    elif fmt == "kaldi":
        from . import kaldi as module  # type: ignore[no-redef]
    elif fmt == "hf":
        from . import hf as module  # type: ignore[no-redef]
    else:
        from . import lhotse as module  # type: ignore[no-redef]
    return module.load


def load(spec: str | Path, audio_root: Path | None = None) -> Manifest:
    """The manifest a spec names, in whatever format it is. Every file a case names must lie in
    the folder the manifest lies in (a file's folder, or the one holding a data directory), or in
    ``audio_root`` when given: each reader checks a path before it opens the file."""
    text = str(spec)
    fmt, raw, query = split_spec(text)
    path = Path(raw)
    if not path.exists():
        raise SpeechlabError(f"{path}: manifest not found")
    fmt = fmt or detect(path)
    options = _options(fmt, text, query)
    if fmt == "yaml":
        return load_yaml(path, audio_root)
    return _reader(fmt)(path, options, reach(path.resolve().parent, audio_root))
