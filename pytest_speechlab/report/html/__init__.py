"""The HTML report (``--speech-report``): one self-contained page a reviewer opens to see what changed.

The page is built from the run's records (``gate.records``), so it can be rendered again from a
saved results file. It embeds everything (CSS inline, plots as base64 PNG), so it can be attached
to a CI job or mailed and still open offline. Keys added to the results later (repeated latency
runs, baselines per case, robustness, the TTS judge, the error analysis, slices, hallucination and
voice figures) are optional: a section without data is left out rather than shown empty.

At thousands of cases it stays usable: the WER plot shows the worst ``PLOT_CASES`` cases (and
says so), and the tables of cases and slices sort by any column and page through ``PAGE_ROWS``
rows at a time (a few lines of inline script; without it every row shows). Each case has its
word alignment with the errors marked, and beside it the baseline's where the transcript changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...gate.records import RunRecord
from ...store.atomic import write_atomic
from .assets import CSS, SCRIPT
from .markup import LEGEND, PAGE_ROWS, _active, _e, _h2
from .plots import PLOT_CASES, _plots, worst_cases
from .sections import (
    _banner,
    _case_table,
    _corpus_checks,
    _error_analysis,
    _hallucination,
    _header,
    _overview,
    _robustness_table,
    _slices,
    _timestamps,
    _tts_table,
    _voice_table,
    _what_changed,
    failures,
)

__all__ = ["PAGE_ROWS", "PLOT_CASES", "failures", "render", "worst_cases", "write_report"]


def _sections(runs: list[RunRecord], sections: list[tuple[str, Any]]) -> list[str]:
    """Each section with a heading, where any run has something to show in it."""
    out: list[str] = []
    for heading, part in sections:
        shown = [line for run in _active(runs) for line in part(run)]
        out += [_h2(heading), *shown] if shown else []
    return out


def render(runs: list[RunRecord], title: str = "speechlab report") -> str:
    """The whole page for the runs' records."""
    body = [*_header(runs, title), *_banner(runs, failures(runs)), "<h2>Overview</h2>", *_overview(runs)]
    sections = [
        ("The corpus against the baseline", _corpus_checks),
        ("What changed against the baseline", _what_changed),
    ]
    body += _sections(runs, sections)
    images = _plots(runs)
    if images:
        body += [_h2("Plots"), *images]
    body += _sections(
        runs,
        [
            ("Error analysis", _error_analysis),
            ("Slices", _slices),
            ("Hallucination", _hallucination),
            ("Word timestamps", _timestamps),
        ],
    )
    measured = [r for r in _active(runs) if r.cases or r.errors]
    if measured:
        body += [_h2("Cases"), LEGEND]
        for run in measured:
            body += _case_table(run)
    body += _robustness_table(runs) + _tts_table(runs) + _voice_table(runs)
    if any(' class="sortable"' in line for line in body):
        body.append(f"<script>{SCRIPT}</script>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def write_report(path: Path, runs: list[RunRecord]) -> None:
    """Write the page atomically, so a CI artifact is never a half-written file."""
    write_atomic(Path(path), render(runs))
