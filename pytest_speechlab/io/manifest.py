"""The manifest: which audio files to test and what was said in them.

A manifest is a YAML file with a ``cases`` list; audio paths are relative to the manifest's
folder and may not leave it (``within``: the rule of every format), unless the user names
another folder with ``--speech-audio-root``. Everything is checked when the manifest is loaded, so that a bad
case stops the run before any model is loaded. Other formats (NeMo, Kaldi, Hugging Face,
lhotse) are read by ``io.formats`` into the same ``Case`` objects; ``load_manifest`` takes
either a path or a format spec.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import soundfile
import yaml

from ..core.case import Case
from ..errors import SpeechlabError

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")
TAG_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REQUIRED = ("id", "audio", "text")
OPTIONAL = ("language", "speaker", "tags", "sha256", "sample_rate", "offset", "duration", "alignment")
NONSPEECH_TAG = "nonspeech"
MIN_SAMPLE_RATE = 8000  # below telephone rate there is no speech band left to recognise
MAX_OVERSHOOT_S = 0.5  # a span may end this far past the file's end (cut there), as Kaldi allows


@dataclass(frozen=True)
class Manifest:
    path: Path
    cases: tuple[Case, ...] = field(default_factory=tuple)

    def select(self, tags: list[str] | None) -> tuple[Case, ...]:
        """The cases carrying any of ``tags`` (all cases when no tags are given)."""
        if not tags:
            return self.cases
        unknown = set(tags) - {t for c in self.cases for t in c.tags}
        if unknown:
            raise SpeechlabError(f"{self.path}: no case has tag(s) {', '.join(sorted(unknown))}")
        return tuple(c for c in self.cases if set(tags) & set(c.tags))


@dataclass(frozen=True)
class Reach:
    """The folder a manifest's files must lie in: its own, or the audio root the user named."""

    folder: Path  # resolved
    named: bool = False  # the user's --speech-audio-root, not the manifest's own folder

    def __str__(self) -> str:
        return f"the audio root {self.folder}" if self.named else "the manifest folder"


def reach(manifest_folder: Path, audio_root: Path | None) -> Reach:
    """Where a manifest in ``manifest_folder`` may take files from: ``audio_root`` when given."""
    if audio_root is not None:
        return Reach(audio_root.resolve(), named=True)
    return Reach(manifest_folder.resolve())


def within(where: str, what: str, given: str, base: Path, limit: Reach) -> Path:
    """The file a manifest names as ``given`` (taken from ``base`` when relative), resolved, once
    known to lie inside ``limit`` after symbolic links and ``..`` are resolved. A manifest may come
    from a pull request or a downloaded data set: the files it opens must not reach outside."""
    path = base / given
    resolved = path.resolve()
    if resolved.is_relative_to(limit.folder):
        return resolved
    link = "" if resolved == Path(os.path.normpath(base.resolve() / given)) else f" (a link to {resolved})"
    raise SpeechlabError(f"{where}: {what} path {given!r}{link} leaves {limit}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Header:
    """What an audio file's header says: enough to check a case without decoding it."""

    sample_rate: int
    channels: int
    frames: int
    format: str = ""

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def read_header(where: str, audio: Path | IO[bytes], name: object = None) -> Header:
    """The header of an audio file (or of an open file of encoded bytes), checked: readable,
    not empty, at least ``MIN_SAMPLE_RATE``. ``name`` is what messages call it."""
    name = name if name is not None else audio
    try:
        info = soundfile.info(audio if not isinstance(audio, Path) else str(audio))
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise SpeechlabError(f"{where}: {name} is not readable audio ({exc})") from None
    if info.frames <= 0:
        raise SpeechlabError(f"{where}: {name} has no audio frames")
    if info.samplerate < MIN_SAMPLE_RATE:
        raise SpeechlabError(
            f"{where}: {name} has sample rate {info.samplerate} Hz, below {MIN_SAMPLE_RATE} Hz"
        )
    return Header(info.samplerate, info.channels, info.frames, info.format)


def _seconds(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SpeechlabError(f"{where}: {key} must be a number of seconds, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise SpeechlabError(f"{where}: {key} must be a number of seconds, got {value!r}") from None


def span(where: str, header: Header, offset: Any = None, duration: Any = None) -> tuple[float | None, float]:
    """``(offset_s, duration_s)`` of a case: the whole file when neither is given (offset None),
    else ``duration`` seconds from ``offset`` (0 when not given; to the file's end when no
    duration). A span may overshoot the end by up to ``MAX_OVERSHOOT_S`` and is cut there."""
    if offset is None and duration is None:
        return None, header.duration_s
    start = 0.0 if offset is None else _seconds(where, "offset", offset)
    length = header.duration_s - start if duration is None else _seconds(where, "duration", duration)
    if start >= header.duration_s:
        raise SpeechlabError(
            f"{where}: span starts at {start:g} s, after the audio's {header.duration_s:g} s"
        )
    if start < 0 or length <= 0:
        raise SpeechlabError(f"{where}: span offset {start:g} s, duration {length:g} s is empty or negative")
    if start + length > header.duration_s + MAX_OVERSHOOT_S:
        raise SpeechlabError(
            f"{where}: span {start:g}-{start + length:g} s ends after the audio's {header.duration_s:g} s"
        )
    return start, min(length, header.duration_s - start)


def parse_yaml(path: Path, text: str) -> Any:
    """``text`` of the YAML file ``path``; a syntax error names the file and line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpeechlabError(f"{path}{where}: not valid YAML ({problem})") from None


def _case_lines(text: str) -> list[int]:
    """1-based line numbers of the entries of ``cases``, for error messages."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "cases" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def load_manifest(spec: Path | str, audio_root: Path | None = None) -> Manifest:
    """Read and validate a manifest: a YAML file, or any format ``io.formats`` reads, from its
    path or a spec like ``kaldi:data/test`` (see ``formats.load``); a problem raises
    SpeechlabError naming the file, line and problem."""
    from .formats import load

    return load(spec, audio_root)


def load_yaml(path: Path | str, audio_root: Path | None = None) -> Manifest:
    """Read and validate a YAML manifest; raise SpeechlabError naming the file, line and problem.
    Audio and alignment paths are taken from the manifest's folder and must lie inside it, or
    inside ``audio_root`` when given."""
    path = Path(path)
    if not path.is_file():
        raise SpeechlabError(f"{path}: manifest not found")
    text = path.read_text(encoding="utf-8")
    data = parse_yaml(path, text)
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise SpeechlabError(f"{path}: expected a mapping with a 'cases' list")
    if not data["cases"]:
        raise SpeechlabError(f"{path}: 'cases' is empty")
    lines = _case_lines(text)
    root = path.parent.resolve()
    limit = reach(root, audio_root)
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(data["cases"]):
        line = lines[index] if index < len(lines) else 0
        case = _parse_case(path, root, entry, line, limit)
        if case.id in seen:
            raise SpeechlabError(
                f"{path}:{line}: duplicate case id {case.id!r} (first at line {seen[case.id]})"
            )
        seen[case.id] = line
        cases.append(case)
    return Manifest(path=path, cases=tuple(cases))


def _parse_case(path: Path, root: Path, entry: Any, line: int, limit: Reach) -> Case:
    where = f"{path}:{line}"
    if not isinstance(entry, dict):
        raise SpeechlabError(f"{where}: a case must be a mapping with id, audio and text")
    for key in REQUIRED:
        if entry.get(key) is None:
            name = entry.get("id", "?")
            raise SpeechlabError(f"{where}: case {name!r} has no {key!r}")
    unknown = set(entry) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise SpeechlabError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    case_id = str(entry["id"])
    if not ID_PATTERN.match(case_id):
        raise SpeechlabError(f"{where}: case id {case_id!r} must match {ID_PATTERN.pattern}")
    where = f"{where}: case {case_id!r}"
    tags = entry.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and TAG_PATTERN.match(t) for t in tags):
        raise SpeechlabError(f"{where}: tags must be a list of identifiers")
    text = entry["text"]
    if not isinstance(text, str):
        raise SpeechlabError(f"{where}: text must be a string")
    if not text.strip() and NONSPEECH_TAG not in tags:
        raise SpeechlabError(f"{where}: empty reference text (allowed only with tag 'nonspeech')")
    audio = within(where, "audio", str(entry["audio"]), root, limit)
    if not audio.is_file():
        raise SpeechlabError(f"{where}: audio file {audio} not found")
    sha = entry.get("sha256")
    if sha is not None and sha256_file(audio) != str(sha).lower():
        raise SpeechlabError(f"{where}: {audio} does not match its sha256")
    header = read_header(where, audio)
    expected_rate = entry.get("sample_rate")
    if expected_rate is not None and (isinstance(expected_rate, bool) or not isinstance(expected_rate, int)):
        raise SpeechlabError(f"{where}: sample_rate must be a whole number of Hz, got {expected_rate!r}")
    if expected_rate is not None and expected_rate != header.sample_rate:
        raise SpeechlabError(
            f"{where}: {audio} has sample rate {header.sample_rate} Hz, manifest says {expected_rate}"
        )
    offset_s, duration_s = span(where, header, entry.get("offset"), entry.get("duration"))
    alignment = None
    if entry.get("alignment") is not None:
        alignment = within(where, "alignment", str(entry["alignment"]), root, limit)
        if not alignment.is_file():
            raise SpeechlabError(f"{where}: alignment file {alignment} not found")
    language = entry.get("language")
    speaker = entry.get("speaker")
    return Case(
        id=case_id,
        audio=audio,
        text=text,
        language=str(language) if language else None,
        tags=tuple(tags),
        sha256=str(sha).lower() if sha else None,
        sample_rate=header.sample_rate,
        channels=header.channels,
        duration_s=duration_s,
        line=line,
        speaker=str(speaker) if speaker is not None and str(speaker) else None,
        offset_s=offset_s,
        alignment=alignment,
    )
