"""The hallucination figures and checks word for word: several phrases, cases, loops and empty
outputs joined in one line, a reference that itself repeats, and a run with no baseline."""

from __future__ import annotations

from pytest_speechlab.gate.hallucination_checks import hallucination, hallucination_checks

from .test_gate_why import case, toy_run

CASES = [
    case("speech_a", "go forward ten meters"),
    case("speech_b", "turn left at the door"),
    case("silence_a", "", ("nonspeech",)),
    case("silence_b", "", ("nonspeech",)),
    case("tone", "", ("nonspeech",)),
    case("talk", "we will be right back", ("longform",), seconds=40.0),
    case("refusal", "no no no no no no i said", ("longform",), seconds=40.0),  # repeats itself
]
BEFORE = {c.id: c.text for c in CASES}
NOW = {
    **BEFORE,
    "speech_a": "",
    "speech_b": "",
    "silence_a": "you",
    "silence_b": "you",
    "tone": "beep " * 8,
    "talk": "we will be right back" + " thank you" * 6,
}


def test_every_phrase_case_and_loop_is_listed_in_the_line():
    found = hallucination(list(toy_run(CASES, NOW, BEFORE).results.values()))
    assert set(found.loops) == {"tone", "talk"}  # the refusal repeats no more than its reference
    assert found.describe() == (
        'phrases on non-speech: "beep" (tone), "you" (silence_a, silence_b); 2 new; '
        'repetition loops: tone "beep" x8, talk "thank you" x6; empty outputs on speech: 2 of 4'
    )
    lines = [c.describe() for c in hallucination_checks(found)]
    assert lines == [
        "new phrases on non-speech 2 exceeds limit 0 (baseline 0, tolerance none), missed by 2; "
        'new on non-speech: "beep" (tone); new on non-speech: "you" (silence_a, silence_b)',
        'new repetition loops 2 exceeds limit 0 (baseline 0, tolerance none), missed by 2; tone: "beep" x8, '
        'talk: "thank you" x6',
        "newly empty outputs on speech 2 exceeds limit 0 (baseline 0, tolerance none), missed by 2; "
        "speech_a, speech_b",
    ]


def test_a_count_of_none_passes_and_says_so():
    found = hallucination(list(toy_run(CASES, BEFORE, BEFORE).results.values()))
    assert [c.describe() for c in hallucination_checks(found)] == [
        "new phrases on non-speech 0 within limit 0 (baseline 0, tolerance none)",
        "new repetition loops 0 within limit 0 (baseline 0, tolerance none)",
        "newly empty outputs on speech 0 within limit 0 (baseline 0, tolerance none)",
    ]


def test_without_stored_hypotheses_nothing_is_compared_and_no_check_is_made():
    found = hallucination(list(toy_run(CASES, NOW, None).results.values()))
    assert (found.baseline_phrases, found.baseline_loops, found.baseline_empty) == (None, None, None)
    assert found.compared == frozenset() and hallucination_checks(found) == []
    assert found.describe() == (
        'phrases on non-speech: "beep" (tone), "you" (silence_a, silence_b); '
        'repetition loops: tone "beep" x8, talk "thank you" x6; empty outputs on speech: 2 of 4'
    )
