"""The Markdown summary (``--speech-summary``): what a reviewer reads in the CI job.

Per model and device: the registry status, a table of metric, baseline, measured, delta and
verdict, and every failing check by case. It is plain GitHub-flavoured Markdown, so any CI that
shows Markdown can use it (GitHub Actions: append it to ``$GITHUB_STEP_SUMMARY``).
"""

from __future__ import annotations

from collections import Counter

from ..core.metrics import normalizer_id
from ..gate.checks import (
    ERROR,
    FAIL,
    NEW,
    PASS,
    Check,
    case_checks,
    corpus_checks,
    perturbed_check,
    synthesis_checks,
    verdict,
)
from ..gate.checks import synthesis_verdict as tts_verdict
from ..measure.run import ModelRun
from ..store.registry import Registry
from .terminal import comparison_rows


def _fmt(value: float, sign: str = "") -> str:
    """Four decimals for rates (as baselines store them), one for larger figures."""
    return f"{value:{sign}.4f}" if abs(value) < 10 else f"{value:{sign}.1f}"


def _row(check: Check) -> str:
    mark = "pass" if check.passed else "**FAIL**"
    delta = _fmt(check.measured - check.baseline, "+")
    return (
        f"| {check.metric} | {_fmt(check.baseline)} | {_fmt(check.measured)} | {delta} "
        f"| {mark} (limit {_fmt(check.limit)}, {check.tolerance}) |"
    )


def _overall(run: ModelRun, verdicts: Counter[str], corpus: list[Check]) -> str:
    if run.errors or verdicts[ERROR]:
        return ERROR
    if verdicts[FAIL] or not all(c.passed for c in corpus):
        return FAIL
    if verdicts[NEW] or not (run.results or run.syntheses):
        return "NEW (no baseline to compare with)"
    return PASS


def run_markdown(run: ModelRun, registry: Registry | None) -> list[str]:
    title = f"### speechlab: `{run.name}` on {run.device}"
    if run.skip_reason:
        return [f"{title}: skipped", "", f"{run.skip_reason}", ""]
    verdicts = Counter(verdict(r) for r in run.results.values())
    verdicts.update(tts_verdict(r) for r in run.syntheses.values())
    verdicts[ERROR] += len(run.errors)
    corpus = run.measured_corpus()
    checks, not_gated = corpus_checks(corpus) if corpus else ([], "not every selected case was measured")
    lines = [f"{title}: {_overall(run, verdicts, checks)}", ""]
    entry = registry.models.get(run.name) if registry else None
    facts = [f"registry status **{entry.status}**" if entry else "not in the registry"]
    if run.identity:
        i = run.identity
        facts.append(f"model `{i.model_id}` ({i.source}, `{i.revision[:19]}`), {i.compute_type}, {i.engine}")
    facts.append(f"normaliser `{normalizer_id()}`")
    lines += ["; ".join(facts), ""]
    lines += ["| metric | baseline | measured | delta | verdict |", "| --- | ---: | ---: | ---: | --- |"]
    lines += [_row(c) for c in checks]
    if corpus is not None:
        rate = corpus.hallucination_rate
        per_s = "" if rate is None else f" ({rate:.2f} per second)"
        words = f"{corpus.nonspeech_words}{per_s}"
        lines.append(f"| words on non-speech (hallucination) | | {words} | | reported |")
        lines.append(f"| real-time factor | | {corpus.rtf:.3f} | | reported |")
    counts = ", ".join(f"{n} {v.lower()}" for v, n in sorted(verdicts.items()) if n)
    lines.append(f"| cases | | {counts or 'none'} | | |")
    for check in checks:
        if check.change is not None:
            significance = "significant" if check.change.significant else "not significant"
            lines += ["", f"{check.change.describe()}: {significance}."]
    if not_gated and run.results:
        lines += ["", f"Corpus not gated: {not_gated}."]
    failing = []
    for result in run.results.values():
        bad = [c.describe() for c in case_checks(result) if not c.passed]
        if bad:
            failing.append(f"- `{result.case.id}`: " + "; ".join(bad))
    for synthesis in run.syntheses.values():
        bad = [c.describe() for c in synthesis_checks(synthesis) if not c.passed]
        if bad:
            failing.append(f"- `{synthesis.case.id}` (TTS): " + "; ".join(bad))
    for perturbed in run.perturbed.values():
        check = perturbed_check(perturbed)
        if check is not None and not check.passed:
            failing.append(f"- `{perturbed.case.id}` (robustness): {check.describe()}")
    failing += [f"- `{case_id}`: error: {message}" for case_id, message in run.errors.items()]
    if failing:
        lines += ["", "Failing checks:", "", *failing]
    return [*lines, ""]


def _markdown_table(rows: list[tuple[str, ...]]) -> list[str]:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    return lines + ["| " + " | ".join(row) + " |" for row in body]


def markdown(runs: list[ModelRun], registry: Registry | None, promotion: list[str]) -> str:
    lines = ["## Speech model gate", ""]
    for run in runs:
        lines += run_markdown(run, registry)
    rows = comparison_rows(runs)
    if len(rows) > 2:
        lines += ["### Comparison", "", *_markdown_table(rows), ""]
    if promotion:
        lines += ["### Promotion", "", *[f"- {line}" for line in promotion], ""]
    return "\n".join(lines)
