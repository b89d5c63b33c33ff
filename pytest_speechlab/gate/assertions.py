"""The assertions suites call: a failed check becomes one readable pytest failure."""

from __future__ import annotations

import pytest

from ..core.metrics import Score, alignment
from ..measure.run import CaseResult, CorpusResult, ModelRun, PerturbedResult, SynthesisResult
from ..store.atomic import shown
from .checks import (
    Check,
    case_checks,
    corpus_checks,
    judge_check,
    robustness_check,
    sweep_check,
    synthesis_checks,
)


def assert_tts_within_baseline(result: SynthesisResult) -> None:
    """Fail unless the synthesised audio's health and (repeated) latency are within tolerance."""
    run = result.run
    if run.settings.update:
        return
    checks = synthesis_checks(result, judged=False)
    if not checks:
        _missing_baseline(run, result.case.id)
        return
    failed = [c for c in checks if not c.passed]
    if failed:
        lines = [f"{result.case.id} [{_where(run)}]: " + "; ".join(c.describe() for c in failed)]
        lines.append(f"text: {result.case.text}")
        pytest.fail("\n".join(lines), pytrace=False)


def assert_tts_intelligible(result: SynthesisResult) -> None:
    """Fail unless the judge understood the synthesised speech as well as it did the baseline's."""
    run = result.run
    if run.settings.update or result.judge_score is None:
        return
    check, reason = judge_check(result)
    if reason:
        pytest.skip(f"{result.case.id} [{_where(run)}]: {reason}")
    if check is None:
        _missing_baseline(run, f"{result.case.id} (judge WER)")
        return
    if not check.passed and result.judge_score is not None:
        _fail_aligned(result.case.id, run, check, result.judge_score)


def _where(run: ModelRun) -> str:
    return f"{run.name} on {run.device}"


def _missing_baseline(run: ModelRun, what: str) -> None:
    """A gate must not pass on something it never measured, unless the run allows new cases."""
    if run.settings.new_cases == "pass":
        return
    pytest.fail(
        f"{what}: no baseline for {_where(run)} in {shown(run.baseline_file)}; "
        f"record one with --update-baselines (or pass --speech-new-cases=pass)",
        pytrace=False,
    )


def _assert_case(result: CaseResult, metrics: tuple[str, ...]) -> None:
    run = result.run
    if run.settings.update:
        return
    if run.baseline is None or result.case.id not in run.baseline.cases:
        _missing_baseline(run, result.case.id)
        return
    failed = [c for c in case_checks(result, metrics) if not c.passed]
    if not failed:
        return
    s = result.score
    lines = [f"{result.case.id} [{_where(run)}]: " + "; ".join(c.describe() for c in failed)]
    if any(c.metric in ("WER", "CER") for c in failed):
        lines.append(alignment(s.reference, s.hypothesis))
        lines.append(
            f"{s.substitutions} substitution(s), {s.deletions} deletion(s), {s.insertions} insertion(s)"
        )
    pytest.fail("\n".join(lines), pytrace=False)


def assert_wer_within_baseline(result: CaseResult) -> None:
    """Fail unless the case's WER is within the tolerance of its baseline."""
    _assert_case(result, ("wer",))


def assert_cer_within_baseline(result: CaseResult) -> None:
    """Fail unless the case's CER is within the tolerance of its baseline."""
    _assert_case(result, ("cer",))


def assert_latency_within_baseline(result: CaseResult) -> None:
    """Fail unless the case's median latency (repeated runs) is within the calibrated tolerance."""
    _assert_case(result, ("latency_ms",))


def assert_corpus_within_baseline(corpus: CorpusResult) -> None:
    """Fail unless corpus WER, CER and latency-subset time are within tolerance."""
    run = corpus.run
    if run.settings.update:
        return
    if run.baseline is None or not run.baseline.corpus:
        _missing_baseline(run, "corpus")
        return
    checks, reason = corpus_checks(corpus)
    if reason:
        pytest.skip(f"corpus [{_where(run)}]: {reason}")
    failed = [c for c in checks if not c.passed]
    if failed:
        pytest.fail(f"corpus [{_where(run)}]: " + "; ".join(c.describe() for c in failed), pytrace=False)


def _fail_aligned(case_id: str, run: ModelRun, check: Check, s: Score) -> None:
    """Fail with the check and the word alignment of what was heard."""
    pytest.fail(
        f"{case_id} [{_where(run)}]: {check.describe()}\n{alignment(s.reference, s.hypothesis)}",
        pytrace=False,
    )


def assert_robust(result: PerturbedResult) -> None:
    """Fail unless the perturbation cost at most ``robustness`` WER over the clean audio."""
    check = robustness_check(result)
    if not result.run.settings.update and not check.passed:
        _fail_aligned(result.case.id, result.run, check, result.score)


def assert_sweep_within_baseline(result: PerturbedResult) -> None:
    """Fail unless the WER after a fixed perturbation is within tolerance of the baseline's."""
    run = result.run
    if run.settings.update:
        return
    check = sweep_check(result)
    if check is None:
        _missing_baseline(run, f"{result.case.id} ({result.perturbation.id})")
    elif not check.passed:
        _fail_aligned(result.case.id, result.run, check, result.score)
