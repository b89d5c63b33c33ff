"""The suspicious-case rules, each staged: a case that trips it and a near miss that does not, so
that a rule deleted or loosened fails here. Real files and the command: e2e/test_manifest_check.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_speechlab.core.suspicious import (
    MAX_CLIPPED_SHARE,
    MAX_WORDS_PER_S,
    SILENT_DBFS,
    Finding,
    Heard,
    suspicious,
    word_count,
)

CLEAN = Heard("a", words=7, duration_s=2.5, sample_rate=16000, channels=1, peak_dbfs=-6.0, clipped_share=0.0)


def manifest(*odd: Heard, uniform: int = 10) -> list[Heard]:
    """``uniform`` clean 16 kHz mono cases, each its own audio, then ``odd``."""
    return [replace(CLEAN, case_id=f"c{i}", digest=f"d{i}") for i in range(uniform)] + list(odd)


def messages(facts: list[Heard]) -> list[str]:
    return [f.message for f in suspicious(facts)]


def test_clean_cases_say_nothing():
    assert suspicious(manifest()) == []


def test_audio_too_short_for_its_words():
    cut = replace(CLEAN, case_id="cut", duration_s=0.07)
    assert suspicious([cut]) == [
        Finding("cut", "case cut: 0.07 s of audio for 7 words (at most 6 words/s is speech)")
    ]
    fast = replace(CLEAN, duration_s=7 / MAX_WORDS_PER_S)  # as fast as anyone speaks: not suspicious
    assert suspicious([fast]) == []
    assert messages([replace(fast, duration_s=fast.duration_s * 0.95)]) != []


def test_no_audio_at_all():
    assert messages([replace(CLEAN, duration_s=0.0)]) == ["case a: no audio (0 s)"]
    assert messages([replace(CLEAN, duration_s=0.0, words=0, speech=False)]) == ["case a: no audio (0 s)"]


def test_silent_speech():
    assert messages([replace(CLEAN, peak_dbfs=-200.0)]) == [
        "case a: silent, peak -200 dBFS (speech peaks above -50 dBFS)"
    ]
    assert messages([replace(CLEAN, peak_dbfs=SILENT_DBFS - 0.5)]) != []
    assert suspicious([replace(CLEAN, peak_dbfs=SILENT_DBFS)]) == []  # quiet, but there


def test_non_speech_cases_may_be_silent_and_wordless():
    silence = replace(CLEAN, words=0, duration_s=3.0, speech=False, peak_dbfs=-200.0)
    assert suspicious([silence]) == []
    tagged = replace(CLEAN, duration_s=0.07, speech=False, peak_dbfs=-200.0)  # tag nonspeech, with a text
    assert suspicious([tagged]) == []


def test_clipped_audio():
    assert messages([replace(CLEAN, clipped_share=0.125)]) == [
        "case a: clipped, 12.5% of samples at full scale (over 1% is distortion)"
    ]
    assert suspicious([replace(CLEAN, clipped_share=MAX_CLIPPED_SHARE)]) == []  # a loud, clean take
    assert messages([replace(CLEAN, clipped_share=MAX_CLIPPED_SHARE * 1.1)]) != []


def test_samples_not_read_say_nothing_of_level():
    assert suspicious([replace(CLEAN, peak_dbfs=None, clipped_share=None)]) == []


def test_a_sample_rate_unlike_the_rest():
    phone = replace(CLEAN, case_id="phone", sample_rate=8000, digest="p")
    assert suspicious(manifest(phone)) == [
        Finding("phone", "case phone: 8000 Hz where 10 of 11 cases are 16000 Hz")
    ]


def test_a_channel_count_unlike_the_rest():
    stereo = replace(CLEAN, case_id="st", channels=2, digest="s")
    assert messages(manifest(stereo)) == ["case st: 2 channel(s) where 10 of 11 cases have 1"]
    both = replace(stereo, sample_rate=48000)
    assert messages(manifest(both)) == [
        "case st: 48000 Hz where 10 of 11 cases are 16000 Hz; 2 channel(s) where 10 of 11 cases have 1"
    ]


def test_a_manifest_that_mixes_formats_on_purpose_is_left_alone():
    mixed = [replace(CLEAN, case_id=f"m{i}", digest=f"m{i}", sample_rate=(8000, 22050, 48000)[i % 3])
             for i in range(4)]  # fmt: skip
    assert suspicious(manifest(*mixed, uniform=10)) == []  # 10 of 14: not uniform enough
    assert suspicious(manifest(*mixed[:2], uniform=8)) != []  # 8 of 10: uniform, so the two stand out


def test_too_few_cases_have_no_majority():
    phone = replace(CLEAN, case_id="phone", sample_rate=8000, digest="p")
    assert suspicious(manifest(phone, uniform=3)) == []  # 3 of 4
    assert suspicious(manifest(phone, uniform=4)) != []  # 4 of 5


def test_the_same_audio_under_two_ids():
    copy = replace(CLEAN, case_id="copy", digest="d3")
    assert suspicious(manifest(copy)) == [Finding("copy", "cases c3 and copy: the same audio")]
    third = replace(CLEAN, case_id="again", digest="d3")
    assert messages(manifest(copy, third)) == ["cases c3, copy and again: the same audio"]
    assert suspicious(manifest(replace(copy, digest="other"))) == []
    assert suspicious(manifest(replace(copy, digest=None), replace(third, digest=None))) == []


def test_findings_come_in_manifest_order():
    first = replace(CLEAN, case_id="first", duration_s=0.07, digest="x")
    copy = replace(CLEAN, case_id="copy", digest="x", clipped_share=0.5)
    found = suspicious([first, *manifest(), copy])
    assert [f.case_id for f in found] == ["first", "copy", "copy"]
    assert found[1].message.startswith("case copy: clipped")


@pytest.mark.parametrize(
    ("text", "words"),
    [("ten of clubs", 3), ("", 0), ("  well - I mean, it's 1961  ", 5), ("我们走吧", 1)],
)
def test_word_count(text, words):
    assert word_count(text) == words
