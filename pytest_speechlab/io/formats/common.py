"""What every format reader shares: valid case ids, tags from a case's fields, checked cases.

Formats have no tags of their own, so a case's tags come from what the format says of it:
its speaker (``spk_<speaker>``), language (``lang_<language>``), a duration bucket
(``dur_lt5s``, ``dur_5_15s``, ``dur_15_30s``, ``dur_ge30s``) and ``nonspeech`` for an empty
transcript. Characters a tag or an id cannot hold become ``_``.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ...core.case import Case, Embedded
from ...errors import SpeechlabError
from ..manifest import ID_PATTERN, NONSPEECH_TAG, Header, read_header, sha256_file, span

BUCKETS = ((5.0, "dur_lt5s"), (15.0, "dur_5_15s"), (30.0, "dur_15_30s"))
LONGEST = "dur_ge30s"
_INVALID = re.compile(r"[^A-Za-z0-9_.]+")


def case_id(raw: str) -> str:
    """``raw`` made a valid case id: runs of other characters become ``_``, and it starts with a
    letter or digit (``61-70968-0000`` becomes ``61_70968_0000``); empty when nothing is left."""
    return _INVALID.sub("_", raw).lstrip("_.")


def tag(prefix: str, value: str) -> str:
    return prefix + _INVALID.sub("_", value).replace(".", "_").strip("_")


def duration_tag(seconds: float) -> str:
    return next((name for limit, name in BUCKETS if seconds < limit), LONGEST)


def derived_tags(text: str, duration_s: float, language: str | None, speaker: str | None) -> tuple[str, ...]:
    tags = [duration_tag(duration_s)]
    if language:
        tags.append(tag("lang_", language))
    if speaker:
        tags.append(tag("spk_", speaker))
    if not text.strip():
        tags.append(NONSPEECH_TAG)
    return tuple(tags)


class Headers:
    """Audio headers read once per file: many Kaldi segments or lhotse cuts share a recording."""

    def __init__(self) -> None:
        self._seen: dict[Path, Header] = {}

    def __call__(self, where: str, audio: Path) -> Header:
        if audio not in self._seen:
            if not audio.is_file():
                raise SpeechlabError(f"{where}: audio file {audio} not found")
            self._seen[audio] = read_header(where, audio)
        return self._seen[audio]


def build_case(
    where: str,
    raw_id: str,
    audio: Path,
    text: Any,
    header: Header,
    *,
    language: Any = None,
    speaker: Any = None,
    offset: Any = None,
    duration: Any = None,
    sha256: str | None = None,
    embedded: Embedded | None = None,
    line: int = 0,
) -> Case:
    """A checked case from a format's fields: its id made valid, a span when ``offset`` or
    ``duration`` is given (else the whole file), and tags derived from its fields."""
    cid = case_id(raw_id)
    if not cid or not ID_PATTERN.match(cid):
        raise SpeechlabError(f"{where}: {raw_id!r} makes no valid case id")
    if not isinstance(text, str):
        raise SpeechlabError(f"{where}: the text must be a string, got {text!r}")
    if sha256 is not None and embedded is None and sha256_file(audio) != str(sha256).lower():
        raise SpeechlabError(f"{where}: {audio} does not match its sha256")
    offset_s, duration_s = span(where, header, offset, duration)
    lang = str(language) if language not in (None, "") else None
    spk = str(speaker) if speaker not in (None, "") else None
    return Case(
        id=cid,
        audio=audio,
        text=text,
        language=lang,
        tags=derived_tags(text, duration_s, lang, spk),
        sha256=str(sha256).lower() if sha256 else None,
        sample_rate=header.sample_rate,
        channels=header.channels,
        duration_s=duration_s,
        line=line,
        speaker=spk,
        offset_s=offset_s,
        embedded=embedded,
    )


MAX_LINE = 2**20  # characters in one manifest line: a case is a few hundred


def open_text(path: Path) -> IO[str]:
    """A manifest's text, through gzip where its name ends in ``.gz``."""
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


@contextmanager
def reading(path: Path) -> Iterator[IO[str]]:
    """``path``'s text open to read; a corrupt gzip or bad UTF-8 met while reading it is one line
    naming the file, not a traceback."""
    try:
        with open_text(path) as f:
            yield f
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise SpeechlabError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None


def numbered_lines(path: Path, limit: int = MAX_LINE) -> Iterator[tuple[int, str]]:
    """``(number, line)`` of a manifest, each read to at most ``limit`` characters (its line break
    aside): a file with no line breaks is refused at the limit, not read whole."""
    with reading(path) as f:
        number = 0
        while line := f.readline(limit + 1):
            number += 1
            if len(line) > limit and not line.endswith("\n"):
                raise SpeechlabError(f"{path}:{number}: a line over {limit} characters")
            yield number, line


def unique(source: str, cases: list[tuple[str, Case]]) -> tuple[Case, ...]:
    """The cases of ``source``, each id once: ``(where, case)`` pairs, so that a clash names
    both places."""
    if not cases:
        raise SpeechlabError(f"{source}: no cases")
    first: dict[str, str] = {}
    for where, case in cases:
        if case.id in first:
            raise SpeechlabError(f"{where}: duplicate case id {case.id!r} (first at {first[case.id]})")
        first[case.id] = where
    return tuple(case for _, case in cases)
