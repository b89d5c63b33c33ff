"""The report's small pieces of markup: escaping, table rows and cells, headings, a word
alignment with its errors marked, a case's latency and a change beside its baseline."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from ...gate.checks import FAILING, INCONCLUSIVE
from ...gate.records import CaseRecord, RunRecord
from ...gate.verdicts import PRECEDENCE
from ..columns import latency, number

_FAIL_ROW = ' class="fail"'
NOT_PASSING = FAILING | {INCONCLUSIVE}
PAGE_ROWS = 100  # rows per page of the long tables
RANK = {verdict: i for i, verdict in enumerate(PRECEDENCE)}


def _e(value: Any) -> str:
    return html.escape(str(value))


def _active(runs: list[RunRecord]) -> list[RunRecord]:
    return [r for r in runs if not r.skipped]


def _label(run: RunRecord) -> str:
    return f"{run.model} ({run.device})"


def _plain(text: str) -> str:
    """Text for matplotlib: a ``$`` in a case id must not start mathtext."""
    return text.replace("$", r"\$")


def _table(
    head: Iterable[str], rows: Iterable[str], left: int = 1, sortable: bool = False, last_left: bool = False
) -> list[str]:
    """A table whose first ``left`` columns (names) are left-aligned, the rest (figures) right but
    the last with ``last_left`` (text); ``sortable`` by any column, and paged when it has more
    than ``PAGE_ROWS`` rows."""
    head = list(head)
    aligned = [i < left or (last_left and i == len(head) - 1) for i in range(len(head))]
    cells = "".join(
        f'<th class="l">{h}</th>' if a else f"<th>{h}</th>" for h, a in zip(head, aligned, strict=True)
    )
    rows = list(rows)
    attrs = ' class="sortable"' if sortable else ""
    attrs += f' data-page="{PAGE_ROWS}"' if sortable and len(rows) > PAGE_ROWS else ""
    return [f"<table{attrs}>", f"<tr>{cells}</tr>", *rows, "</table>"]


def _cells(values: Iterable[str], left: int = 1, last_left: bool = False) -> str:
    """Table cells: the first ``left`` left-aligned (names), and the last with ``last_left`` (text)."""
    values = list(values)
    aligned = [i < left or (last_left and i == len(values) - 1) for i in range(len(values))]
    return "".join(
        f'<td class="l">{v}</td>' if a else f"<td>{v}</td>" for v, a in zip(values, aligned, strict=True)
    )


def _delta(value: Any, base: Any) -> str:
    if not isinstance(value, int | float) or not isinstance(base, int | float):
        return "-"
    change = value - base  # baselines are rounded to 4 places: smaller changes are no change
    change = change if abs(change) > 5e-5 else 0.0
    css = "worse" if change > 0 else "better" if change < 0 else ""
    return f'<span class="{css}">{number(change, sign="+")}</span>' if css else number(change, sign="+")


def _latency(case: CaseRecord) -> str:
    t = case.latency_ms
    return latency(t.get("median"), t.get("min"), t.get("max"), t.get("runs") or len(t.get("all") or []))


def alignment(pairs: Iterable[Any]) -> str:
    """A word alignment with its errors marked: under each reference word the model got wrong,
    what it wrote; a deleted word is struck through, an inserted one marked +."""
    out = []
    for ref, hyp in pairs:
        if ref and ref == hyp:
            out.append(_e(ref))
        elif ref and hyp:
            out.append(f'<b class="s">{_e(ref)}<em>{_e(hyp)}</em></b>')
        elif ref:
            out.append(f'<b class="d"><s>{_e(ref)}</s><em>&mdash;</em></b>')
        else:
            out.append(f'<b class="n">+<em>{_e(hyp)}</em></b>')
    return " ".join(out) or "(empty)"


LEGEND = (
    '<p class="note">Alignments: the reference, with what the model wrote under each word it got '
    'wrong: <span class="al"><b class="s">substituted<em>heard</em></b> '
    '<b class="d"><s>deleted</s><em>&mdash;</em></b> <b class="n">+<em>inserted</em></b></span></p>'
)


def _words(items: Iterable[Any]) -> str:
    """``word xN`` of [word, count] pairs, or [reference, heard, count] triples as ``ref → heard``."""
    out = []
    for item in items:
        *words, n = item
        text = " &rarr; ".join(_e(w) for w in words)
        out.append(text + (f" &times;{n}" if n > 1 else ""))
    return ", ".join(out) or "none"


def _side(title: str, table: list[str]) -> list[str]:
    """A titled table set beside the next one."""
    return ['<div class="side">', f"<p>{title}</p>", *table, "</div>"]


def _share(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else "-"


def _h2(heading: str) -> str:
    """A section heading with an anchor (``report.html#cases``)."""
    return f'<h2 id="{heading.lower().replace(" ", "-")}">{heading}</h2>'
