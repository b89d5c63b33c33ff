"""A case: one utterance of a manifest, as plain data that every layer reads (where its audio
is, its reference text, what its header says). Reading manifests is ``io.manifest``'s."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Embedded:
    """Audio stored as encoded bytes in a table file (a Hugging Face arrow or parquet file):
    ``Case.audio`` names the file, this the column and row. The bytes are read when the case
    is measured, so a corpus of thousands of rows is never held in memory."""

    column: str
    row: int


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
    duration_s: float = 0.0  # of the span when there is one, else of the file
    line: int = 0  # 1-based line of the case in the manifest, for messages
    speaker: str | None = None
    offset_s: float | None = None  # None: the whole file; else the case is duration_s from here
    embedded: Embedded | None = None  # the audio is bytes in a table file, not a file of its own
    alignment: Path | None = None  # a TextGrid of the words' times in the audio file (word timestamps)

    @property
    def source(self) -> tuple[str, float | None, float | None, Embedded | None]:
        """What the case's samples are: file, span and table row (the decoded-audio cache's key)."""
        span = self.duration_s if self.offset_s is not None else None
        return (str(self.audio), self.offset_s, span, self.embedded)
