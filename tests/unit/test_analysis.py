"""Error analysis: per-case and per-run counts from jiwer's alignment, and what changed against a
baseline hypothesis."""

from __future__ import annotations

import json
from pathlib import Path

import jiwer
import pytest

from pytest_speechlab.core.analysis import (
    DELETED,
    Counts,
    Slip,
    case_change,
    case_errors,
    describe_change,
    describe_errors,
    describe_run_change,
    run_change,
    run_errors,
)
from pytest_speechlab.core.metrics import normalize, score

from ..projects import BUNDLED, bundled_cases

BASELINE = Path(__file__).resolve().parents[2] / "baselines" / "faster_whisper" / "cpu.json"


def test_case_counts_and_alignment():
    e = case_errors("c", "ten of clubs and the queen", "ten off clubs the queen uh")
    assert e.words == Counts(hits=4, substitutions=1, deletions=1, insertions=1)
    assert e.sentence_error and e.words.reference_length == 6
    assert [(x.kind, x.ref, x.hyp, x.position) for x in e.edits] == [
        ("equal", "ten", "ten", 0),
        ("substitute", "of", "off", 1),
        ("equal", "clubs", "clubs", 2),
        ("delete", "and", "", 3),
        ("equal", "the", "the", 4),
        ("equal", "queen", "queen", 5),
        ("insert", "", "uh", 6),
    ]
    chars = jiwer.process_characters("ten of clubs and the queen", "ten off clubs the queen uh")
    assert e.chars.errors == chars.substitutions + chars.deletions + chars.insertions
    assert e.chars.rate == pytest.approx(chars.cer)
    assert e.as_dict()["alignment"][3] == ["and", ""]


def test_counts_agree_with_the_metrics_of_the_gate():
    raw_ref, raw_hyp = "Mr. Smith paid $20 on the 14th.", "mister smith paid twenty dollars on 14th"
    s = score(raw_ref, raw_hyp)
    e = case_errors("c", s.reference, s.hypothesis)
    assert (e.words.hits, e.words.substitutions, e.words.deletions, e.words.insertions) == (
        s.hits,
        s.substitutions,
        s.deletions,
        s.insertions,
    )
    assert e.words.rate == pytest.approx(s.wer) and e.chars.rate == pytest.approx(s.cer)


def test_empty_texts():
    silent = case_errors("silence", "", "thank you")
    assert silent.words == Counts(insertions=2) and silent.sentence_error and silent.words.rate == 2.0
    dropped = case_errors("dropped", "go forward", "")
    assert dropped.words == Counts(deletions=2)
    both = case_errors("both", "", "")
    assert not both.sentence_error and both.edits == ()


def test_run_totals_rankings_and_word_statistics():
    cases = [
        case_errors("a", "four of clubs", "four of clothes"),
        case_errors("b", "seven of clubs", "of clothes"),
        case_errors("c", "ten of hearts", "ten of hearts"),
        case_errors("d", "the queen", "the the queen uh"),
    ]
    run = run_errors(cases)
    assert run.cases == 4 and run.sentence_errors == 3 and run.sentence_error_rate == 0.75
    assert run.words == Counts(hits=8, substitutions=2, deletions=1, insertions=2)
    assert run.confusions == (("clubs", "clothes", 2),)
    assert run.deletions == (("seven", 1),) and run.insertions == (("the", 1), ("uh", 1))
    stats = {s.word: s for s in run.word_stats}
    clubs, clothes, seven = stats["clubs"], stats["clothes"], stats["seven"]
    assert (clubs.in_reference, clubs.hits, clubs.substituted, clubs.errors) == (2, 0, 2, 2)
    assert (clothes.in_reference, clothes.in_hypothesis, clothes.confused_for) == (0, 2, 2)
    assert (seven.in_reference, seven.hits, seven.deleted) == (1, 0, 1)
    assert stats["hearts"].errors == 0
    assert run.word_stats[0].word in {"clubs", "clothes"}  # most errors first
    out = run.as_dict(top=1)
    assert out["confusions"] == [["clubs", "clothes", 2]] and len(out["word_stats"]) == 1
    json.dumps(run.as_dict())
    assert describe_errors(run).splitlines() == [
        "5 word errors in 11 reference words (WER 0.4545): 2 substitutions, 1 deletions, 2 insertions; "
        "3 of 4 sentences wrong (75.0%)",
        "  top confusions: clubs -> clothes x2",
        "  most deleted: seven",
        "  most inserted: the, uh",
    ]


def test_a_confusion_that_appears_is_named_with_the_words_it_broke_and_fixed():
    """Staged regression: the baseline heard "clubs" as "clothes"; the new model hears "clubs"
    but "queen" as "clean", drops "of" and adds "the"."""
    change = case_change("cards_002", "four queen of clubs", "four queen of clothes", "the four clean clubs")
    assert change.changed and (change.errors_before, change.errors_after) == (1, 3)
    assert change.newly_wrong == (Slip(1, "queen", "queen", "clean"), Slip(2, "of", "of", DELETED))
    assert change.fixed == (Slip(3, "clubs", "clothes", "clubs"),)
    assert change.still_wrong == ()
    assert change.new_insertions == ("the",) and change.gone_insertions == ()
    assert change.confusions_appeared == (("queen", "clean", 1),)
    assert change.confusions_gone == (("clubs", "clothes", 1),)
    assert describe_change(change).splitlines() == [
        "cards_002: word errors 1 -> 3 (+2)",
        "  newly wrong: queen -> clean, of -> *",
        "  fixed: clubs (was clothes)",
        "  new insertions: the",
        "  reference  four queen of clubs",
        "  baseline   four queen of clothes",
        "  now        the four clean clubs",
    ]
    json.dumps(change.as_dict())


def test_an_unchanged_case_reports_nothing_and_a_word_wrong_differently_is_neither():
    same = case_change("c", "seven of clubs", "seven of clothes", "seven of clothes")
    assert not same.changed and not (same.newly_wrong or same.fixed or same.confusions_appeared)
    other = case_change("c", "seven of clubs", "seven of clothes", "seven of cubs")
    assert other.still_wrong == (Slip(2, "clubs", "clothes", "cubs"),)
    assert other.confusions_appeared == (("clubs", "cubs", 1),)
    assert "wrong differently: clubs -> cubs (was clothes)" in describe_change(other)
    with pytest.raises(ValueError, match="another reference"):
        from pytest_speechlab.core.analysis import compare_errors

        compare_errors(case_errors("c", "a b", "a b"), case_errors("c", "a c", "a c"))


def test_run_change_nets_pairs_over_cases_and_lists_the_worst_case_first():
    changes = [
        case_change("a", "four of clubs", "four of clubs", "four of clothes"),  # pair appears
        case_change("b", "seven of clubs", "seven of clothes", "seven of clubs"),  # and goes elsewhere
        case_change("c", "ten of hearts", "ten of hearts", "and ten of harps"),  # new pair and insertion
        case_change("d", "go forward", "go forward", "go forward"),
    ]
    run = run_change(changes)
    assert [c.id for c in run.cases] == ["c", "a", "b"] and (run.worse, run.better) == (2, 1)
    assert (run.errors_before, run.errors_after) == (1, 3)
    assert run.confusions_appeared == (("hearts", "harps", 1),) and run.confusions_gone == ()
    assert run.newly_wrong == (("clubs", 1), ("hearts", 1)) and run.fixed == (("clubs", 1),)
    text = describe_run_change(run, cases=1).splitlines()
    assert text[:3] == [
        "3 cases changed (2 worse, 1 better); word errors 1 -> 3 (+2)",
        "  newly wrong words: clubs, hearts",
        "  fixed words: clubs",
    ]
    assert "  confusions appeared: hearts -> harps" in text and text[4] == "  c: word errors 0 -> 2 (+2)"
    json.dumps(run.as_dict())


def test_on_the_bundled_cases_with_the_recorded_faster_whisper_hypotheses():
    """The stored tiny.en transcripts of every speech case: the run's WER from these counts is the
    baseline's corpus WER, and the known weak spots lead: "aligner" (a word of the long-form
    monologue that tiny.en never knew) has the most errors, "clubs" is heard as "cloves"."""
    baseline = json.loads(BASELINE.read_text())
    speech = [c for c in bundled_cases() if c.text.strip()]
    assert all(c.id in baseline["cases"] for c in speech) and BUNDLED.is_file()
    run = run_errors(
        case_errors(c.id, normalize(c.text), baseline["cases"][c.id]["hypothesis"]) for c in speech
    )
    assert run.cases == len(speech) == 33
    assert run.words.rate == pytest.approx(baseline["corpus"]["wer"], abs=5e-5)
    assert run.word_stats[0].word == "aligner" and run.word_stats[0].substituted == 9
    clubs = next(w for w in run.word_stats if w.word == "clubs")
    assert (clubs.substituted, clubs.in_reference) == (6, 8)
    assert ("clubs", "cloves", 5) in run.confusions
