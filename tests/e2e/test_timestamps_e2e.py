"""Word timestamps end to end: the real Faster-Whisper through pytest on the two praatio cases
and their reference alignments, with a case that has none. The regression is staged in the
baseline (word times recorded far closer to the alignment than tiny.en gives them), never in
the model; without the timestamp check in the gate the staged run would pass."""

from __future__ import annotations

import pytest

from .conftest import Project, bundled_cases, make_project

ALIGNED = ("praatio_mary", "praatio_bobby")


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
