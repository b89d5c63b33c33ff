"""NeMo manifests: JSON lines with ``audio_filepath``, ``text`` and ``duration``.

Optional ``offset`` makes the line a span of the file (``duration`` seconds from ``offset``);
without it the line is the whole file and its length comes from the header. Optional
``lang`` (or ``language``), ``speaker`` and ``sha256`` carry over. Relative paths are taken
from the manifest's folder, as NeMo does; every path must lie inside it (or the audio root).
The case id is the file name without its extension (made a valid id), followed by ``_`` and the
offset in milliseconds (seven digits) for a span: ``jfk.wav`` at offset 4.65 is ``jfk_0004650``.
A ``.jsonl.gz`` manifest is read through gzip.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...core.case import Case
from ...errors import SpeechlabError
from ..manifest import Manifest, Reach, within
from .common import Headers, build_case, case_id, numbered_lines, unique

REQUIRED = ("audio_filepath", "text", "duration")


def load(path: Path, options: dict[str, str], limit: Reach) -> Manifest:
    root = path.parent.resolve()
    headers = Headers()
    cases: list[tuple[str, Case]] = []
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpeechlabError(f"{where}: NeMo manifest line is not JSON ({exc.msg})") from None
        if not isinstance(entry, dict):
            raise SpeechlabError(f"{where}: NeMo manifest line must be a JSON object")
        for key in REQUIRED:
            if entry.get(key) is None:
                raise SpeechlabError(f"{where}: NeMo manifest line has no {key!r}")
        offset = entry.get("offset")
        raw_id = Path(str(entry["audio_filepath"])).stem
        if offset is not None:
            if isinstance(offset, bool) or not isinstance(offset, (int, float)):
                raise SpeechlabError(f"{where}: NeMo 'offset' must be a number of seconds, got {offset!r}")
            raw_id += f"_{round(offset * 1000):07d}"
        audio = within(
            f"{where}: case {case_id(raw_id)!r}", "audio", str(entry["audio_filepath"]), root, limit
        )
        case = build_case(
            where,
            raw_id,
            audio,
            entry["text"],
            headers(where, audio),
            language=entry.get("lang", entry.get("language")),
            speaker=entry.get("speaker"),
            offset=offset,
            duration=entry["duration"] if offset is not None else None,
            sha256=entry.get("sha256"),
            line=number,
        )
        cases.append((where, case))
    return Manifest(path=path, cases=unique(str(path), cases))
