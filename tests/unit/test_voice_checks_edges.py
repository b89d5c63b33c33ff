"""The voice figures' checks word for word: each line a reviewer reads, the figures not measured by
their names, and the corpus figures the baseline holds that this run lacks."""

from __future__ import annotations

from pytest_speechlab.gate.voice_checks import corpus_not_measured, not_measured, voice_checks
from pytest_speechlab.measure.quality import NOT_MEASURED

from .test_gate_why import STORED, TOL


def test_each_voice_figure_says_its_baseline_limit_and_tolerance():
    moved = {**STORED, "longest_silence_s": 0.5, "words_per_s": 3.6, "pitch": {"jumps": 1}}
    lines = {c.metric: c.describe() for c in voice_checks(moved, STORED, TOL)}
    assert lines["TTS speaker similarity"] == (
        "TTS speaker similarity 0.93 within limit 0.83 (baseline 0.93, tolerance -0.1 absolute)"
    )
    assert lines["TTS longest internal silence s"] == (
        "TTS longest internal silence s 0.5 exceeds limit 0.45 (baseline 0.2, tolerance +0.25 s), "
        "missed by 0.05"
    )
    assert lines["TTS speaking rate words/s"] == (
        "TTS speaking rate words/s 3.6 exceeds limit 3.45 (baseline 3, tolerance ±15%), missed by 0.15"
    )
    assert lines["TTS pitch jumps"] == (
        "TTS pitch jumps 1 exceeds limit 0 (baseline 0, tolerance none new), missed by 1"
    )
    slower = {c.metric: c for c in voice_checks({**STORED, "words_per_s": 2.0}, STORED, TOL)}
    assert slower["TTS speaking rate words/s"].describe() == (
        "TTS speaking rate words/s 2 below limit 2.55 (baseline 3, tolerance ±15%), missed by 0.55"
    )


def test_a_figure_without_a_friendly_name_is_said_by_its_key():
    light = {"not_measured": {"longest_silence_s": "no audio", "similarity": "x"}}
    assert not_measured(light, STORED) == [
        f"longest_silence_s {NOT_MEASURED}",
        f"speaker similarity {NOT_MEASURED}",
    ]


def test_only_the_corpus_figures_the_baseline_holds_are_said_not_measured():
    stored = {"similarity": {"mean": 0.93, "p5": 0.91}}  # the baseline has no DNSMOS either
    assert corpus_not_measured({}, stored) == [f"speaker similarity {NOT_MEASURED}"]
    assert corpus_not_measured({"similarity": {"mean": 0.9}}, stored) == []
