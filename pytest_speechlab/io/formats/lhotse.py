"""lhotse manifests, read by lhotse itself (the ``lhotse`` extra): cuts, or supervisions with
their recordings.

Spec: ``lhotse:CUTS`` or ``lhotse:SUPERVISIONS?recordings=RECORDINGS`` (either file may be
given first; without the option the other one is found beside it, its name with
``supervisions`` and ``recordings`` swapped, as lhotse's recipes name them). Each supervision,
or each cut, is a case: its id (made a valid id) is the case id, its start and duration the
span of the recording's audio file, and its text, speaker and language carry over; a cut with
several supervisions joins their texts in time order. A recording must be one plain audio file
(lhotse's ``file`` source, no transforms); several channels are averaged, as for every case.
Relative source paths are taken from the current folder, as lhotse does, else from the
manifest's folder; every one must lie inside the manifest's folder (or the audio root). A
``.jsonl`` file (gzipped or not) is first read line by line to a bound, since lhotse reads a line
whole however long it is.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

from ...core.case import Case
from ...errors import SpeechlabError
from ..manifest import Manifest, Reach, within
from .common import Headers, build_case, numbered_lines, unique


def _lhotse() -> Any:
    try:
        import lhotse
    except ImportError:
        raise SpeechlabError(
            "lhotse: reading lhotse manifests needs lhotse: pip install 'pytest-speechlab[lhotse]'"
        ) from None
    return lhotse


def _read(lhotse: Any, path: Path) -> Any:
    if path.name.endswith((".jsonl", ".jsonl.gz")):  # lhotse reads a line whole, however long
        collections.deque(numbered_lines(path), maxlen=0)
    try:
        return lhotse.load_manifest(path)
    except Exception as exc:  # lhotse raises whatever its parsing hits; one line is what we owe
        raise SpeechlabError(f"{path}: lhotse cannot read it ({type(exc).__name__}: {exc})") from None


def _partner(path: Path, options: dict[str, str], want: str, have: str) -> Path:
    if want in options:
        given = Path(options[want])
        return given if given.is_absolute() else (path.parent / given).resolve()
    partner = path.with_name(path.name.replace(have, want))
    if partner == path or not partner.is_file():
        raise SpeechlabError(f"{path}: lhotse {have} need their {want}: give them with ?{want}=PATH")
    return partner


def _audio(where: str, recording: Any, manifest: Path, limit: Reach) -> Path:
    sources = recording.sources
    if len(sources) != 1 or sources[0].type != "file":
        kinds = ", ".join(s.type for s in sources) or "none"
        raise SpeechlabError(
            f"{where}: lhotse recording {recording.id!r} must be one audio file (sources: {kinds})"
        )
    if recording.transforms:
        raise SpeechlabError(
            f"{where}: lhotse recording {recording.id!r} has transforms; only plain audio is read"
        )
    given = str(sources[0].source)
    return within(where, "audio", given, Path.cwd() if Path(given).is_file() else manifest.parent, limit)


def load(path: Path, options: dict[str, str], limit: Reach) -> Manifest:
    lhotse = _lhotse()
    manifest = _read(lhotse, path)
    if isinstance(manifest, lhotse.RecordingSet):
        recordings, supervisions = (
            manifest,
            _read(lhotse, _partner(path, options, "supervisions", "recordings")),
        )
    elif isinstance(manifest, lhotse.SupervisionSet):
        recordings, supervisions = (
            _read(lhotse, _partner(path, options, "recordings", "supervisions")),
            manifest,
        )
    elif isinstance(manifest, lhotse.CutSet):
        return Manifest(path=path, cases=_cuts(path, manifest, limit))
    else:
        raise SpeechlabError(f"{path}: a lhotse {type(manifest).__name__}; expected cuts or supervisions")
    if not isinstance(recordings, lhotse.RecordingSet) or not isinstance(supervisions, lhotse.SupervisionSet):
        raise SpeechlabError(f"{path}: expected a lhotse recordings manifest and a supervisions manifest")
    by_id = {r.id: r for r in recordings}  # a RecordingSet looks ids up one by one
    headers = Headers()
    cases: list[tuple[str, Case]] = []
    for number, sup in enumerate(supervisions, 1):
        where = f"{path}: supervision {sup.id!r}"
        if sup.recording_id not in by_id:
            raise SpeechlabError(f"{where}: lhotse recording {sup.recording_id!r} is not in the recordings")
        if sup.text is None:
            raise SpeechlabError(f"{where}: lhotse supervision has no text")
        audio = _audio(where, by_id[sup.recording_id], path, limit)
        case = build_case(
            where,
            sup.id,
            audio,
            sup.text,
            headers(where, audio),
            language=sup.language,
            speaker=sup.speaker,
            offset=sup.start,
            duration=sup.duration,
            line=number,
        )
        cases.append((where, case))
    return Manifest(path=path, cases=unique(str(path), cases))


def _cuts(path: Path, cuts: Any, limit: Reach) -> tuple[Case, ...]:
    headers = Headers()
    cases: list[tuple[str, Case]] = []
    for number, cut in enumerate(cuts, 1):
        where = f"{path}: cut {cut.id!r}"
        recording = getattr(cut, "recording", None)
        if recording is None:
            raise SpeechlabError(f"{where}: lhotse cut has no recording (a {type(cut).__name__})")
        sups = sorted(cut.supervisions, key=lambda s: s.start)
        if not sups or any(s.text is None for s in sups):
            raise SpeechlabError(f"{where}: lhotse cut has no supervision with text")
        audio = _audio(where, recording, path, limit)
        case = build_case(
            where,
            cut.id,
            audio,
            " ".join(s.text for s in sups),
            headers(where, audio),
            language=sups[0].language,
            speaker=sups[0].speaker,
            offset=cut.start,
            duration=cut.duration,
            line=number,
        )
        cases.append((where, case))
    return unique(str(path), cases)
