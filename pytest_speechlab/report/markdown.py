"""The Markdown summary (``--speech-summary``): what a reviewer reads in the CI job.

Per model and device: the verdict, the registry status, what changed against the baseline
(first, when a case or a run-wide part fails), a table of metric, baseline, measured, delta and
verdict, the error analysis in a few lines, the slices that regressed (every slice folded away
below them), what the model wrote over non-speech, the voice figures of text to speech, then
every case that is not a pass, with why. It is plain GitHub-flavoured Markdown, so any CI that
shows Markdown can use it (GitHub Actions: append it to ``$GITHUB_STEP_SUMMARY``).
"""

from __future__ import annotations

from typing import Any

from ..core.analysis import describe_errors
from ..core.metrics import normalizer_id
from ..core.slices import MIN_CASES
from ..gate.checks import Check
from ..gate.slice_checks import CORRECTION, SliceReport
from ..gate.verdicts import RunVerdict
from ..measure.run import ModelRun
from ..store.registry import Registry
from .columns import figure
from .terminal import TOP, comparison_rows, pooled_timestamps, stored_voice_figures, voice_spreads


def _mark(outcome: str) -> str:
    return outcome if outcome == "pass" else f"**{outcome}**"


def _row(check: Check) -> str:
    limit = check.floor if check.limit == float("inf") else check.limit
    figures = [check.baseline, check.measured, limit]
    if check.tolerance.startswith("none"):  # a count: none new allowed
        base, measured, bound = (str(round(v)) for v in figures)
        delta = f"{round(check.measured - check.baseline):+d}"
    else:
        base, measured, bound = (figure(v) for v in figures)
        delta = figure(check.measured - check.baseline, "+")
    note = f": {check.outcome_note}" if check.outcome_note else ""
    return (
        f"| {check.metric} | {base} | {measured} | {delta} "
        f"| {_mark(check.outcome)}{note} (limit {bound}, {check.tolerance}) |"
    )


def _what_changed(verdict: RunVerdict) -> list[str]:
    """The run's "what changed", first when something fails."""
    changed = verdict.what_changed()
    if not changed or not verdict.fails:
        return []
    return ["**What changed against the baseline**", "", "```text", *changed, "```", ""]


def _analysis(verdict: RunVerdict) -> list[str]:
    """The corpus's errors in a few lines: totals, sentence errors, the top confusions."""
    if verdict.analysis is None or not verdict.analysis.errors.cases:
        return []
    head, *rest = describe_errors(verdict.analysis.errors, top=TOP).splitlines()
    return ["", f"Errors: {head}.", "", *(f"- {line.strip()}" for line in rest)]


def _cell(row: dict[str, Any], key: str, sign: str = "") -> str:
    return figure(row[key], sign) if isinstance(row.get(key), int | float) else ""


def _slice_table(report: SliceReport) -> list[str]:
    head = "| slice | cases | words | WER | baseline | delta | CER | p | corrected p | verdict |"
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in report.rows():
        if row["verdict"] is None:
            verdict, tested = "not compared", False
        else:
            tested = bool(row["tested"])
            verdict = _mark(row["verdict"]) + ("" if tested else f" (fewer than {MIN_CASES} cases: untested)")
        p_values = f"{_cell(row, 'p_value')} | {_cell(row, 'p_adjusted')}" if tested else " | "
        lines.append(
            f"| `{row['name']}` | {row['cases']} | {row['words']} | {figure(row['wer'])} "
            f"| {_cell(row, 'wer_before')} | {_cell(row, 'delta', '+')} | {figure(row['cer'])} "
            f"| {p_values} | {verdict} |"
        )
    return lines


def _slices(verdict: RunVerdict) -> list[str]:
    """The slices that regressed, each in a line; every slice in a folded table."""
    report = verdict.slice_report
    if report is None or not report.figures:
        return []
    tested = sum(c.tested for c in report.changes)
    regressed = [c for c in report.changes if c.regressed]
    how = f"paired bootstrap per slice, {CORRECTION.capitalize()}-corrected over {tested} tested slices"
    if not report.changes:
        lines = [f"Slices: not compared ({verdict.slices.not_gated if verdict.slices else 'no baseline'})."]
    elif regressed:
        lines = [f"Slices: **{len(regressed)} regressed** ({how}):", ""]
        lines += [f"- {c.describe()}" for c in regressed]
    else:
        lines = [f"Slices: none regressed ({how})."]
    return ["", *lines, "", f"<details><summary>All {len(report.figures)} slices</summary>", "",
            *_slice_table(report), "", "</details>"]  # fmt: skip


def _hallucination(verdict: RunVerdict) -> list[str]:
    found = verdict.hallucination_report
    if found is None:
        return []
    lines = ["", f"Hallucination: {found.describe()}."]
    part = verdict.hallucination
    return lines + ([""] + [f"- **{line}**" for line in part.why] if part and part.why else [])


def _voice(run: ModelRun, verdict: RunVerdict) -> list[str]:
    """The voice figures over the corpus beside the baseline's, and per utterance, folded."""
    measured = {i: r.quality for i, r in run.syntheses.items() if r.quality is not None}
    if not measured:
        return []
    lines = ["", "Voice (text to speech), now / baseline:", ""]
    lines += [f"- {line}" for line in voice_spreads(verdict.voice_figures or {}, stored_voice_figures(run))]
    part = verdict.voice
    lines += [f"- **{line}**" for line in part.why] if part else []
    notes = [n for p in [*verdict.tts.values(), *([part] if part else [])] for n in p.notes]
    lines += [f"- {note}" for note in dict.fromkeys(notes)]
    head = "| utterance | DNSMOS SIG | BAK | OVRL | P.808 | similarity | longest silence s | words/s "
    head += "| pitch jumps |"
    rows = [head, "| --- |" + " ---: |" * 8]
    for case_id, q in measured.items():
        d: dict[str, Any] = q.get("dnsmos") or {}
        cells = [*(d.get(k) for k in ("sig", "bak", "ovrl", "p808")), q.get("similarity")]
        cells += [q.get("longest_silence_s"), q.get("words_per_s"), (q.get("pitch") or {}).get("jumps")]
        shown = ["-" if v is None else str(v) for v in cells]
        rows.append(f"| `{case_id}` | " + " | ".join(shown) + " |")
    return [*lines, "", "<details><summary>Per utterance</summary>", "", *rows, "", "</details>"]


def _timestamps(run: ModelRun) -> list[str]:
    """The pooled word-timestamp error, or why it was not measured: one row."""
    text = pooled_timestamps(run)
    if text is None:
        return []
    return [f"| word timestamps | | {text} | | {'' if run.timestamps_note else 'reported'} |"]


def run_markdown(run: ModelRun, verdict: RunVerdict | None, registry: Registry | None) -> list[str]:
    title = f"### speechlab: `{run.name}` on {run.device}"
    if run.skip_reason or verdict is None:
        return [f"{title}: skipped", "", f"{run.skip_reason}", ""]
    lines = [f"{title}: {verdict.overall}", ""]
    entry = registry.models.get(run.name) if registry else None
    facts = [f"registry status **{entry.status}**" if entry else "not in the registry"]
    if run.identity:
        i = run.identity
        facts.append(f"model `{i.model_id}` ({i.source}, `{i.revision[:19]}`), {i.compute_type}, {i.engine}")
    facts.append(f"normaliser `{normalizer_id()}`")
    lines += ["; ".join(facts), ""]
    if run.against.refused:
        lines += [f"Not compared: {run.against.refused}.", ""]
    if verdict.identity:
        lines += ["The model differs from the one the baseline recorded:", ""]
        lines += [f"- {line}" for line in verdict.identity] + [""]
    lines += _what_changed(verdict)
    checks = verdict.corpus.checks if verdict.corpus else []
    lines += ["| metric | baseline | measured | delta | verdict |", "| --- | ---: | ---: | ---: | --- |"]
    lines += [_row(c) for c in checks]
    corpus = run.measured_corpus()
    if corpus is not None:
        rate = corpus.hallucination_rate
        per_s = "" if rate is None else f" ({rate:.2f} per second)"
        lines.append(
            f"| words on non-speech (hallucination) | | {corpus.nonspeech_words}{per_s} | | reported |"
        )
        lines.append(f"| real-time factor | | {corpus.rtf:.3f} | | reported |")
    analysis = verdict.analysis
    if analysis is not None:
        before = figure(analysis.baseline.sentence_error_rate) if analysis.baseline else ""
        lines.append(
            f"| sentence error rate | {before} | {figure(analysis.errors.sentence_error_rate)} | | reported |"
        )
    if verdict.slices is not None and verdict.slice_report is not None and verdict.slice_report.changes:
        changes = verdict.slice_report.changes
        regressed = sum(c.regressed for c in changes)
        tested = sum(c.tested for c in changes)
        lines.append(
            f"| slices regressed | | {regressed} of {tested} tested | | {_mark(verdict.slices.verdict)} |"
        )
    lines += [_row(c) for c in verdict.hallucination.checks] if verdict.hallucination else []
    lines += _timestamps(run)
    lines += [_row(c) for c in (verdict.voice.checks if verdict.voice else []) if not c.passed]
    counts = ", ".join(f"{n} {v.lower()}" for v, n in verdict.counts().items())
    lines.append(f"| cases | | {counts or 'none'} | | |")
    for check in checks:
        if check.change is not None:
            significance = "a" if check.change.significant else "no"
            lines += ["", f"{check.change.describe()}: {significance} significant regression."]
    for name, part in verdict.runwide().items():
        lines += ["", f"{name.capitalize()} not gated: {part.not_gated}."] if part.not_gated else []
    lines += _analysis(verdict) + _slices(verdict) + _hallucination(verdict) + _voice(run, verdict)
    failing = [
        f"- `{where}` ({outcome})" + (f": {'; '.join(why)}" if why else "")
        for where, outcome, why in verdict.not_passing()
    ]
    if failing:
        lines += ["", "Not passing:", "", *failing]
    beyond = verdict.beyond_the_limit()
    if beyond:
        lines += ["", "Beyond the limit without failing:", "", *(f"- {line}" for line in beyond)]
    if verdict.unused:
        lines += ["", f"Unused baseline entries (not in the manifest; `--update-baselines` removes them): "
                  f"{', '.join(f'`{u}`' for u in verdict.unused)}."]  # fmt: skip
    return [*lines, ""]


def _markdown_table(rows: list[tuple[str, ...]]) -> list[str]:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    return lines + ["| " + " | ".join(row) + " |" for row in body]


def markdown(
    runs: list[tuple[ModelRun, RunVerdict | None]], registry: Registry | None, promotion: list[str]
) -> str:
    lines = ["## Speech model gate", ""]
    for run, verdict in runs:
        lines += run_markdown(run, verdict, registry)
    rows = comparison_rows([run for run, _ in runs])
    if len(rows) > 2:
        lines += ["### Comparison", "", *_markdown_table(rows), ""]
    if promotion:
        lines += ["### Promotion", "", *[f"- {line}" for line in promotion], ""]
    return "\n".join(lines)
