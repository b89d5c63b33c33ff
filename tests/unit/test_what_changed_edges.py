"""The run's analysis at its edges: the worst three changed cases shown in full, every case kept,
and no baseline figures or change where the baseline cannot supply them."""

from __future__ import annotations

from pytest_speechlab.gate.what_changed import describe_change_over, run_analysis

from .test_gate_why import case, lose, toy_run

CASES = [case(f"c{i}", "the quick brown fox jumps over a lazy dog") for i in range(5)]
QUIET = case("quiet", "", ("nonspeech",))
BEFORE = {c.id: c.text for c in [*CASES, QUIET]}
WORSE = {**BEFORE, **{c.id: lose(c.text, i + 1) for i, c in enumerate(CASES)}}  # c4 loses most


def test_the_worst_three_changed_cases_are_shown_in_full_and_the_rest_counted():
    results = list(toy_run([*CASES, QUIET], WORSE, BEFORE).results.values())
    analysis = run_analysis(results)
    lines = analysis.what_changed()
    assert lines[0] == "5 cases changed (5 worse, 0 better); word errors 0 -> 15 (+15)"
    assert [line for line in lines if line.startswith("  c") and ": word errors" in line] == [
        "  c4: word errors 0 -> 5 (+5)",
        "  c3: word errors 0 -> 4 (+4)",
        "  c2: word errors 0 -> 3 (+3)",
    ]
    assert describe_change_over(results) == lines
    assert sorted(analysis.cases) == ["c0", "c1", "c2", "c3", "c4", "quiet"]  # non-speech too
    assert analysis.baseline is not None and analysis.baseline.words.errors == 0


def test_a_baseline_without_every_speech_case_gives_a_change_but_no_baseline_figures():
    results = list(toy_run([*CASES, QUIET], WORSE, BEFORE).results.values())
    del results[0].against.baseline.cases["c0"]  # type: ignore[union-attr]  # a case new since
    analysis = run_analysis(results)
    assert analysis.baseline is None and analysis.as_dict()["baseline_errors"] is None
    assert analysis.change is not None and len(analysis.change.cases) == 4


def test_with_no_stored_hypothesis_nothing_changed_and_nothing_is_said():
    results = list(toy_run([*CASES, QUIET], WORSE, None).results.values())
    analysis = run_analysis(results)
    assert analysis.change is None and analysis.baseline is None and analysis.changes == {}
    assert analysis.what_changed() == [] and describe_change_over(results) == []
    assert analysis.as_dict()["change"] is None and analysis.errors.cases == 5
