"""The Markdown summary (``--speech-summary``): what a reviewer reads in the CI job.

Per model and device: the verdict, the registry status, a table of metric, baseline, measured,
delta and verdict, then every case that is not a pass, with why. It is plain GitHub-flavoured
Markdown, so any CI that shows Markdown can use it (GitHub Actions: append it to
``$GITHUB_STEP_SUMMARY``).
"""

from __future__ import annotations

from ..core.metrics import normalizer_id
from ..gate.checks import Check
from ..gate.verdicts import RunVerdict
from ..measure.run import ModelRun
from ..store.registry import Registry
from .terminal import comparison_rows


def _fmt(value: float, sign: str = "") -> str:
    """Four decimals for rates (as baselines store them), one for larger figures."""
    return f"{value:{sign}.4f}" if abs(value) < 10 else f"{value:{sign}.1f}"


def _row(check: Check) -> str:
    outcome = check.outcome
    mark = outcome if outcome == "pass" else f"**{outcome}**"
    delta = _fmt(check.measured - check.baseline, "+")
    return (
        f"| {check.metric} | {_fmt(check.baseline)} | {_fmt(check.measured)} | {delta} "
        f"| {mark} (limit {_fmt(check.limit)}, {check.tolerance}) |"
    )


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
    counts = ", ".join(f"{n} {v.lower()}" for v, n in verdict.counts().items())
    lines.append(f"| cases | | {counts or 'none'} | | |")
    for check in checks:
        if check.change is not None:
            significance = "significant" if check.change.significant else "not significant"
            lines += ["", f"{check.change.describe()}: {significance}."]
    if verdict.corpus is not None and verdict.corpus.not_gated:
        lines += ["", f"Corpus not gated: {verdict.corpus.not_gated}."]
    failing = [f"- `{line.split(':', 1)[0]}`:{line.split(':', 1)[1]}" for line in verdict.failures]
    if failing:
        lines += ["", "Not passing:", "", *failing]
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
