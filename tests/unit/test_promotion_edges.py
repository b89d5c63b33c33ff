"""The edges of what a promotion refuses and says: lists shown in full up to their limit, an
``-o`` override named by its key alone, a figure that moved exactly its tolerance, a run recorded
without a verdict, and a ceiling on a figure the corpus does not have."""

from __future__ import annotations

from pytest_speechlab.gate.promotion import WHOLE, builtin_vetoes, selection_refusals, since_last_promotion
from pytest_speechlab.store.registry import Entry

from .test_vetoes import evidence, run


def test_three_chosen_tests_are_shown_in_full_and_four_configured_ones_are_cut_at_three():
    assert selection_refusals(["a", "b", "c"], ["s", "t", "u", "v"], {}) == [
        f"tests chosen (a b c, not the configured s t u ...): {WHOLE}"
    ]


def test_an_override_whose_value_holds_an_equals_sign_is_named_by_its_key():
    assert selection_refusals(["s"], ["s"], {}, ["addopts=-o x=y"]) == [f"-o addopts given: {WHOLE}"]


def test_a_figure_that_moved_exactly_its_tolerance_is_not_said():
    entry = Entry("m", history=[{"to": "candidate", "when": "T1", "metrics": {"cpu": {"corpus_wer": 0.25}}}])
    # 0.5 - 0.25 is 0.25 exactly, and so is 0.249999999 + 1e-9: on the bound, not beyond it
    assert since_last_promotion(entry, {"cpu": {"corpus_wer": 0.5}}, {"wer": 0.249999999}) == []
    assert since_last_promotion(entry, {"cpu": {"corpus_wer": 0.5}}, {"wer": 0.2499999}) == [
        "cpu: corpus WER 0.25 -> 0.5 (+0.2500) since the promotion of T1, beyond the tolerance 0.25"
    ]


def test_a_run_recorded_without_a_verdict_is_vetoed_as_having_none():
    assert builtin_vetoes(evidence(run(verdict=None)), ("asr",)) == ["m on cpu: the gate's verdict is none"]


def test_a_ceiling_on_a_figure_the_corpus_lacks_is_a_figure_not_measured():
    entry = Entry("m", thresholds={"ceilings": {"candidate": {"latency": 1.0, "wer": 0.2}}})
    assert builtin_vetoes(evidence(run(), entry=entry), ("asr",)) == [
        "m on cpu: no corpus latency measured for the candidate ceiling"
    ]  # the corpus's WER 0.1 is within its ceiling
    assert builtin_vetoes(evidence(run(corpus=None), entry=entry), ("asr",)) == [
        "m on cpu: no corpus latency measured for the candidate ceiling",
        "m on cpu: no corpus wer measured for the candidate ceiling",
    ]
