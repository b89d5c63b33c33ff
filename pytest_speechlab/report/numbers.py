"""How every view writes a figure: one spec of digits per kind of figure, so that the terminal,
the Markdown summary, the HTML report and ``compare`` print the same number alike."""

from __future__ import annotations

from typing import Any

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
