"""The assertions suites call: a check that does not pass becomes one readable pytest outcome.

A failed check fails the test with the case, metric, measured value, limit, baseline, tolerance
and margin (and the word alignment where words are at stake); an inconclusive latency skips it
with the reason; a case whose baseline is stale or missing says how to record it. In an
``--update-baselines`` run every assertion passes: the run records, it does not compare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest

from ..core.metrics import Score, alignment
from ..measure.error_analysis import slice_groups
from ..measure.results import CaseResult, CorpusResult, PerturbedResult, SynthesisResult
from ..store.atomic import shown
from ..store.baselines import Comparison
from .checks import INCONCLUSIVE, NEW, NO_CORPUS_BASELINE, PASS, STALE, Check, worst
from .verdicts import (
    Part,
    case_part,
    corpus_part,
    hallucination_part,
    perturbed_part,
    slices_part,
    synthesis_part,
    voice_corpus_part,
)
from .what_changed import describe_change_over, run_analysis

T = TypeVar("T")


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


def _raise_part(
    case_id: str,
    against: Comparison,
    part: Part,
    detail: Sequence[str],
    first: Sequence[str] = (),
    missing: str = "",
    for_words: bool = True,
) -> None:
    """A case's test outcome from its part: no baseline (``missing`` says for what) fails unless
    new cases pass; a stale baseline fails asking for a re-record; else its checks conclude."""
    if part.verdict == NEW:
        _missing_baseline(against, f"{case_id}{missing}")
    elif part.verdict == STALE:
        pytest.fail(f"{case_id} [{against.label}]: {'; '.join(part.why)}", pytrace=False)
    else:
        _conclude(case_id, against, part.checks, detail, for_words=for_words, first=first)


def _assert_case(result: CaseResult, metrics: tuple[str, ...]) -> None:
    """The test's outcome from the case's part of the verdict, over this test's metrics."""
    against = result.against
    if against.update:
        return
    part = case_part(result, metrics)
    _raise_part(result.case.id, against, part, _aligned(result.score), first=part.what_changed)


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


def _judged_over_the_corpus(
    corpus: CorpusResult, name: str, judge: Callable[[Comparison, CorpusResult], tuple[Part, T]]
) -> tuple[Part, T] | None:
    """The corpus-wide part ``judge`` makes and what it found; None where it is not compared:
    an update run, or (failing unless new cases pass) no baseline to compare it with."""
    against = corpus.against
    if against.update:
        return None
    part, found = judge(against, corpus)
    if part.not_gated:
        _missing_baseline(against, name)
        return None
    return part, found


def assert_slices_within_baseline(corpus: CorpusResult) -> None:
    """Fail when a slice of the corpus (a tag, speaker, language, duration or sample rate) got
    worse beyond the WER tolerance by a change its paired bootstrap, corrected for the number of
    slices, calls significant; what changed in its cases comes first."""
    judged = _judged_over_the_corpus(corpus, "slices", slices_part)
    if judged is None:
        return
    (part, report), against = judged, corpus.against
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
    judged = _judged_over_the_corpus(corpus, "hallucination", hallucination_part)
    if judged is None:
        return
    (part, found), against = judged, corpus.against
    _conclude("hallucination", against, part.checks, [found.describe()], for_words=False)


def _assert_synthesis(
    result: SynthesisResult, aspects: tuple[str, ...], what: str, detail: list[str]
) -> None:
    """The test's outcome from the synthesis's part of the verdict, over this test's aspects;
    figures the baseline holds but this run could not measure skip it, saying which."""
    against = result.against
    part = synthesis_part(result, aspects)
    _raise_part(result.case.id, against, part, detail, missing=what, for_words="judge" in aspects)
    if part.notes:
        pytest.skip(f"{result.case.id} [{against.label}]: " + "; ".join(part.notes))


def assert_voice_within_baseline(result: SynthesisResult) -> None:
    """Fail unless the utterance's voice figures (DNSMOS, speaker similarity, longest internal
    silence, speaking rate, pitch jumps) are within tolerance of its baseline's; skip, saying
    which, where figures the baseline holds could not be measured (the tts-quality extra)."""
    if result.against.update or result.quality is None:
        return
    _assert_synthesis(result, ("voice",), " (voice figures)", [f"text: {result.case.text}"])


def assert_voices_within_baseline(results: Sequence[SynthesisResult]) -> None:
    """Fail unless the mean and the 5th percentile over the utterances of each DNSMOS score and
    of the speaker similarity are within tolerance of the baseline's."""
    if not results or results[0].against.update:
        return
    against = results[0].against
    part, _ = voice_corpus_part(against, list(results))
    if part.not_gated:
        _missing_baseline(against, "voice corpus")
        return
    _conclude("voice corpus", against, part.checks, for_words=False)
    if part.notes:
        pytest.skip("voice corpus [" + against.label + "]: " + "; ".join(part.notes))


def assert_tts_within_baseline(result: SynthesisResult) -> None:
    """Fail unless the synthesised audio's health and (repeated) latency are within tolerance."""
    if result.against.update:
        return
    _assert_synthesis(result, ("health",), "", [f"text: {result.case.text}"])


def assert_tts_intelligible(result: SynthesisResult) -> None:
    """Fail unless the judge understood the synthesised speech as well as it did the baseline's.

    A baseline judged by another judge is not compared: that fails too, asking for a re-record,
    since a changed judge must not let a voice through unheard."""
    if result.against.update or result.judge_score is None:
        return
    score = result.judge_score
    _assert_synthesis(result, ("judge",), " (judge WER)", [alignment(score.reference, score.hypothesis)])


def _assert_perturbed(result: PerturbedResult, sweep: bool) -> None:
    against = result.against
    if against.update:
        return
    part = perturbed_part(result, sweep)
    if part.verdict == NEW:
        _missing_baseline(against, f"{result.case.id} ({result.perturbation.id})")
        return
    _conclude(
        result.case.id, against, part.checks, [alignment(result.score.reference, result.score.hypothesis)]
    )


def assert_robust(result: PerturbedResult) -> None:
    """Fail unless the perturbation cost at most ``robustness`` WER over the clean audio."""
    _assert_perturbed(result, sweep=False)


def assert_sweep_within_baseline(result: PerturbedResult) -> None:
    """Fail unless the WER after a fixed perturbation is within tolerance of the baseline's."""
    _assert_perturbed(result, sweep=True)
