"""The edges of the gate's checks: a figure exactly on its bound, the words of a check's line in
full, every field of its record, and the corpus's CPU-time check as the corpus checks include it."""

from __future__ import annotations

import math

import pytest

from pytest_speechlab.core.metrics import Timing, score
from pytest_speechlab.core.settings import Tolerances
from pytest_speechlab.gate.checks import (
    FAIL,
    PASS,
    Check,
    Load,
    corpus_checks,
    corpus_cpu_check,
    corpus_latency_check,
    latency_check,
    latency_checks,
)
from pytest_speechlab.measure.results import CaseResult, CorpusResult

from .test_checks import CPU_ENTRY, NOWHERE, case, timing

LATENCY_ENTRY = {"latency_min_ms": 100.0, "calibration_ms": 50.0}


# --- Check.describe: the bound it names and the words it adds ---------------------------------


def test_a_figure_just_on_its_floor_is_within_and_names_the_upper_limit():
    on_floor = Check("m", 1.0 - 1e-9, 2.0, 3.0, "t", floor=1.0)
    assert on_floor.within
    assert on_floor.describe() == "m 1 within limit 3 (baseline 2, tolerance t)"
    under = Check("m", 0.5, 2.0, 3.0, "t", floor=1.0)
    assert under.describe() == "m 0.5 below limit 1 (baseline 2, tolerance t), missed by 0.5"


def test_a_figure_with_no_upper_limit_names_its_floor():
    floor_only = Check("TTS speaker similarity", 0.95, 0.9, math.inf, "-0.05 absolute", floor=0.85)
    assert floor_only.describe() == (
        "TTS speaker similarity 0.95 within limit 0.85 (baseline 0.9, tolerance -0.05 absolute)"
    )


def test_the_retiming_is_added_to_the_line_not_written_over_it():
    first = Timing((0.9, 0.8), (0.05, 0.05), (0.6, 0.7), (0.2, 0.2), (0.05, 0.05))
    again = first.joined(Timing((0.11,), (0.05,), (0.02,), (0.19,), (0.05,)))
    check = latency_check("latency", again, LATENCY_ENTRY, 0.5)
    assert check is not None and check.describe() == (
        "latency 110 within limit 150 (baseline 100, tolerance +50% after calibration x1.00); "
        "re-timed 1 more round(s) under load"
    )


def test_a_loaded_wall_time_says_in_full_whether_its_cpu_time_passes():
    head = (
        "fastest latency ms 1000 exceeds limit 150 (baseline 100, tolerance +50% after calibration x1.00), "
        "missed by 850; wall time not judged: other processes used 85% of the CPU while it was timed; "
        "the CPU time, which load does not inflate, "
    )
    same_work = timing((1.0,) * 3, others=0.85, cpu=(0.19,) * 3, calibration_cpu=0.05)
    wall, cost = latency_checks("fastest latency ms", same_work, CPU_ENTRY, 0.5)
    assert cost.passed and wall.describe() == head + "passes"
    twice_the_work = timing((1.0,) * 3, others=0.85, cpu=(0.40,) * 3, calibration_cpu=0.05)
    wall, cost = latency_checks("fastest latency ms", twice_the_work, CPU_ENTRY, 0.5)
    assert not cost.passed and wall.describe() == head + "does not pass"


# --- Check.to_json: each field of the record ----------------------------------------------------


def test_the_record_says_whether_the_figure_is_within_and_leaves_out_infinite_bounds():
    within = Check("WER", 0.1, 0.1, 0.12, "+0.02 absolute").to_json()
    beyond = Check("WER", 0.2, 0.1, 0.12, "+0.02 absolute").to_json()
    assert (within["within"], within["outcome"]) == (True, PASS)
    assert (beyond["within"], beyond["outcome"]) == (False, FAIL)
    assert within["limit"] == 0.12 and within["floor"] is None
    no_limit = Check("sim", 0.9, 0.9, math.inf, "-0.1", floor=0.8).to_json()
    assert no_limit["limit"] is None and no_limit["floor"] == 0.8
    assert Check.from_json(no_limit).limit == math.inf and Check.from_json(no_limit).floor == 0.8
    assert Check.from_json(within).floor == -math.inf
    assert set(within) == {
        "metric", "outcome", "within", "note", "line", "measured", "baseline", "limit", "floor",
        "tolerance", "against", "count_note", "change", "others_cpu", "cost", "retimed",
    }  # fmt: skip


# --- the corpus's latency subset: CPU time, calibration and re-timing ---------------------------


def _timed_corpus(timings: list[Timing], heard: str = "one two three") -> CorpusResult:
    """Cases c0, c1, ... each heard right, timed repeatedly with ``timings``."""
    cases = [case(f"c{i}", "one two three") for i in range(len(timings))]
    results = [
        CaseResult(c, heard, score(c.text, heard), t, NOWHERE, repeated=True)
        for c, t in zip(cases, timings, strict=True)
    ]
    return CorpusResult(results, 0.0, 0.0, NOWHERE)


def test_the_corpus_cpu_time_is_scaled_by_each_cases_calibration_round_and_skips_unstored_cases():
    slower_machine = Timing((0.2, 0.2), (0.05, 0.05), (0.0, 0.0), (0.4, 0.4), (0.1, 0.1))
    entries = {f"c{i}": {"cpu_min_ms": 200.0, "calibration_cpu_ms": 50.0} for i in range(2)}
    corpus = _timed_corpus([slower_machine] * 3)  # c2 has no baseline entry at all
    check = corpus_cpu_check(corpus, entries, 0.5)
    assert check is not None
    # 0.4 s of CPU each on a machine that ran the calibration round 2x slower: 0.2 s calibrated
    assert check.measured == pytest.approx(0.4) and check.baseline == pytest.approx(0.4)
    assert check.change is not None and check.change.cases == 2  # type: ignore[attr-defined]
    unscaled = {i: {"cpu_min_ms": 200.0} for i in entries}  # no stored calibration: x1
    check = corpus_cpu_check(corpus, unscaled, 0.5)
    assert check is not None and check.measured == pytest.approx(0.8)


def test_the_corpus_checks_carry_the_cpu_check_beside_the_wall_time_it_decides_for():
    loaded = Timing((1.0, 1.0), (0.05, 0.05), (0.8, 0.8), (0.2, 0.2), (0.05, 0.05))
    entries = {f"c{i}": {"hypothesis": "one two three", **CPU_ENTRY} for i in range(3)}
    corpus = _timed_corpus([loaded] * 3)
    stored = {"wer": 0.0, "cer": 0.0, "case_ids_sha256": corpus.case_ids_sha256}
    checks, reason = corpus_checks(corpus, stored, entries, Tolerances(latency=0.5))
    assert reason is None
    assert [c.metric for c in checks] == [
        "corpus WER",
        "corpus CER",
        "latency-subset fastest s (calibrated)",
        "latency-subset CPU s (calibrated)",
    ]
    wall, cost = checks[2], checks[3]
    assert wall.cost == cost and cost.limit == pytest.approx(0.54 * 1.5)
    assert not wall.within and wall.load == Load(0.8) and wall.outcome == PASS  # the CPU time decides
    assert cost.outcome == PASS


def test_the_corpus_latency_counts_every_cases_retiming_rounds():
    once = Timing((0.1, 0.1), (0.05, 0.05), (0.0, 0.0), retimed=1)
    twice = Timing((0.1, 0.1), (0.05, 0.05), (0.0, 0.0), retimed=2)
    entries = {f"c{i}": dict(LATENCY_ENTRY) for i in range(2)}
    check = corpus_latency_check(_timed_corpus([once, twice]), entries, 0.5)
    assert check is not None and check.retimed == 3
    assert check.describe().endswith("; re-timed 3 more round(s) under load")
    quiet = Timing((0.1, 0.1), (0.05, 0.05), (0.0, 0.0))
    check = corpus_latency_check(_timed_corpus([quiet, quiet]), entries, 0.5)
    assert check is not None and check.retimed == 0
