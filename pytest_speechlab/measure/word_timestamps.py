"""Word timestamps of a run: for each case with a reference alignment, one untimed pass with
word timings, its words' offsets from the alignment, and the offsets pooled over the run.

The pass is apart from the gated transcription (``transcribe`` stays text-only and timed alone),
so asking for word timings can move neither the hypothesis nor a latency. An engine without
word timings, or a run without praatio, measures none: said once per run, never a failure.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.util import find_spec

import numpy as np

from ..core.case import Case
from ..core.timestamps import Offset, TimestampError, offsets, summarize
from ..engines.base import TimedEngine
from ..io.textgrid import read_textgrid
from .results import CaseResult

NOT_MEASURED = "word timestamps not measured"


def why_not_measured(name: str, engine_cls: type) -> str | None:
    """Why a run of ``name`` cannot measure word timestamps, or None where it can."""
    if not issubclass(engine_cls, TimedEngine):
        return f"{NOT_MEASURED}: {name} gives no word timings"
    if find_spec("praatio") is None:
        return f"{NOT_MEASURED}: the alignments need praatio (pytest-speechlab[timestamps])"
    return None


def word_offsets(engine: TimedEngine, audio: np.ndarray, case: Case) -> tuple[list[Offset], int]:
    """The offsets of the words of ``case`` matched with its alignment, and its number of
    reference words. The alignment is of the whole file, so a span's word times are moved by
    its offset."""
    assert case.alignment is not None
    shift = case.offset_s or 0.0
    segments = engine.transcribe_segments(audio, case.language, word_timestamps=True)
    heard = [(w.text, w.start + shift, w.end + shift) for s in segments for w in s.words]
    return offsets(read_textgrid(case.alignment), heard)


def pooled(results: Iterable[CaseResult]) -> tuple[TimestampError, int] | None:
    """The word-timestamp error over every matched word of the aligned cases (means and p95
    over words, not over cases), and how many cases; None where no case was aligned."""
    aligned = [r for r in results if r.timestamps is not None]
    if not aligned:
        return None
    words = sum(int(r.timestamps["reference_words"]) for r in aligned if r.timestamps)
    return summarize([o for r in aligned for o in r.word_offsets], words), len(aligned)
