"""Reading a reference alignment: the words of a Praat TextGrid with their times."""

from __future__ import annotations

from pathlib import Path

from ..core.timestamps import SILENCE_LABELS, Word


def read_textgrid(path: Path | str, tier: str | None = None) -> list[Word]:
    """The labelled intervals of a TextGrid's word tier (``tier``, else the first named "word"
    or "words"), silences left out. Needs praatio."""
    from praatio import textgrid

    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    name = tier or next((n for n in grid.tierNames if n.lower() in ("word", "words")), None)
    if name is None:
        raise ValueError(f"{path}: no word tier among {', '.join(grid.tierNames)}")
    entries = grid.getTier(name).entries
    return [
        (e.label.strip(), e.start, e.end) for e in entries if e.label.strip().lower() not in SILENCE_LABELS
    ]
