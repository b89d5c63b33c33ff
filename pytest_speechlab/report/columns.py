"""What every view shows and how it writes a figure: the digits per kind of figure and the run
overview's columns, so that the terminal, the Markdown summary, the HTML report and ``compare``
print the same figure alike and put the same columns side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

RATE = 4  # WER, CER, judge WER: as baselines store them
MS = 1  # latencies in milliseconds
RTF = 3  # real-time factor
RTFX = 1  # times faster than real time
DB = 1  # levels in dBFS
SECONDS = 2  # durations, load time, speaking rate
MOS = 2  # DNSMOS scores
SIMILARITY = 3  # speaker similarity
PER_SECOND = 2  # words per second of non-speech, speaking rate


def number(value: Any, digits: int = RATE, sign: str = "") -> str:
    """A figure with ``digits`` decimals (``sign="+"`` for a change); ``-`` where there is none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:{sign}.{digits}f}"


def figure(value: float, sign: str = "") -> str:
    """A figure of unknown kind: a rate's four decimals below 10, a millisecond's one above."""
    return number(value, RATE if abs(value) < 10 else MS, sign)


def latency(median_ms: Any, min_ms: Any = None, max_ms: Any = None, runs: Any = 1) -> str:
    """A case's latency: the median and, when timed repeatedly, its range and the run count."""
    if isinstance(runs, int) and runs > 1:
        return f"{number(median_ms, MS)} [{number(min_ms, MS)}-{number(max_ms, MS)}] x{runs}"
    return f"{number(median_ms, MS)} (1 run)" if median_ms is not None else "-"


def pair(now: Any, then: Any, digits: int = RATE) -> str:
    """A figure now beside the baseline's: ``now / then``."""
    return f"{number(now, digits)} / {number(then, digits)}"


@dataclass(frozen=True)
class Column:
    """One column of a table: its header, the key of the figure it shows and its digits."""

    header: str
    key: str
    digits: int


# One row per model and device: the terminal's side-by-side table, the Markdown summary's and the
# HTML report's overview, each from a record with these keys (``overview`` of the run).
OVERVIEW = (
    Column("WER", "wer", RATE),
    Column("CER", "cer", RATE),
    Column("non-speech words/s", "hallucination_rate", PER_SECOND),
    Column("RTF", "rtf", RTF),
    Column("RTFx", "rtfx", RTFX),
    Column("TTS RTF", "tts_rtf", RTF),
    Column("load s", "load_s", SECONDS),
    Column("load MB", "load_mb", 0),
)


class CorpusFigures(Protocol):
    """The corpus figures the overview shows: a run's measured corpus, or its saved record."""

    @property
    def wer(self) -> float: ...
    @property
    def cer(self) -> float: ...
    @property
    def rtf(self) -> float: ...
    @property
    def hallucination_rate(self) -> float | None: ...


def overview(
    corpus: CorpusFigures | None, tts_rtfs: list[float], load_s: Any, load_mb: Any
) -> dict[str, Any]:
    """A run's overview record from its corpus figures, its syntheses' RTFs and its load."""
    rtf = corpus.rtf if corpus else None
    return {
        "wer": corpus.wer if corpus else None,
        "cer": corpus.cer if corpus else None,
        "hallucination_rate": corpus.hallucination_rate if corpus else None,
        "rtf": rtf,
        "rtfx": 1 / rtf if isinstance(rtf, int | float) and rtf > 0 else None,
        "tts_rtf": sum(tts_rtfs) / len(tts_rtfs) if tts_rtfs else None,
        "load_s": load_s,
        "load_mb": load_mb,
    }


def cells(record: dict[str, Any], columns: tuple[Column, ...] = OVERVIEW) -> list[str]:
    """The record's figures, one per column, each with its column's digits."""
    return [number(record.get(c.key), c.digits) for c in columns]
