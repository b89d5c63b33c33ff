"""The assertions suites call: a check that does not pass becomes one readable pytest outcome.

A failed check fails the test with the case, metric, measured value, limit, baseline, tolerance
and margin (and the word alignment where words are at stake); an inconclusive latency skips it
with the reason; a case whose baseline is stale or missing says how to record it. In an
``--update-baselines`` run every assertion passes: the run records, it does not compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from ..core.metrics import Score, alignment
from ..measure.errors import slice_groups
from ..measure.quality import corpus_figures
from ..measure.results import CaseResult, CorpusResult, PerturbedResult, SynthesisResult
from ..store.atomic import shown
from ..store.baselines import Comparison
from .analysis import describe_change_over, run_analysis
from .checks import (
    INCONCLUSIVE,
    NEW,
    NO_CORPUS_BASELINE,
    PASS,
    STALE,
    Check,
    judge_check,
    reference_changed,
    robustness_check,
    sweep_check,
    synthesis_checks,
    worst,
)
from .verdicts import REFERENCE_CHANGED, case_part, corpus_part, hallucination_part, slices_part
from .voice import corpus_not_measured, not_measured, voice_checks, voice_corpus_checks


def _missing_baseline(against: Comparison, what: str) -> None:
    """A gate must not pass on something it never measured, unless the run allows new cases."""
    if against.new_cases == "pass":
        return
    pytest.fail(
        f"{what}: no baseline for {against.label} in {shown(against.path)}; "
        f"record one with --update-baselines (or pass --speech-new-cases=pass)",
        pytrace=False,
    )


WORD_METRICS = ("WER", "CER", "TTS judge WER")


def _conclude(
    what: str,
    against: Comparison,
    checks: list[Check],
    detail: Sequence[str] = (),
    for_words: bool = True,
    first: Sequence[str] = (),
    sep: str = "; ",
    head: str = "",
) -> None:
    """Fail on a failed check, with what changed against the baseline (``first``) before it and
    ``detail`` after it (both only where words are at stake, with ``for_words``); skip as
    inconclusive when every miss is inconclusive."""
    missed = [c for c in checks if not c.passed]
    if not missed:
        return
    message = (
        f"{what} [{against.label}]: " + (head + sep if head else "") + sep.join(c.describe() for c in missed)
    )
    if worst([c.outcome for c in missed]) == INCONCLUSIVE:
        pytest.skip(f"inconclusive: {message}")
    shown = not for_words or any(c.metric.removeprefix("corpus ") in WORD_METRICS for c in missed)
    lines = [*(first if shown else []), message, *(detail if shown else [])]
    pytest.fail("\n".join(lines), pytrace=False)


def _aligned(s: Score) -> list[str]:
    return [
        alignment(s.reference, s.hypothesis),
        f"{s.substitutions} substitution(s), {s.deletions} deletion(s), {s.insertions} insertion(s)",
    ]


def _stale(what: str, against: Comparison, case_text: str, entry: dict[str, Any] | None) -> None:
    if reference_changed(case_text, entry):
        pytest.fail(f"{what} [{against.label}]: {REFERENCE_CHANGED}", pytrace=False)


def _compared(result: CaseResult | SynthesisResult) -> dict[str, Any] | None:
    """The baseline entry a case's checks compare with, or None where none run: an update run
    records; a missing entry fails unless the run allows new cases; a stale reference fails."""
    against = result.against
    if against.update:
        return None
    entry = result.stored
    if entry is None:
        _missing_baseline(against, result.case.id)
        return None
    _stale(result.case.id, against, result.case.text, against.entry(result.case.id))
    return entry


def _assert_case(result: CaseResult, metrics: tuple[str, ...]) -> None:
    """The test's outcome from the case's part of the verdict, over this test's metrics."""
    against = result.against
    if against.update:
        return
    part = case_part(result, metrics)
    if part.verdict == NEW:
        _missing_baseline(against, result.case.id)
    elif part.verdict == STALE:
        pytest.fail(f"{result.case.id} [{against.label}]: {'; '.join(part.why)}", pytrace=False)
    else:
        _conclude(result.case.id, against, part.checks, _aligned(result.score), first=part.what_changed)


def assert_wer_within_baseline(result: CaseResult) -> None:
    """Fail unless the case's WER is within the tolerance of its baseline, and for a case with a
    reference alignment, its mean word start and end errors too (its accuracy test carries them:
    no test ids beside the case's usual ones)."""
    _assert_case(result, ("wer", "timestamps"))


def assert_cer_within_baseline(result: CaseResult) -> None:
    """Fail unless the case's CER is within the tolerance of its baseline."""
    _assert_case(result, ("cer",))


def assert_latency_within_baseline(result: CaseResult) -> None:
    """Fail unless the case's fastest latency (repeated runs) is within the calibrated tolerance;
    skip as inconclusive when it is not but other processes competed for the CPU meanwhile."""
    _assert_case(result, ("latency_ms",))


def assert_corpus_within_baseline(corpus: CorpusResult) -> None:
    """Fail unless corpus WER, CER and latency-subset time are within tolerance (or beyond it by a
    change the paired bootstrap cannot tell from noise)."""
    against = corpus.against
    if against.update:
        return
    part = corpus_part(against, corpus)
    assert part is not None  # a corpus was given
    if part.verdict == STALE:
        pytest.fail(f"corpus [{against.label}]: {part.not_gated}", pytrace=False)
    if part.not_gated == NO_CORPUS_BASELINE:
        _missing_baseline(against, "corpus")
    elif part.not_gated:
        pytest.skip(f"corpus [{against.label}]: {part.not_gated}")
    else:  # what changed in the cases: the error analysis, only where a check missed
        first = run_analysis(corpus.results).what_changed() if part.verdict != PASS else []
        _conclude("corpus", against, part.checks, first=first)


def assert_slices_within_baseline(corpus: CorpusResult) -> None:
    """Fail when a slice of the corpus (a tag, speaker, language, duration or sample rate) got
    worse beyond the WER tolerance by a change its paired bootstrap, corrected for the number of
    slices, calls significant; what changed in its cases comes first."""
    against = corpus.against
    if against.update:
        return
    part, report = slices_part(against, corpus)
    if part.not_gated:
        _missing_baseline(against, "slices")
        return
    regressed = sorted(c.name for c in report.changes if c.regressed)
    first = []
    if regressed:
        groups = slice_groups(corpus.results)
        members = {i for name in regressed for i in groups[name]}
        changed = describe_change_over(r for r in corpus.results if r.case.id in members)
        first = [f"what changed in {', '.join(regressed)}:", *("  " + line for line in changed)]
    tested = sum(c.tested for c in report.changes)
    head = f"{len(regressed)} of {tested} tested slices regressed"
    _conclude("slices", against, part.checks, first=first, for_words=False, sep="\n  ", head=head)


def assert_no_new_hallucinations(corpus: CorpusResult) -> None:
    """Fail on a phrase written over non-speech that the baseline's model never wrote, a
    repetition loop on a long-form or non-speech case that its baseline hypothesis did not have,
    or a speech case whose output is now empty."""
    against = corpus.against
    if against.update:
        return
    part, found = hallucination_part(against, corpus)
    if part.not_gated:
        _missing_baseline(against, "hallucination")
        return
    _conclude("hallucination", against, part.checks, [found.describe()], for_words=False)


def _voice_notes(notes: list[str], what: str, against: Comparison) -> None:
    """Skip, saying so, where figures the baseline holds could not be measured."""
    if notes:
        pytest.skip(f"{what} [{against.label}]: " + "; ".join(notes))


def assert_voice_within_baseline(result: SynthesisResult) -> None:
    """Fail unless the utterance's voice figures (DNSMOS, speaker similarity, longest internal
    silence, speaking rate, pitch jumps) are within tolerance of its baseline's; skip, saying
    which, where figures the baseline holds could not be measured (the tts-quality extra)."""
    against = result.against
    if against.update or result.quality is None:
        return
    entry = result.stored
    checks = voice_checks(result.quality, entry, against.tolerances)
    notes = not_measured(result.quality, entry or {})
    if entry is None or not (checks or notes):
        _missing_baseline(against, f"{result.case.id} (voice figures)")
        return
    _conclude(result.case.id, against, checks, [f"text: {result.case.text}"], for_words=False)
    _voice_notes(notes, result.case.id, against)


def assert_voices_within_baseline(results: Sequence[SynthesisResult]) -> None:
    """Fail unless the mean and the 5th percentile over the utterances of each DNSMOS score and
    of the speaker similarity are within tolerance of the baseline's."""
    if not results or results[0].against.update:
        return
    against = results[0].against
    stored = (against.baseline.corpus if against.baseline else {}).get("tts_quality") or {}
    if not stored:
        _missing_baseline(against, "voice corpus")
        return
    figures = corpus_figures(results)
    _conclude(
        "voice corpus", against, voice_corpus_checks(figures, stored, against.tolerances), for_words=False
    )
    _voice_notes(corpus_not_measured(figures, stored), "voice corpus", against)


def assert_tts_within_baseline(result: SynthesisResult) -> None:
    """Fail unless the synthesised audio's health and (repeated) latency are within tolerance."""
    entry = _compared(result)
    if entry is None:
        return
    checks = synthesis_checks(result, entry, result.against.tolerances)
    _conclude(result.case.id, result.against, checks, [f"text: {result.case.text}"], for_words=False)


def assert_tts_intelligible(result: SynthesisResult) -> None:
    """Fail unless the judge understood the synthesised speech as well as it did the baseline's.

    A baseline judged by another judge is not compared: that fails too, asking for a re-record,
    since a changed judge must not let a voice through unheard."""
    against = result.against
    if against.update or result.judge_score is None:
        return
    stored_judge = against.baseline.meta.get("judge") if against.baseline else None
    check, reason = judge_check(result, stored_judge, against.tolerances)
    if reason:
        pytest.fail(f"{result.case.id} [{against.label}]: {reason}: re-record with --update-baselines",
                    pytrace=False)  # fmt: skip
    if check is None:
        _missing_baseline(against, f"{result.case.id} (judge WER)")
        return
    _conclude(
        result.case.id,
        against,
        [check],
        [alignment(result.judge_score.reference, result.judge_score.hypothesis)],
    )


def assert_robust(result: PerturbedResult) -> None:
    """Fail unless the perturbation cost at most ``robustness`` WER over the clean audio."""
    against = result.against
    if against.update:
        return
    check = robustness_check(result, against.tolerances)
    _conclude(result.case.id, against, [check], [alignment(result.score.reference, result.score.hypothesis)])


def assert_sweep_within_baseline(result: PerturbedResult) -> None:
    """Fail unless the WER after a fixed perturbation is within tolerance of the baseline's."""
    against = result.against
    if against.update:
        return
    check = sweep_check(result, against.entry(result.case.id), against.tolerances)
    if check is None:
        _missing_baseline(against, f"{result.case.id} ({result.perturbation.id})")
        return
    _conclude(result.case.id, against, [check], [alignment(result.score.reference, result.score.hypothesis)])
