"""``speechlab compare A.json B.json``: two results files side by side, as pytest-benchmark's
``compare`` does for timings.

Per case: WER, CER and median latency in A and in B, whether the transcript changed, and the
case's outcome in each run's own verdict; for the corpus: WER and CER in both, with the paired
bootstrap interval of the difference over the cases both runs measured against the same
reference (the gate's own statistics, ``core/stats.py``).
"""

from __future__ import annotations

from typing import Any

from ..core.metrics import corpus_scores
from ..core.stats import bootstrap, paired
from ..errors import SpeechlabError
from ..gate.records import CaseRecord, RunRecord
from ..gate.verdicts import identity_differences
from .columns import MS, number
from .results_file import runs_of


def pair_runs(a: list[RunRecord], b: list[RunRecord]) -> list[tuple[RunRecord, RunRecord]]:
    """Runs of A and B with the same model and device; a single run on each side is one pair."""
    if len(a) == 1 and len(b) == 1:
        return [(a[0], b[0])]
    index = {(r.model, r.device): r for r in b}
    pairs = [(r, index[(r.model, r.device)]) for r in a if (r.model, r.device) in index]
    if not pairs:
        raise SpeechlabError("the two results files have no model and device in common")
    return pairs


HEADER = (
    *("case", "WER A", "WER B", "delta", "CER A", "CER B", "latency ms A", "latency ms B"),
    *("transcript", "verdict A / B"),
)


def _verdict(case: CaseRecord | None) -> str:
    """The case's outcome in its own run's verdict ("-": not in that run, or not judged)."""
    return (case.verdict or "-") if case else "-"


def compare_runs(a: RunRecord, b: RunRecord) -> tuple[list[tuple[str, ...]], list[str]]:
    """The case table (header first) and the corpus lines of one pair of runs."""
    cases_a = {c.id: c for c in a.cases}
    cases_b = {c.id: c for c in b.cases}
    rows: list[tuple[str, ...]] = [HEADER]
    common = [i for i in cases_a if i in cases_b]
    same_reference = [i for i in common if cases_a[i].reference == cases_b[i].reference]
    for case_id in [*cases_a, *(i for i in cases_b if i not in cases_a)]:
        ca, cb = cases_a.get(case_id), cases_b.get(case_id)
        wa, wb = (ca.wer if ca else None), (cb.wer if cb else None)
        delta = number(wb - wa, sign="+") if wa is not None and wb is not None else "-"
        if ca is None or cb is None:
            change = "only in A" if cb is None else "only in B"
        elif case_id not in same_reference:
            change = "other reference"
        else:
            change = "changed" if ca.hypothesis != cb.hypothesis else "same"
        cer = (number(ca.cer if ca else None), number(cb.cer if cb else None))
        latency = (number(ca.median_ms if ca else None, MS), number(cb.median_ms if cb else None, MS))
        verdicts = f"{_verdict(ca)} / {_verdict(cb)}"
        rows.append((case_id, number(wa), number(wb), delta, *cer, *latency, change, verdicts))
    speech = [i for i in same_reference if cases_a[i].reference]
    refs = [cases_a[i].reference for i in speech]
    hyps_a = [cases_a[i].hypothesis for i in speech]
    hyps_b = [cases_b[i].hypothesis for i in speech]
    lines = [f"corpus over the {len(speech)} speech cases both measured against the same reference:"]
    if speech:
        wer_a, cer_a = corpus_scores(refs, hyps_a)
        wer_b, cer_b = corpus_scores(refs, hyps_b)
        for metric, unit, before, after in (("WER", "word", wer_a, wer_b), ("CER", "char", cer_a, cer_b)):
            interval = bootstrap(paired(refs, hyps_a, hyps_b, unit), metric=metric)
            verdict = "significant" if interval.significant else "not significant"
            lines.append(
                f"  {metric} A {number(before)}, B {number(after)}: {interval.describe()}: {verdict}"
            )
    return rows, lines


def table(rows: list[tuple[str, ...]], markdown: bool = False) -> list[str]:
    if markdown:
        head, *body = rows
        out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        return out + ["| " + " | ".join(row) + " |" for row in body]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def differences(a: RunRecord, b: RunRecord) -> list[str]:
    """What differs between the models and the scoring of two runs: they are tabled side by side
    all the same, and this is said first, since a change of figures may be a change of these."""
    lines = identity_differences(a.identity, b.identity, ("A", "B"))
    for key in ("normalizer", "scorer"):
        ours, theirs = getattr(a, key), getattr(b, key)
        if ours != theirs:
            lines.append(f"{key}: {ours!r} in A, {theirs!r} in B")
    return lines


def compare(a: Any, b: Any, names: tuple[str, str], markdown: bool = False) -> list[str]:
    """The comparison of two results documents, as lines."""
    lines = [f"A: {names[0]}", f"B: {names[1]}"]
    for run_a, run_b in pair_runs(runs_of(a, names[0]), runs_of(b, names[1])):
        title = run_a.label
        if run_b.label != run_a.label:
            title += f" (A) against {run_b.label} (B)"
        rows, corpus = compare_runs(run_a, run_b)
        lines += ["", f"{'### ' if markdown else ''}{title}", ""]
        differ = differences(run_a, run_b)
        if differ:
            bullet = "- " if markdown else "  "
            lines += ["A and B differ in what produced them:", *(f"{bullet}{d}" for d in differ), ""]
        lines += [*table(rows, markdown), "", *corpus]
    return lines
