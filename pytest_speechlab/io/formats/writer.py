"""Our YAML manifest from cases of any format, and cases from a folder of audio and transcripts:
what ``speechlab manifest convert`` and ``speechlab manifest build`` write.

The YAML holds every field the cases carry (speaker, language, the derived tags, a span as
``offset`` and ``duration``, sha256 where known, the header's sample rate, the reference
alignment), so it loads back to the same cases. Audio and alignment paths are relative to the
YAML's folder, which must hold them all, as loading it requires; only when the user names an
audio root (``--audio-root``) may they lead out of it (``../``), into that root, and the YAML
then loads with ``--speech-audio-root`` naming it.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from ...core.case import Case
from ...errors import SpeechlabError
from ..manifest import NONSPEECH_TAG, Header, reach, read_header, sha256_file, within
from .common import BUCKETS, LONGEST, build_case, unique

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif")
TRANSCRIPT_SUFFIXES = (".txt", ".lab")


def _named(case: Case, what: str, path: Path, folder: Path, audio_root: Path | None) -> str:
    """``path`` as the YAML in ``folder`` names it: inside ``folder``, or inside ``audio_root``
    when given (the YAML then loads with ``--speech-audio-root`` naming it)."""
    try:
        resolved = within(f"case {case.id!r}", what, str(path), folder, reach(folder, audio_root))
    except SpeechlabError as exc:
        if audio_root is not None:
            raise
        common = os.path.commonpath([folder, path.resolve()])
        raise SpeechlabError(
            f"{exc}: write the manifest into a folder that holds all the audio (such as {common}), "
            "or name one with --audio-root"
        ) from None
    return Path(os.path.relpath(resolved, folder)).as_posix()


def entry(
    case: Case, folder: Path, audio: Path | None = None, audio_root: Path | None = None
) -> dict[str, Any]:
    """The YAML entry of ``case``, its audio (``audio`` when the case's was extracted to a
    file) and reference alignment written relative to ``folder``."""
    out: dict[str, Any] = {
        "id": case.id,
        "audio": _named(case, "audio", audio or case.audio, folder, audio_root),
        "text": case.text,
    }
    if case.language:
        out["language"] = case.language
    if case.speaker:
        out["speaker"] = case.speaker
    if case.tags:
        out["tags"] = list(case.tags)
    if case.sha256:
        out["sha256"] = case.sha256
    out["sample_rate"] = case.sample_rate
    if case.offset_s is not None:
        out["offset"] = round(case.offset_s, 6)
        out["duration"] = round(case.duration_s, 6)
    if case.alignment is not None:
        out["alignment"] = _named(case, "alignment", case.alignment, folder, audio_root)
    return out


def reaches_out(entries: list[dict[str, Any]]) -> bool:
    """Whether a written manifest names files outside its folder (it needs an audio root)."""
    return any(e[key].startswith("../") for e in entries for key in ("audio", "alignment") if key in e)


def dump(entries: list[dict[str, Any]], comment: str) -> str:
    body = yaml.safe_dump(
        {"cases": entries}, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1 << 16
    )
    return f"# {comment}\n{body}"


def _transcript(audio: Path) -> Path | None:
    return next((p for s in TRANSCRIPT_SUFFIXES if (p := audio.with_suffix(s)).is_file()), None)


def read_transcript(path: Path) -> str:
    """A transcript file's text, its whitespace and line breaks made single spaces."""
    try:
        return " ".join(path.read_text(encoding="utf-8").split())
    except UnicodeDecodeError:
        raise SpeechlabError(f"{path}: not UTF-8 text") from None


def folder_cases(
    root: Path, skip_missing: bool, audio_root: Path | None = None, covered: frozenset[Path] = frozenset()
) -> tuple[tuple[Case, ...], list[Path]]:
    """A case for each audio file under ``root`` with a transcript beside it (``x.wav`` and
    ``x.txt``, else ``x.lab``), with its sha256; the id is the path under ``root`` without the
    extension, made a valid id (``spk1/001.wav`` is ``spk1_001``). Returns the cases and the
    audio files left out for want of a transcript (an error unless ``skip_missing``); a file in
    ``covered`` (resolved: a manifest being updated has a case of it already) is left out
    silently. A link that leads out of ``root`` (or ``audio_root`` when given) is an error."""
    if not root.is_dir():
        raise SpeechlabError(f"{root}: not a folder")
    found = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    limit = reach(root, audio_root)
    if not found:
        raise SpeechlabError(f"{root}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
    cases, skipped = [], []
    for audio in found:
        transcript = _transcript(audio)
        if transcript is None:
            if audio.resolve() in covered:
                continue
            if skip_missing:
                skipped.append(audio)
                continue
            raise SpeechlabError(
                f"{audio}: no transcript beside it ({audio.stem}.txt or {audio.stem}.lab); "
                "pass --skip-missing to leave such files out"
            )
        text = read_transcript(transcript)
        where = str(audio)
        resolved = within(str(root), "audio", audio.relative_to(root).as_posix(), root, limit)
        header: Header = read_header(where, resolved)
        raw_id = audio.relative_to(root).with_suffix("").as_posix()
        case = build_case(where, raw_id, resolved, text, header)
        cases.append((where, replace(case, sha256=sha256_file(audio))))
    return unique(str(root), cases), skipped


DURATION_TAGS = {name for _, name in BUCKETS} | {LONGEST}


def _derived(tag: str) -> bool:
    """A tag ``folder_cases`` derives from a file (its duration, no words), not one added by hand."""
    return tag == NONSPEECH_TAG or tag in DURATION_TAGS


def _short(text: str, width: int = 60) -> str:
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def refreshed(
    existing: list[dict[str, Any]], fresh: list[dict[str, Any]], folder: Path
) -> tuple[list[dict[str, Any]], list[str]]:
    """The entries of a manifest in ``folder`` brought up to date with the audio folder's
    ``fresh`` entries, matched by audio path: each text, sha256 and derived tag from the files,
    every other field (an id, a tag or a language added by hand) kept. Audio new to the folder is
    appended; an entry whose audio file is gone is dropped; one without a transcript is kept as
    it is. Returns the entries and one line per change."""
    by_audio = {e["audio"]: e for e in fresh}
    entries, changes = [], []
    for old in existing:
        new = by_audio.pop(str(old.get("audio")), None)
        if new is None:
            if (folder / str(old.get("audio"))).exists():
                entries.append(old)
            else:
                changes.append(f"{old.get('id')}: removed (its audio {old.get('audio')} is gone)")
            continue
        entry = dict(old)
        if old.get("text") != new["text"]:
            changes.append(f"{old['id']}: text {_short(str(old.get('text')))} -> {_short(new['text'])}")
            entry["text"] = new["text"]
        if old.get("sha256") not in (None, new.get("sha256")):
            changes.append(f"{old['id']}: audio changed, its sha256 updated (re-record its baseline)")
            entry["sha256"], entry["sample_rate"] = new.get("sha256"), new["sample_rate"]
        tags = [*new.get("tags", []), *(t for t in old.get("tags", []) if not _derived(t))]
        if tags != list(old.get("tags", [])):
            entry["tags"] = tags
        entries.append(entry)
    ids = {e.get("id") for e in entries}
    for new in by_audio.values():
        if new["id"] in ids:
            raise SpeechlabError(
                f"{new['audio']}: its id {new['id']!r} is taken by another case of the manifest; "
                "rename that case or the file"
            )
        changes.append(f"{new['id']}: added ({new['audio']})")
        entries.append(new)
    return entries, changes


def edited_transcripts(cases: tuple[Case, ...], manifest: str) -> list[str]:
    """One line per case whose transcript beside its audio (``x.txt``, else ``x.lab``) says
    other than the manifest: an edit the manifest never saw, since it keeps its own copy."""
    lines = []
    for case in cases:
        transcript = _transcript(case.audio) if case.offset_s is None and case.embedded is None else None
        if transcript is None:
            continue
        try:
            text = read_transcript(transcript)
        except (OSError, SpeechlabError):  # unreadable: not an edit to report
            continue
        if text != " ".join(case.text.split()):
            lines.append(
                f"{manifest}: case {case.id}: {transcript.name} says {_short(text)}, the manifest "
                f"{_short(case.text)}; speechlab manifest build updates the manifest"
            )
    return lines
