"""Kaldi data directories: ``wav.scp`` and ``text``, optional ``segments``, ``utt2spk`` and
``utt2lang``.

``wav.scp`` lines must name plain audio files (``REC PATH``); a piped command (``... |``) or
an archive offset (``file.ark:123``) is an error, since reading them means running Kaldi.
Relative paths are taken from the data directory; every path must lie inside the folder holding
it (or the audio root). With ``segments`` (``UTT REC START END``) each utterance is that span of
its recording (an END of -1 is the recording's end); without it each ``wav.scp`` entry is an
utterance and its id is the recording id. Utterances come in the order of ``text``; the
utterance id, made a valid id (``61-70968-0000`` becomes ``61_70968_0000``), is the case id.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ...core.case import Case
from ...errors import SpeechlabError
from ..manifest import Manifest, Reach, within
from .common import Headers, build_case, numbered_lines, unique


def _lines(path: Path, min_fields: int) -> Iterator[tuple[str, str, list[str]]]:
    """``(where, key, rest split)`` of each non-empty line; a key seen twice is an error."""
    seen: set[str] = set()
    for number, line in numbered_lines(path):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) < min_fields:
            raise SpeechlabError(
                f"{where}: Kaldi {path.name} line needs {min_fields} fields, has {len(fields)}"
            )
        if fields[0] in seen:
            raise SpeechlabError(f"{where}: Kaldi {path.name} lists {fields[0]!r} twice")
        seen.add(fields[0])
        yield where, fields[0], fields[1:]


def _table(path: Path) -> dict[str, str]:
    """A two-column Kaldi file (``utt2spk``, ``utt2lang``) as a dict; empty when absent."""
    return {key: rest[0] for _, key, rest in _lines(path, 2)} if path.is_file() else {}


def _recordings(folder: Path, limit: Reach) -> dict[str, tuple[str, Path]]:
    recordings: dict[str, tuple[str, Path]] = {}
    scp = folder / "wav.scp"
    for number, line in numbered_lines(scp):
        parts = line.split(maxsplit=1)
        if not parts:
            continue
        key, value = parts[0], parts[1].strip() if len(parts) > 1 else ""
        where = f"{scp}:{number}"
        if not value:
            raise SpeechlabError(f"{where}: Kaldi wav.scp line has no path for {key!r}")
        if value.endswith("|"):
            raise SpeechlabError(
                f"{where}: Kaldi wav.scp entry {key!r} is a piped command; only plain audio paths are read"
            )
        if ".ark:" in value:
            raise SpeechlabError(
                f"{where}: Kaldi wav.scp entry {key!r} is an archive offset; only plain paths"
            )
        if key in recordings:
            raise SpeechlabError(f"{where}: Kaldi wav.scp lists {key!r} twice")
        recordings[key] = (where, within(f"{where}: recording {key!r}", "audio", value, folder, limit))
    return recordings


def load(path: Path, options: dict[str, str], limit: Reach) -> Manifest:
    recordings = _recordings(path, limit)
    segments = path / "segments"
    spans: dict[str, tuple[str, str, str, str]] = {}
    if segments.is_file():
        for where, utt, rest in _lines(segments, 4):
            if rest[0] not in recordings:
                raise SpeechlabError(f"{where}: Kaldi segments: recording {rest[0]!r} is not in wav.scp")
            spans[utt] = (where, rest[0], rest[1], rest[2])
    speakers = _table(path / "utt2spk")
    languages = _table(path / "utt2lang")
    headers = Headers()
    cases: list[tuple[str, Case]] = []
    texts = path / "text"
    for where, utt, words in _lines(texts, 1):
        offset = duration = None
        if segments.is_file():
            if utt not in spans:
                raise SpeechlabError(f"{where}: Kaldi text: utterance {utt!r} is not in segments")
            _, recording, start, end = spans[utt]
            try:  # an end of -1 is the end of the recording, as in Kaldi
                offset = float(start)
                duration = None if float(end) == -1 else float(end) - offset
            except ValueError:
                raise SpeechlabError(
                    f"{spans[utt][0]}: Kaldi segments: start and end must be seconds"
                ) from None
        else:
            if utt not in recordings:
                raise SpeechlabError(f"{where}: Kaldi text: utterance {utt!r} is not in wav.scp")
            recording = utt
        audio = recordings[recording][1]
        header = headers(recordings[recording][0], audio)
        case = build_case(
            where,
            utt,
            audio,
            " ".join(words),
            header,
            language=languages.get(utt),
            speaker=speakers.get(utt),
            offset=offset,
            duration=duration,
            line=int(where.rsplit(":", 1)[1]),
        )
        cases.append((where, case))
    return Manifest(path=path, cases=unique(str(path), cases))
