"""Hallucination: repetition loops, empty outputs on speech, phrases written over non-speech."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_speechlab.core.hallucination import (
    LOOP_REPEATS,
    Loop,
    collapse,
    describe_new_phrases,
    empty_outputs,
    longest_repeat,
    new_phrases,
    nonspeech_phrases,
    repetition_loop,
)
from pytest_speechlab.core.metrics import normalize

from ..projects import bundled_cases

BASELINE = Path(__file__).resolve().parents[2] / "baselines" / "faster_whisper" / "cpu.json"


def test_longest_repeat_finds_the_phrase_its_length_and_where_it_starts():
    assert longest_repeat("and so my fellow americans") is None
    assert longest_repeat("no no") == Loop("no", 1, 2, 0)
    text = "we will be right back thank you for watching thank you for watching thank you for watching"
    assert longest_repeat(text) == Loop("thank you for watching", 4, 3, 5)
    # a single word repeated is found as itself, not as a pair of words repeated half as often
    assert longest_repeat("beep " * 112) == Loop("beep", 1, 112, 0)


def test_a_staged_repetition_loop_is_flagged_and_natural_repetition_is_not():
    reference = "and here is some more of the text that was read out"
    looping = "and here is some more of the text" + " of the text" * 9
    loop = repetition_loop(looping, reference)
    assert loop is not None and (loop.phrase, loop.repeats) == ("of the text", 10)
    assert repetition_loop(reference, reference) is None
    below = "and here is some more" + " more" * (LOOP_REPEATS - 2)  # four in a row
    assert longest_repeat(below).repeats == LOOP_REPEATS - 1 and repetition_loop(below, reference) is None
    # the reference itself repeats "words" four times: a faithful transcript is no loop, five are
    said = "here's some more words words words words um"
    assert repetition_loop(said, said) is None
    assert repetition_loop("here's some more words words words words words", said).repeats == 5
    # a reference that itself says "no" six times in a row: only a longer run is a loop
    refusal = "no no no no no no i said"
    assert repetition_loop(refusal, refusal) is None
    assert repetition_loop("no " * 7 + "i said", refusal).repeats == 7
    json.dumps(loop.as_dict())


def test_the_bundled_references_have_no_loop_and_tiny_en_loops_on_the_tone():
    for case in bundled_cases():
        assert repetition_loop(normalize(case.text)) is None, case.id
    recorded = json.loads(BASELINE.read_text())["cases"]
    loop = repetition_loop(recorded["tone_440hz"]["hypothesis"], "")
    assert loop is not None and loop.phrase == "beep" and loop.repeats >= 100


def test_collapse_reduces_loops_to_one_instance():
    assert collapse("beep beep beep beep") == "beep"
    assert collapse("thank you thank you thank you so much so much") == "thank you so much"
    assert collapse("") == "" and collapse("go forward ten meters") == "go forward ten meters"


def test_empty_output_rate_on_speech_cases():
    texts = {"a": ("go forward", "go forward"), "b": ("ten of clubs", ""), "silence": ("", "")}
    out = empty_outputs(texts)
    assert (out.cases, out.empty, out.rate) == (2, ("b",), 0.5)
    assert empty_outputs({}).rate == 0.0
    json.dumps(out.as_dict())


def test_a_new_hallucinated_phrase_is_reported_against_the_baseline_set():
    """Staged: the baseline's model wrote "beep" on the tone and "you" on noise; the new one
    writes "thank you for watching" on silence."""
    baseline = nonspeech_phrases({"silence_3s": "", "tone_440hz": "beep " * 112, "noise_white": "you"})
    assert baseline == {"beep": ("tone_440hz",), "you": ("noise_white",)}
    now = nonspeech_phrases(
        {"silence_3s": "thank you for watching", "tone_440hz": "beep " * 80, "noise_white": "you"}
    )
    new = new_phrases(now, baseline)
    assert new == {"thank you for watching": ("silence_3s",)}
    assert describe_new_phrases(new) == 'new on non-speech: "thank you for watching" (silence_3s)'
    assert new_phrases(baseline, baseline) == {}


def test_phrases_of_the_recorded_faster_whisper_run():
    """tiny.en's recorded outputs: "you" over silence and pink noise, a loop of "beep" cut off
    mid-word over the tone, nothing over white noise."""
    recorded = json.loads(BASELINE.read_text())["cases"]
    nonspeech = {c.id: recorded[c.id]["hypothesis"] for c in bundled_cases() if "nonspeech" in c.tags}
    phrases = nonspeech_phrases(nonspeech)
    assert phrases == {"beep be": ("tone_440hz",), "you": ("silence_3s", "noise_pink_44k")}
    assert new_phrases(phrases, ["you"]) == {"beep be": ("tone_440hz",)}
