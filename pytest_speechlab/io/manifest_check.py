"""Gathering the facts ``core.suspicious`` judges a manifest's cases by.

Two depths: with ``samples`` every case's audio is decoded at its own rate, channels kept (an
average of channels would hide one that clips), a block at a time so that an hour-long file never
sits in memory whole; this is ``speechlab manifest check``. Without, only what the manifest
already read from the headers is used, and duplicates are found by the files' bytes; this runs
at every collection, so it decodes nothing and hashes only files that share a size with another.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile

from ..core.case import Case
from ..core.health import CLIP_LEVEL, dbfs
from ..core.suspicious import Finding, Heard, suspicious, word_count
from ..errors import SpeechlabError
from .manifest import NONSPEECH_TAG, sha256_file

BLOCK_FRAMES = 1 << 16


def check_cases(cases: Sequence[Case], samples: bool = True) -> list[Finding]:
    """The suspicious cases among ``cases``, decoding their audio when ``samples``."""
    if samples:
        return suspicious([_heard(c, *_sample_facts(c)) for c in cases])
    keys = _file_keys(cases)
    return suspicious([_heard(c, digest=_span_digest(c, keys)) for c in cases])


def _heard(
    case: Case, peak_dbfs: float | None = None, clipped: float | None = None, digest: str | None = None
) -> Heard:
    speech = bool(case.text.strip()) and NONSPEECH_TAG not in case.tags
    return Heard(
        case.id,
        word_count(case.text),
        case.duration_s,
        case.sample_rate,
        case.channels,
        speech,
        peak_dbfs,
        clipped,
        digest,
    )


def _sample_facts(case: Case) -> tuple[float, float, str]:
    """Peak (dBFS), share of clipped samples and a digest of the decoded samples (with their
    rate and channel count) of a case's file, span or table row."""
    name = case.audio if case.embedded is None else f"{case.audio} row {case.embedded.row}"
    if case.embedded is None:
        source: str | io.BytesIO = str(case.audio)
    else:
        from .formats.hf import embedded_bytes

        source = io.BytesIO(embedded_bytes(case.audio, case.embedded))
    digest = hashlib.sha256()
    peak, clipped, total = 0.0, 0, 0
    try:
        with soundfile.SoundFile(source) as f:
            digest.update(f"{f.samplerate} {f.channels}\n".encode())
            left = -1
            if case.offset_s is not None:
                f.seek(round(case.offset_s * f.samplerate))
                left = round(case.duration_s * f.samplerate)
            while left:
                want = BLOCK_FRAMES if left < 0 else min(BLOCK_FRAMES, left)
                block = f.read(want, dtype="float32", always_2d=True)
                if not len(block):
                    break
                left = left - len(block) if left > 0 else left
                digest.update(np.ascontiguousarray(block).tobytes())
                level = np.abs(block)
                peak = max(peak, float(level.max()))
                clipped += int(np.count_nonzero(level >= CLIP_LEVEL))
                total += level.size
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise SpeechlabError(f"case {case.id}: {name} cannot be decoded ({exc})") from None
    return dbfs(peak), clipped / total if total else 0.0, digest.hexdigest()


def _file_keys(cases: Sequence[Case]) -> dict[Path, str]:
    """What tells each file apart: its bytes' sha256 where another file has the same size (the
    manifest's pinned digest when it gives one), else its size and path: files of different
    sizes cannot hold the same bytes, so most are never read."""
    files = {c.audio: c.sha256 for c in cases if c.embedded is None}
    by_size: dict[int, list[Path]] = {}
    for path in files:
        by_size.setdefault(path.stat().st_size, []).append(path)
    keys = {}
    for size, paths in by_size.items():
        for path in paths:
            keys[path] = (files[path] or sha256_file(path)) if len(paths) > 1 else f"{size} {path}"
    return keys


def _span_digest(case: Case, keys: dict[Path, str]) -> str | None:
    """The file's key and the span of it: the same bytes and span are the same audio."""
    if case.embedded is not None:
        return None  # reading a table row is not header work
    span = "" if case.offset_s is None else f" {case.offset_s:.3f}+{case.duration_s:.3f}"
    return keys[case.audio] + span
