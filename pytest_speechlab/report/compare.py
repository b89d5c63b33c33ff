"""``speechlab compare A.json B.json``: two results files side by side, as pytest-benchmark's
``compare`` does for timings.

Per case: WER, CER and median latency in A and in B, and whether the transcript changed; for the
corpus: WER and CER in both, with the paired bootstrap interval of the difference over the cases
both runs measured against the same reference (the gate's own statistics, ``core/stats.py``).
"""

from __future__ import annotations

from typing import Any

from ..core.metrics import corpus_scores
from ..core.stats import bootstrap, paired
from ..errors import SpeechlabError
from ..gate.verdicts import identity_differences
from .columns import MS, number
from .results_file import runs_of


def pair_runs(
    a: list[dict[str, Any]], b: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Runs of A and B with the same model and device; a single run on each side is one pair."""
    if len(a) == 1 and len(b) == 1:
        return [(a[0], b[0])]
    index = {(r["model"], r["device"]): r for r in b}
    pairs = [(r, index[(r["model"], r["device"])]) for r in a if (r["model"], r["device"]) in index]
    if not pairs:
        raise SpeechlabError("the two results files have no model and device in common")
    return pairs


def _median_ms(case: dict[str, Any] | None) -> Any:
    return ((case or {}).get("latency_ms") or {}).get("median")


def compare_runs(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[tuple[str, ...]], list[str]]:
    """The case table (header first) and the corpus lines of one pair of runs."""
    cases_a = {c["id"]: c for c in a["cases"]}
    cases_b = {c["id"]: c for c in b["cases"]}
    rows: list[tuple[str, ...]] = [
        ("case", "WER A", "WER B", "delta", "CER A", "CER B", "latency ms A", "latency ms B", "transcript")
    ]
    common = [i for i in cases_a if i in cases_b]
    same_reference = [i for i in common if cases_a[i].get("reference") == cases_b[i].get("reference")]
    for case_id in [*cases_a, *(i for i in cases_b if i not in cases_a)]:
        ca, cb = cases_a.get(case_id), cases_b.get(case_id)
        wa, wb = (ca or {}).get("wer"), (cb or {}).get("wer")
        delta = (
            number(wb - wa, sign="+") if isinstance(wa, int | float) and isinstance(wb, int | float) else "-"
        )
        if ca is None or cb is None:
            change = "only in A" if cb is None else "only in B"
        elif case_id not in same_reference:
            change = "other reference"
        else:
            change = "changed" if ca.get("hypothesis") != cb.get("hypothesis") else "same"
        cer = (number((ca or {}).get("cer")), number((cb or {}).get("cer")))
        latency = (number(_median_ms(ca), MS), number(_median_ms(cb), MS))
        rows.append((case_id, number(wa), number(wb), delta, *cer, *latency, change))
    speech = [i for i in same_reference if cases_a[i].get("reference")]
    refs = [cases_a[i]["reference"] for i in speech]
    hyps_a = [cases_a[i]["hypothesis"] for i in speech]
    hyps_b = [cases_b[i]["hypothesis"] for i in speech]
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


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs between the models and the scoring of two runs: they are tabled side by side
    all the same, and this is said first, since a change of figures may be a change of these."""
    lines = identity_differences(a.get("identity"), b.get("identity"), ("A", "B"))
    for key in ("normalizer", "scorer"):
        if a.get(key) != b.get(key):
            lines.append(f"{key}: {a.get(key)!r} in A, {b.get(key)!r} in B")
    return lines


def compare(a: Any, b: Any, names: tuple[str, str], markdown: bool = False) -> list[str]:
    """The comparison of two results documents, as lines."""
    lines = [f"A: {names[0]}", f"B: {names[1]}"]
    for run_a, run_b in pair_runs(runs_of(a, names[0]), runs_of(b, names[1])):
        title = f"{run_a['model']} on {run_a['device']}"
        if (run_b["model"], run_b["device"]) != (run_a["model"], run_a["device"]):
            title += f" (A) against {run_b['model']} on {run_b['device']} (B)"
        rows, corpus = compare_runs(run_a, run_b)
        lines += ["", f"{'### ' if markdown else ''}{title}", ""]
        differ = differences(run_a, run_b)
        if differ:
            bullet = "- " if markdown else "  "
            lines += ["A and B differ in what produced them:", *(f"{bullet}{d}" for d in differ), ""]
        lines += [*table(rows, markdown), "", *corpus]
    return lines
