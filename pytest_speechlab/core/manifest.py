"""The manifest: which audio files to test and what was said in them.

A manifest is a YAML file with a ``cases`` list; audio paths are relative to the manifest's
folder and may not leave it. Everything is checked when the manifest is loaded, so that a bad
case stops the run before any model is loaded.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile
import yaml

from ..errors import SpeechlabError

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")
TAG_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REQUIRED = ("id", "audio", "text")
OPTIONAL = ("language", "tags", "sha256", "sample_rate")
NONSPEECH_TAG = "nonspeech"
MIN_SAMPLE_RATE = 8000  # below telephone rate there is no speech band left to recognise


@dataclass(frozen=True)
class Case:
    """One utterance: its audio file, reference transcript and what the header says of it."""

    id: str
    audio: Path
    text: str
    language: str | None = None
    tags: tuple[str, ...] = ()
    sha256: str | None = None
    sample_rate: int = 0  # the file's own rate, read from its header
    channels: int = 1
    duration_s: float = 0.0
    line: int = 0  # 1-based line of the case in the manifest, for messages


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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def load_manifest(path: Path | str) -> Manifest:
    """Read and validate a manifest; raise SpeechlabError naming the file, line and problem."""
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
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(data["cases"]):
        line = lines[index] if index < len(lines) else 0
        case = _parse_case(path, root, entry, line)
        if case.id in seen:
            raise SpeechlabError(
                f"{path}:{line}: duplicate case id {case.id!r} (first at line {seen[case.id]})"
            )
        seen[case.id] = line
        cases.append(case)
    return Manifest(path=path, cases=tuple(cases))


def _parse_case(path: Path, root: Path, entry: Any, line: int) -> Case:
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
    audio = (root / str(entry["audio"])).resolve()
    if not audio.is_relative_to(root):
        raise SpeechlabError(f"{where}: audio path {entry['audio']!r} leaves the manifest folder")
    if not audio.is_file():
        raise SpeechlabError(f"{where}: audio file {audio} not found")
    sha = entry.get("sha256")
    if sha is not None and sha256_file(audio) != str(sha).lower():
        raise SpeechlabError(f"{where}: {audio} does not match its sha256")
    try:
        info = soundfile.info(str(audio))
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise SpeechlabError(f"{where}: {audio} is not readable audio ({exc})") from None
    if info.frames <= 0:
        raise SpeechlabError(f"{where}: {audio} has no audio frames")
    if info.samplerate < MIN_SAMPLE_RATE:
        raise SpeechlabError(
            f"{where}: {audio} has sample rate {info.samplerate} Hz, below {MIN_SAMPLE_RATE} Hz"
        )
    expected_rate = entry.get("sample_rate")
    if expected_rate is not None and (isinstance(expected_rate, bool) or not isinstance(expected_rate, int)):
        raise SpeechlabError(f"{where}: sample_rate must be a whole number of Hz, got {expected_rate!r}")
    if expected_rate is not None and expected_rate != info.samplerate:
        raise SpeechlabError(
            f"{where}: {audio} has sample rate {info.samplerate} Hz, manifest says {expected_rate}"
        )
    language = entry.get("language")
    return Case(
        id=case_id,
        audio=audio,
        text=text,
        language=str(language) if language else None,
        tags=tuple(tags),
        sha256=str(sha).lower() if sha else None,
        sample_rate=info.samplerate,
        channels=info.channels,
        duration_s=info.frames / info.samplerate,
        line=line,
    )
