"""The gate's checks as pure functions: each rule against a staged measurement, no model needed.

Every test here stages what a rule must catch (a baseline one word better, a tenth of the
latency, a loaded machine, an edited reference) and asserts the outcome; deleting the rule turns
the test red. The end-to-end wiring of the same rules through pytest is in test_gate_e2e.py.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_speechlab.core.case import Case
from pytest_speechlab.core.health import health
from pytest_speechlab.core.metrics import Timing, corpus_scores, normalize, score
from pytest_speechlab.core.perturb import Perturbation
from pytest_speechlab.core.settings import Tolerances
from pytest_speechlab.gate.checks import (
    FAIL,
    INCONCLUSIVE,
    LOADED_SHARE,
    NEW,
    PASS,
    RETIME_ROUNDS,
    Check,
    Load,
    case_checks,
    corpus_checks,
    corpus_cpu_check,
    corpus_latency_check,
    cpu_check,
    gated_load,
    judge_check,
    latency_check,
    latency_checks,
    latency_scale,
    needs_retiming,
    reference_changed,
    synthesis_checks,
    timestamp_checks,
    worst,
)
from pytest_speechlab.gate.verdicts import identity_differences, perturbed_part
from pytest_speechlab.measure.results import (
    CaseResult,
    CorpusResult,
    PerturbedResult,
    SynthesisResult,
    text_digest,
)
from pytest_speechlab.store.baselines import Baseline, Comparison

TOL = Tolerances()
WORDS = "the quick brown fox jumps over a lazy dog while seven tall ships sail past".split()
NOWHERE = Comparison("toy on cpu", Path("baselines/toy/cpu.json"), None)


def case(case_id: str, text: str) -> Case:
    return Case(id=case_id, audio=Path(f"{case_id}.wav"), text=text, duration_s=2.0)


def result(text: str, heard: str, timing: Timing | None = None, case_id: str = "c") -> CaseResult:
    repeated = timing is not None and len(timing.runs) > 1
    return CaseResult(
        case(case_id, text), heard, score(text, heard), timing or Timing((0.5,)), NOWHERE, repeated
    )


def timing(
    runs: tuple[float, ...],
    calibration: float = 0.05,
    others: float | None = 0.0,
    cpu: tuple[float, ...] = (),
    calibration_cpu: float | None = None,
) -> Timing:
    spent = (calibration_cpu,) * len(runs) if calibration_cpu is not None else ()
    return Timing(runs, (calibration,) * len(runs), (others,) * len(runs), cpu, spent)


# --- latency: calibration and load ------------------------------------------------------------


def test_latency_scale_only_loosens_and_defaults_to_one():
    assert latency_scale(0.10, 50.0) == pytest.approx(2.0)  # this machine ran the round 2x slower
    assert latency_scale(0.025, 50.0) == 1.0  # faster here: never a tighter limit
    assert latency_scale(None, 50.0) == 1.0  # no calibration measured
    assert latency_scale(0.10, None) == 1.0  # no stored calibration
    assert latency_scale(0.10, 0) == 1.0


def test_latency_check_gates_the_fastest_run_scaled_by_its_calibration():
    entry = {"latency_min_ms": 100.0, "calibration_ms": 50.0}
    quiet = latency_check("latency", timing((0.30, 0.12, 0.40)), entry, 0.5)
    assert quiet is not None and quiet.measured == pytest.approx(120.0)  # the fastest run
    assert quiet.limit == pytest.approx(150.0) and quiet.outcome == PASS
    slower_machine = latency_check("latency", timing((0.25,), calibration=0.10), entry, 0.5)
    assert slower_machine is not None and slower_machine.limit == pytest.approx(300.0)  # x2 calibration
    assert slower_machine.outcome == PASS
    assert latency_check("latency", timing((0.25,)), {"latency_ms": 100.0}, 0.5) is None  # nothing stored


def test_a_tenfold_slowdown_fails_on_a_quiet_machine_and_even_under_load():
    entry = {"latency_min_ms": 100.0, "calibration_ms": 50.0}
    quiet = latency_check("latency", timing((1.0,) * 3, others=0.01), entry, 0.5)
    assert quiet is not None and quiet.outcome == FAIL
    loaded = latency_check("latency", timing((1.0,) * 3, others=0.5), entry, 0.5)
    assert loaded is not None and loaded.load == Load(0.5)
    assert loaded.load.explains == pytest.approx(4.0)  # x2 for the half the others took, x2 for waits
    assert loaded.outcome == FAIL  # 1000 ms > 150 ms x 4
    assert "fails all the same" in loaded.describe()


def test_a_slowdown_under_load_within_what_the_load_explains_is_inconclusive():
    entry = {"latency_min_ms": 100.0, "calibration_ms": 50.0}
    loaded = latency_check("latency", timing((0.30, 0.35), others=0.5), entry, 0.5)
    assert loaded is not None and not loaded.within
    assert loaded.outcome == INCONCLUSIVE and not loaded.passed
    assert "inconclusive: other processes used 50% of the CPU" in loaded.describe()
    # the same timing on a quiet machine is a regression
    quiet = latency_check("latency", timing((0.30, 0.35), others=LOADED_SHARE / 2), entry, 0.5)
    assert quiet is not None and quiet.outcome == FAIL
    # unknown load (no /proc/stat): judged as quiet
    unknown = latency_check("latency", timing((0.30, 0.35), others=None), entry, 0.5)
    assert unknown is not None and unknown.load is None and unknown.outcome == FAIL


# --- CPU time: the cost measure that load does not inflate -------------------------------------

CPU_ENTRY = {"latency_min_ms": 100.0, "calibration_ms": 50.0, "cpu_min_ms": 180.0, "calibration_cpu_ms": 50.0}


def test_the_cpu_check_reads_the_least_cpu_time_scaled_by_the_calibration_rounds_cpu_time():
    check = cpu_check("CPU", timing((0.1, 0.1), cpu=(0.25, 0.19), calibration_cpu=0.05), CPU_ENTRY, 0.5)
    assert check is not None and check.measured == pytest.approx(190.0)  # the least CPU time
    assert check.limit == pytest.approx(270.0) and check.outcome == PASS
    doubled = cpu_check("CPU", timing((0.1,), cpu=(0.36,), calibration_cpu=0.05), CPU_ENTRY, 0.5)
    assert doubled is not None and doubled.outcome == FAIL  # twice the work fails, whatever the load
    slower = cpu_check("CPU", timing((0.1,), cpu=(0.36,), calibration_cpu=0.10), CPU_ENTRY, 0.5)
    assert slower is not None and slower.limit == pytest.approx(540.0) and slower.outcome == PASS
    assert cpu_check("CPU", timing((0.1,)), CPU_ENTRY, 0.5) is None  # no CPU time measured
    assert cpu_check("CPU", timing((0.1,), cpu=(0.2,)), {"latency_min_ms": 100.0}, 0.5) is None


def test_under_load_the_wall_time_is_not_judged_where_the_cpu_time_decides():
    # a niced run beside busy loops: 10x the wall time, the same CPU time as the baseline's
    loaded = timing((1.0,) * 3, others=0.85, cpu=(0.19,) * 3, calibration_cpu=0.05)
    wall, cost = latency_checks("fastest latency ms", loaded, CPU_ENTRY, 0.5)
    assert cost.metric == "fastest CPU ms" and cost.outcome == PASS
    assert wall.cost == cost and not wall.within and wall.outcome == PASS
    assert "wall time not judged: other processes used 85% of the CPU" in wall.describe()
    # the same wall time with twice the CPU time: the CPU check fails, the wall one is inconclusive
    slower = timing((1.0,) * 3, others=0.85, cpu=(0.40,) * 3, calibration_cpu=0.05)
    wall, cost = latency_checks("fastest latency ms", slower, CPU_ENTRY, 0.5)
    assert (wall.outcome, cost.outcome) == (INCONCLUSIVE, FAIL)
    assert "does not pass" in wall.describe()
    # on a quiet machine the wall time is judged as before, CPU time or not
    quiet = timing((1.0,) * 3, others=0.0, cpu=(0.19,) * 3, calibration_cpu=0.05)
    wall, cost = latency_checks("fastest latency ms", quiet, CPU_ENTRY, 0.5)
    assert (wall.outcome, cost.outcome) == (FAIL, PASS)
    # a baseline with no CPU time: the wall check alone, under the old rule
    half = timing((1.0,) * 3, others=0.5, cpu=(0.19,) * 3, calibration_cpu=0.05)
    (only,) = latency_checks("fastest latency ms", half, {"latency_min_ms": 100.0}, 0.5)
    assert only.cost is None and only.outcome == FAIL  # 10x is beyond the x4 this load explains
    assert latency_checks("fastest latency ms", half, CPU_ENTRY, 0.5)[0].outcome == PASS
    assert latency_checks("x latency", loaded, {"cpu_min_ms": 180.0}, 0.5)[0].metric == "x CPU"


def test_a_latency_is_retimed_only_when_loaded_and_ambiguous_or_recorded_and_a_bounded_number_of_times():
    entry = {"latency_min_ms": 100.0, "calibration_ms": 50.0}
    slow_loaded = timing((0.3,), others=0.5)
    assert needs_retiming(slow_loaded, entry, 0.5, update=False)
    assert not needs_retiming(timing((0.3,), others=0.05), entry, 0.5, update=False)  # quiet: judged
    assert not needs_retiming(timing((0.12,), others=0.5), entry, 0.5, update=False)  # within the limit
    assert not needs_retiming(timing((0.12,), others=None), entry, 0.5, update=False)  # load unknown
    assert needs_retiming(timing((0.12,), others=0.5), entry, 0.5, update=True)  # to be recorded
    assert needs_retiming(timing((0.12,), others=0.5), None, 0.5, update=True)  # a first recording
    assert not needs_retiming(timing((0.3,), others=0.5), None, 0.5, update=False)  # nothing to judge by
    with_cpu = timing((0.3,), others=0.5, cpu=(0.2,), calibration_cpu=0.05)
    assert not needs_retiming(with_cpu, CPU_ENTRY, 0.5, update=False)  # the CPU time decides
    assert needs_retiming(with_cpu, entry, 0.5, update=False)  # the baseline has no CPU time
    done = Timing((0.3,), (0.05,), (0.5,), retimed=RETIME_ROUNDS)
    assert not needs_retiming(done, entry, 0.5, update=True)
    assert needs_retiming(Timing((0.3,), (0.05,), (0.5,), retimed=RETIME_ROUNDS - 1), None, 0.5, True)


def test_retimed_runs_are_joined_and_the_fastest_of_all_is_judged():
    first = Timing((0.9, 0.8), (0.05, 0.05), (0.6, 0.7), (0.2, 0.2), (0.05, 0.05))
    again = first.joined(Timing((0.11,), (0.05,), (0.02,), (0.19,), (0.05,)))
    assert again.retimed == 1 and again.min == 0.11 and again.fastest_others_cpu == 0.02
    check = latency_check("latency", again, {"latency_min_ms": 100.0, "calibration_ms": 50.0}, 0.5)
    assert check is not None and check.outcome == PASS and check.retimed == 1
    assert "re-timed 1 more round(s) under load" in check.describe()
    assert again.as_ms()["retimed"] == 1 and again.as_ms()["cpu_min"] == 190.0


def test_the_corpus_cpu_check_totals_the_subsets_cpu_time_and_decides_for_a_loaded_wall_time():
    cases = [case(f"c{i}", "the quick brown fox") for i in range(4)]
    entries = {c.id: {**CPU_ENTRY, "wer": 0.0, "cer": 0.0} for c in cases}
    loaded = timing((1.0,), others=0.8, cpu=(0.2,), calibration_cpu=0.05)
    results = [CaseResult(c, c.text, score(c.text, c.text), loaded, NOWHERE, repeated=True) for c in cases]
    corpus = CorpusResult(results, 0.0, 0.0, NOWHERE)
    cost = corpus_cpu_check(corpus, entries, 0.5)
    assert cost is not None and cost.metric == "latency-subset CPU s (calibrated)"
    assert cost.measured == pytest.approx(0.8) and cost.baseline == pytest.approx(0.72)
    assert cost.outcome == PASS
    wall = corpus_latency_check(corpus, entries, 0.5)
    assert wall is not None and not wall.within and wall.load is not None and wall.load.loaded
    doubled = timing((1.0,), others=0.8, cpu=(0.4,), calibration_cpu=0.05)
    results = [CaseResult(c, c.text, score(c.text, c.text), doubled, NOWHERE, repeated=True) for c in cases]
    slower = corpus_cpu_check(CorpusResult(results, 0.0, 0.0, NOWHERE), entries, 0.5)
    assert slower is not None and slower.outcome == FAIL
    assert corpus_cpu_check(corpus, {c.id: {"latency_min_ms": 1.0} for c in cases}, 0.5) is None


def test_the_load_that_counts_is_the_one_during_the_fastest_run():
    runs = Timing((0.5, 0.2, 0.6), (0.05,) * 3, (0.9, 0.0, 0.8))
    load = gated_load(runs)
    assert load is not None and load.others_cpu == 0.0 and not load.loaded
    assert gated_load(Timing((0.2,))) is None


def test_corpus_latency_scales_each_case_by_its_own_calibration():
    entries = {
        "a": {"latency_min_ms": 100.0, "calibration_ms": 50.0},
        "b": {"latency_min_ms": 200.0, "calibration_ms": 50.0},
    }
    a = result("one two", "one two", timing((0.2, 0.25), calibration=0.1), "a")  # 2x slower machine then
    b = result("three four", "three four", timing((0.2, 0.21)), "b")
    corpus = CorpusResult([a, b], 0.0, 0.0, NOWHERE)
    check = corpus_latency_check(corpus, entries, 0.5)
    assert check is not None and check.measured == pytest.approx(0.1 + 0.2)  # a's 0.2 s is 0.1 s calibrated
    assert check.outcome == PASS
    # one slow case is not a slower model: the bootstrap over cases does not call it significant
    one = CorpusResult([result("one", "one", timing((2.0, 2.0)), "a"), b], 0.0, 0.0, NOWHERE)
    assert (one_check := corpus_latency_check(one, entries, 0.5)) is not None and one_check.outcome == PASS
    both = [result("one", "one", timing((1.0, 1.1)), "a"), result("two", "two", timing((2.0, 2.2)), "b")]
    failing = corpus_latency_check(CorpusResult(both, 0.0, 0.0, NOWHERE), entries, 0.5)
    assert failing is not None and failing.change is not None and failing.change.significant
    assert failing.outcome == FAIL


# --- accuracy ---------------------------------------------------------------------------------


def test_case_checks_need_a_baseline_entry_and_gate_latency_only_when_repeated():
    r = result("the quick brown fox", "the quick brown box")
    assert case_checks(r, None, TOL) == []
    checks = case_checks(r, {"wer": 0.25, "cer": 0.05, "latency_min_ms": 1.0}, TOL)
    assert [c.metric for c in checks] == ["WER", "CER"]  # one run: latency is reported, not gated
    assert [c.outcome for c in checks] == [PASS, PASS]
    stricter = case_checks(r, {"wer": 0.0, "cer": 0.0}, TOL)
    assert [c.outcome for c in stricter] == [FAIL, FAIL]
    assert (
        stricter[0]
        .describe()
        .startswith("WER 0.25 exceeds limit 0.02 (baseline 0, tolerance +0.02 absolute)")
    )


def corpus(n: int = 40, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(6, 12))) for _ in range(n)]


def worsen(text: str) -> str:
    return " ".join(["zebra", *text.split()[1:]])


def staged_corpus(
    refs: list[str], heard: list[str], before: list[str]
) -> tuple[CorpusResult, dict[str, Any]]:
    """This run heard ``heard``; the baseline, stored as a baseline file stores it, heard ``before``."""
    results = [result(r, h, case_id=f"c{i}") for i, (r, h) in enumerate(zip(refs, heard, strict=True))]
    references = [x.score.reference for x in results]
    wer, cer = corpus_scores(references, [x.score.hypothesis for x in results])
    stored_hyps = [normalize(b) for b in before]
    stored_wer, stored_cer = corpus_scores(references, stored_hyps)
    entries = {
        f"c{i}": {"hypothesis": b, "reference_sha256": text_digest(r)}
        for i, (r, b) in enumerate(zip(refs, stored_hyps, strict=True))
    }
    made = CorpusResult(results, wer, cer, NOWHERE)
    stored = {"wer": stored_wer, "cer": stored_cer, "case_ids_sha256": made.case_ids_sha256}
    return made, {"stored": {**stored, "cases": len(refs)}, "entries": entries}


def test_a_baseline_made_perfect_fails_the_corpus_as_significant():
    refs = corpus()
    heard = [worsen(r) if i % 2 else r for i, r in enumerate(refs)]  # this run errs on half the cases
    made, base = staged_corpus(refs, heard, refs)  # the baseline heard every case right
    checks, reason = corpus_checks(made, base["stored"], base["entries"], TOL)
    assert reason is None
    wer, cer = checks[0], checks[1]
    assert wer.metric == "corpus WER" and wer.change is not None and wer.change.significant
    assert wer.outcome == FAIL and wer.describe().endswith(": significant")
    assert cer.metric == "corpus CER" and cer.change is not None and cer.outcome == FAIL


def test_one_word_in_one_case_is_noise_for_the_corpus():
    refs = corpus()
    heard = [worsen(refs[0]), *refs[1:]]
    made, base = staged_corpus(refs, heard, refs)
    checks, _ = corpus_checks(made, base["stored"], base["entries"], Tolerances(wer=0.001, cer=0.001))
    assert all(not c.within for c in checks[:2])  # beyond even a tiny tolerance ...
    assert [c.outcome for c in checks[:2]] == [PASS, PASS]  # ... but not significant
    assert "not significant, passes" in checks[0].describe()


def test_an_edited_reference_is_a_stale_baseline_not_a_regression():
    refs = corpus(8)
    made, base = staged_corpus(refs, refs, refs)
    edited = [refs[0] + " and more", *refs[1:]]
    made, _ = staged_corpus(edited, edited, edited)
    checks, reason = corpus_checks(made, base["stored"], base["entries"], TOL)
    assert checks == [] and reason is not None and reason.endswith("re-record")
    assert reason.startswith("1 reference text(s) changed since the baseline (c0)")
    assert reference_changed(edited[0], base["entries"]["c0"])
    assert not reference_changed(refs[1], base["entries"]["c1"])
    assert not reference_changed(refs[1], {"wer": 0.0})  # an entry from before digests: no claim


def test_corpus_of_other_cases_is_not_compared():
    made, base = staged_corpus(corpus(5), corpus(5), corpus(5))
    other, _ = staged_corpus(corpus(4), corpus(4), corpus(4))
    checks, reason = corpus_checks(other, base["stored"], base["entries"], TOL)
    assert checks == [] and reason is not None and "not comparable" in reason
    assert corpus_checks(made, {}, {}, TOL) == ([], "no corpus baseline")


# --- text-to-speech ---------------------------------------------------------------------------

HEALTH = {
    "duration_s": 2.0,
    "clipping": 0.0,
    "lead_silence_s": 0.1,
    "trail_silence_s": 0.1,
    "rms_dbfs": -20.0,
}


def synthesis(health: dict[str, float], judge: str | None = None, heard: str = "") -> SynthesisResult:
    c = case("t", "hello there")
    s = SynthesisResult(c, np.zeros(10, np.float32), 16000, Timing((0.3,)), health, NOWHERE)
    if judge:
        s.judge, s.judge_score = judge, score(c.text, heard)
    return s


def test_synthesis_duration_is_gated_both_ways_and_no_audio_fails():
    assert worst([c.outcome for c in synthesis_checks(synthesis(HEALTH), HEALTH, TOL)]) == PASS
    longer = synthesis_checks(synthesis({**HEALTH, "duration_s": 2.5}), HEALTH, TOL)
    shorter = synthesis_checks(synthesis({**HEALTH, "duration_s": 1.5}), HEALTH, TOL)
    assert longer[0].outcome == FAIL and shorter[0].outcome == FAIL
    assert "below limit" in shorter[0].describe()
    silent = health(np.zeros(0, np.float32), 16000, "hello")
    assert silent["duration_s"] == 0.0 and silent["rms_dbfs"] == -200.0  # no NaN: results stay JSON
    assert worst([c.outcome for c in synthesis_checks(synthesis(silent), HEALTH, TOL)]) == FAIL


def test_a_changed_judge_is_not_compared():
    s = synthesis(HEALTH, judge="faster_whisper tiny.en float32 sha256:new", heard="hello there")
    s.against = Comparison(
        "toy", Path("b.json"), Baseline(Path("b.json"), cases={"t": {"tts": {"judge_wer": 0.0}}})
    )
    check, reason = judge_check(s, "faster_whisper tiny.en float32 sha256:old", TOL)
    assert check is None and reason is not None
    assert reason.startswith(
        "the baseline was judged by faster_whisper tiny.en float32 sha256:old, this run by"
    )
    same, none = judge_check(s, s.judge, TOL)
    assert none is None and same is not None and same.outcome == PASS


# --- identity ---------------------------------------------------------------------------------


def test_identity_differences_name_each_field():
    stored = {"engine": "fw 1", "model_id": "tiny.en", "source": "p", "revision": "sha256:a",
              "compute_type": "float32", "options": {"beam_size": 5}}  # fmt: skip
    same = identity_differences(stored, dict(stored))
    assert same == []
    changed = identity_differences(stored, {**stored, "compute_type": "int8", "options": {"beam_size": 1}})
    assert changed == [
        "compute_type: 'float32' in the baseline, 'int8' in this run",
        "option beam_size: 5 in the baseline, 1 in this run",
    ]
    assert identity_differences(None, stored) == []
    assert identity_differences(stored, None) == []
    added = identity_differences(stored, {**stored, "options": {"beam_size": 5, "vad_filter": True}})
    assert added == ["option vad_filter: None in the baseline, True in this run"]
    dropped = identity_differences({**stored, "options": None}, {**stored, "options": {"beam_size": 5}})
    assert dropped == ["option beam_size: None in the baseline, 5 in this run"]


def test_check_outcomes():
    within = Check("m", 1.0, 1.0, 1.5, "t")
    assert within.outcome == PASS
    beyond = Check("m", 2.0, 1.0, 1.5, "t")
    assert beyond.outcome == FAIL
    assert Check("m", 2.0, 1.0, 1.5, "t", load=Load(0.3)).outcome == INCONCLUSIVE
    assert Check("m", 2.0, 1.0, 1.5, "t", load=Load(0.05)).outcome == FAIL
    assert worst([PASS, INCONCLUSIVE]) == INCONCLUSIVE and worst([INCONCLUSIVE, FAIL]) == FAIL
    assert worst([]) == PASS


# --- what a check says: the line a reviewer reads ---------------------------------------------


def test_describe_names_the_bound_that_was_missed_and_by_how_much():
    within = Check("TTS RMS dBFS", -26.0, -20.0, -14.0, "±6 dB", floor=-26.0)  # on the floor: within
    assert within.describe() == "TTS RMS dBFS -26 within limit -14 (baseline -20, tolerance ±6 dB)"
    below = Check("TTS RMS dBFS", -30.0, -20.0, -14.0, "±6 dB", floor=-26.0)
    assert below.describe() == "TTS RMS dBFS -30 below limit -26 (baseline -20, tolerance ±6 dB), missed by 4"
    above = Check("WER", 0.25, 0.1, 0.12, "+0.02 absolute")
    assert (
        above.describe()
        == "WER 0.25 exceeds limit 0.12 (baseline 0.1, tolerance +0.02 absolute), missed by 0.13"
    )


def test_describe_adds_the_bootstrap_and_the_load_to_the_line():
    refs = corpus(10)
    made, base = staged_corpus(refs, [worsen(refs[0]), *refs[1:]], refs)
    checks, _ = corpus_checks(made, base["stored"], base["entries"], TOL)
    wer = checks[0]
    assert wer.change is not None and wer.within
    change = wer.change.describe()
    assert (
        change
        == "corpus WER change +0.0119 [+0.0000, +0.0366] (95% one-sided bootstrap over 10 cases, 1 changed)"
    )
    assert (
        wer.describe()
        == f"corpus WER 0.0119 within limit 0.02 (baseline 0, tolerance +0.02 absolute); {change}"
    )
    tight, _ = corpus_checks(made, base["stored"], base["entries"], Tolerances(wer=0.001, cer=0.001))
    assert tight[0].describe() == (
        "corpus WER 0.0119 exceeds limit 0.001 (baseline 0, tolerance +0.001 absolute), missed by 0.0109; "
        f"{change}: not significant, passes"
    )
    entry = {"latency_min_ms": 100.0, "calibration_ms": 50.0}
    loaded = latency_check("fastest latency ms", timing((0.3, 0.35), others=0.5), entry, 0.5)
    assert loaded is not None and loaded.describe() == (
        "fastest latency ms 300 exceeds limit 150 (baseline 100, tolerance +50% after calibration x1.00), "
        "missed by 150; inconclusive: other processes used 50% of the CPU while it was timed "
        "(a slowdown up to x4.0 is within that)"
    )
    beyond = latency_check("fastest latency ms", timing((1.0,), others=0.5), entry, 0.5)
    assert beyond is not None and beyond.describe() == (
        "fastest latency ms 1000 exceeds limit 150 (baseline 100, tolerance +50% after calibration x1.00), "
        "missed by 850; other processes used 50% of the CPU while it was timed, which explains up to x4.0: "
        "fails all the same"
    )
    within = latency_check("fastest latency ms", timing((0.12,), others=0.5), entry, 0.5)
    assert within is not None and within.describe() == (
        "fastest latency ms 120 within limit 150 (baseline 100, tolerance +50% after calibration x1.00)"
    )  # a busy machine is not mentioned where nothing was missed


# --- which checks a case gets -----------------------------------------------------------------


def test_case_checks_gate_only_the_metrics_asked_for_that_the_baseline_has():
    r = result("the quick brown fox", "the quick brown box", timing((0.12, 0.2)))
    entry = {"wer": 0.25, "cer": 0.05, "latency_min_ms": 100.0, "calibration_ms": 50.0}
    checks = case_checks(r, entry, TOL)
    assert [c.metric for c in checks] == ["WER", "CER", "fastest latency ms"]
    assert checks[2].measured == pytest.approx(120.0) and checks[2].limit == pytest.approx(150.0)
    assert [c.metric for c in case_checks(r, entry, TOL, ("cer",))] == ["CER"]
    assert [c.metric for c in case_checks(r, entry, TOL, ("wer",))] == ["WER"]
    assert [c.metric for c in case_checks(r, entry, TOL, ("latency_ms",))] == ["fastest latency ms"]
    assert case_checks(r, {"cer": 0.05}, TOL, ("wer", "latency_ms")) == []  # nothing stored for them
    assert [c.metric for c in case_checks(r, {"wer": 0.25}, TOL)] == ["WER"]  # no latency stored


# --- word timestamps --------------------------------------------------------------------------

# what TimestampError.as_dict stores for Faster-Whisper tiny.en on praatio_mary
MARY = {"reference_words": 4, "matched": 4, "start_mean_ms": 133.0, "start_p95_ms": 292.0,
        "end_mean_ms": 74.0, "end_p95_ms": 145.0, "within_100ms": 0.25}  # fmt: skip


def test_word_timestamps_may_rise_by_the_tolerance_in_ms():
    later_by_50 = {**MARY, "start_mean_ms": 183.0, "end_mean_ms": 124.0}
    within = timestamp_checks(later_by_50, {"timestamps": MARY}, 50)
    assert [c.metric for c in within] == ["word start error mean ms", "word end error mean ms"]
    assert [c.outcome for c in within] == [PASS, PASS]  # 50 ms more is within
    assert [c.limit for c in within] == [183.0, 124.0]
    later = timestamp_checks({**MARY, "start_mean_ms": 412.0}, {"timestamps": MARY}, 50)
    assert [c.outcome for c in later] == [FAIL, PASS]
    assert later[0].describe() == (
        "word start error mean ms 412 exceeds limit 183 (baseline 133, tolerance +50 ms), missed by 229"
    )
    assert timestamp_checks({**MARY, "end_mean_ms": 200.0}, {"timestamps": MARY}, 150)[1].passed
    assert timestamp_checks({**MARY, "start_mean_ms": 0.0}, {"timestamps": MARY}, 50)[0].passed  # better


def test_word_timestamps_are_gated_only_where_both_sides_have_them():
    assert timestamp_checks(None, {"timestamps": MARY}, 50) == []  # not measured: no word timings
    assert timestamp_checks(MARY, {"wer": 0.0}, 50) == []  # the baseline has none
    none_matched = {**MARY, "matched": 0, "start_mean_ms": 0.0, "end_mean_ms": 0.0}
    assert timestamp_checks(none_matched, {"timestamps": MARY}, 50) == []  # heard wrong: the WER's to fail
    assert timestamp_checks(MARY, {"timestamps": none_matched}, 50) == []


def test_the_case_checks_include_the_word_timestamps_with_their_tolerance():
    r = result("mary rolled the barrel", "mary rolled the barrel")
    r.timestamps = {**MARY, "end_mean_ms": 300.0}
    entry = {"wer": 0.0, "cer": 0.0, "timestamps": MARY}
    checks = case_checks(r, entry, TOL)
    assert [c.metric for c in checks][2:] == ["word start error mean ms", "word end error mean ms"]
    assert [c.outcome for c in checks] == [PASS, PASS, PASS, FAIL]
    assert checks[3].limit == 74.0 + TOL.timestamp == 124.0
    assert case_checks(r, entry, Tolerances(timestamp=300.0))[3].passed
    assert [c.metric for c in case_checks(r, entry, TOL, ("wer",))] == ["WER"]
    r.timestamps = None  # an engine without word timings
    assert [c.metric for c in case_checks(r, entry, TOL)] == ["WER", "CER"]


# --- corpus -----------------------------------------------------------------------------------


def test_a_corpus_of_other_cases_says_how_many_each_covers():
    _, base = staged_corpus(corpus(5), corpus(5), corpus(5))
    other, _ = staged_corpus(corpus(4), corpus(4), corpus(4))
    _, reason = corpus_checks(other, base["stored"], base["entries"], TOL)
    assert reason == "baseline corpus covers 5 cases, this run 4 different ones: not comparable"
    stored = {k: v for k, v in base["stored"].items() if k != "cases"}  # an older baseline: no count
    _, reason = corpus_checks(other, stored, base["entries"], TOL)
    assert reason == "baseline corpus covers ? cases, this run 4 different ones: not comparable"


@pytest.mark.parametrize(
    ("edited", "shown"), [(3, "c0, c1, c2"), (4, "c0, c1, c2, ..."), (5, "c0, c1, c2, ...")]
)
def test_edited_references_are_named_three_at_most(edited, shown):
    refs = corpus(8)
    _, base = staged_corpus(refs, refs, refs)
    changed = [r + " and more" if i < edited else r for i, r in enumerate(refs)]
    made, _ = staged_corpus(changed, changed, changed)
    _, reason = corpus_checks(made, base["stored"], base["entries"], TOL)
    assert reason == f"{edited} reference text(s) changed since the baseline ({shown}): re-record"


def test_corpus_wer_is_tested_in_words_and_cer_in_characters():
    refs = corpus(12)
    heard = [worsen(r) if i % 3 == 0 else r for i, r in enumerate(refs)]
    made, base = staged_corpus(refs, heard, heard)  # the baseline heard the same: no change
    checks, _ = corpus_checks(made, base["stored"], base["entries"], TOL)
    wer, cer = checks
    assert wer.change is not None and cer.change is not None
    assert (wer.change.metric, cer.change.metric) == ("WER", "CER")
    # the bootstrap's corpus figures are the corpus WER and CER themselves
    assert wer.change.before == pytest.approx(base["stored"]["wer"]) == pytest.approx(made.wer)
    assert cer.change.before == pytest.approx(base["stored"]["cer"]) == pytest.approx(made.cer)
    assert cer.describe().endswith(
        "; corpus CER change +0.0000 [+0.0000, +0.0000] (95% one-sided bootstrap over 12 cases, 0 changed)"
    )


def test_a_baseline_without_stored_hypotheses_is_compared_without_a_bootstrap():
    refs = corpus(6)
    made, base = staged_corpus(refs, refs, refs)
    entries = {k: {"reference_sha256": v["reference_sha256"]} for k, v in base["entries"].items()}
    checks, reason = corpus_checks(made, base["stored"], entries, TOL)
    assert reason is None and [c.change for c in checks] == [None, None]
    whole = dict(base["entries"])
    del whole["c5"]  # a case the baseline has no entry for at all, the others with hypotheses
    checks, reason = corpus_checks(made, base["stored"], whole, TOL)
    assert reason is None and [c.change for c in checks] == [None, None]
    # one case without a stored hypothesis is enough to leave the bootstrap out
    some = dict(base["entries"])
    some["c2"] = {"reference_sha256": some["c2"]["reference_sha256"]}
    checks, _ = corpus_checks(made, base["stored"], some, TOL)
    assert [c.change for c in checks] == [None, None]


def test_corpus_checks_include_the_latency_subset():
    a = result("one two", "one two", timing((0.2, 0.25)), "c0")
    b = result("three four", "three four", None, "c1")
    entries = {
        "c0": {"hypothesis": "one two", "latency_min_ms": 100.0, "calibration_ms": 50.0},
        "c1": {"hypothesis": "three four", "latency_min_ms": 100.0, "calibration_ms": 50.0},
    }
    made = CorpusResult([a, b], 0.0, 0.0, NOWHERE)
    stored = {"wer": 0.0, "cer": 0.0, "case_ids_sha256": made.case_ids_sha256}
    checks, _ = corpus_checks(made, stored, entries, Tolerances(latency=1.5))
    assert [c.metric for c in checks] == ["corpus WER", "corpus CER", "latency-subset fastest s (calibrated)"]
    latency = checks[2]
    # only c0 was timed repeatedly; c1's single run is not part of the subset
    assert latency.measured == pytest.approx(0.2) and latency.baseline == pytest.approx(0.1)
    assert latency.limit == pytest.approx(0.25) and latency.outcome == PASS  # tolerance +150%
    assert latency.tolerance == "+150% after calibration x1.00"
    assert latency.change is not None and latency.change.expected == 1.0 and latency.change.cases == 1
    assert latency.load == Load(0.0)
    untimed = CorpusResult([result("one two", "one two", None, "c0"), b], 0.0, 0.0, NOWHERE)
    checks, _ = corpus_checks(untimed, {**stored, "case_ids_sha256": untimed.case_ids_sha256}, entries, TOL)
    assert len(checks) == 2


def test_corpus_latency_takes_the_median_load_and_skips_cases_without_a_stored_latency():
    entries = {"a": {"latency_min_ms": 100.0}, "b": {"latency_min_ms": 100.0}, "c": {"latency_min_ms": 100.0}}
    timed = [
        result("one", "one", timing((0.1, 0.1), others=share), case_id)
        for case_id, share in (("a", 0.2), ("b", 0.4), ("c", 0.9))
    ]
    unstored = result("four", "four", timing((5.0, 5.0)), "d")  # timed, but no baseline entry
    check = corpus_latency_check(CorpusResult([*timed, unstored], 0.0, 0.0, NOWHERE), entries, 0.5)
    assert check is not None and check.load == Load(0.4)
    assert check.measured == pytest.approx(0.3) and check.limit == pytest.approx(0.45)
    unknown = [result("one", "one", timing((0.1, 0.1), others=None), "a")]
    check = corpus_latency_check(CorpusResult(unknown, 0.0, 0.0, NOWHERE), entries, 0.5)
    assert check is not None and check.load is None
    assert corpus_latency_check(CorpusResult([unstored], 0.0, 0.0, NOWHERE), entries, 0.5) is None


# --- text-to-speech health and the judge ------------------------------------------------------


def test_synthesis_checks_each_health_figure_with_its_own_tolerance():
    checks = synthesis_checks(synthesis(HEALTH), HEALTH, TOL)
    assert [c.describe() for c in checks] == [
        "TTS duration s 2 within limit 2.3 (baseline 2, tolerance ±15%)",
        "TTS clipping 0 within limit 0.001 (baseline 0, tolerance +0.001 absolute)",
        "TTS leading silence s 0.1 within limit 0.35 (baseline 0.1, tolerance +0.25 absolute)",
        "TTS trailing silence s 0.1 within limit 0.35 (baseline 0.1, tolerance +0.25 absolute)",
        "TTS RMS dBFS -20 within limit -14 (baseline -20, tolerance ±6 dB)",
    ]
    assert (checks[0].floor, checks[4].floor) == (pytest.approx(1.7), -26.0)
    quiet = synthesis_checks(synthesis({**HEALTH, "rms_dbfs": -26.5}), HEALTH, TOL)
    assert quiet[4].outcome == FAIL and [c.outcome for c in quiet[:4]] == [PASS] * 4
    clipped = synthesis_checks(synthesis({**HEALTH, "clipping": 0.002}), HEALTH, TOL)
    assert clipped[1].outcome == FAIL


def test_synthesis_latency_is_gated_only_when_repeated_and_stored():
    s = synthesis(HEALTH)
    entry = {**HEALTH, "latency_min_ms": 100.0, "calibration_ms": 50.0}
    assert len(synthesis_checks(s, entry, TOL)) == 5  # one run: reported, not gated
    s.timing, s.repeated = timing((0.3, 0.12)), True
    checks = synthesis_checks(s, entry, TOL)
    assert checks[-1].describe() == (
        "TTS fastest latency ms 120 within limit 150 (baseline 100, tolerance +50% after calibration x1.00)"
    )
    assert len(synthesis_checks(s, HEALTH, TOL)) == 5  # nothing stored to compare with
    assert synthesis_checks(s, None, TOL) == []


def test_the_judge_is_compared_only_once_it_listened_and_where_the_baseline_has_its_wer():
    judge = "faster_whisper tiny.en float32 sha256:a"
    heard = synthesis(HEALTH, judge=judge, heard="hello")
    heard.against = Comparison("toy", Path("b.json"), Baseline(Path("b.json"), cases={"t": {"tts": HEALTH}}))
    assert judge_check(heard, judge, TOL) == (None, None)  # the baseline has no judge WER
    unheard = synthesis(HEALTH)
    unheard.against = Comparison(
        "toy", Path("b.json"), Baseline(Path("b.json"), cases={"t": {"tts": {**HEALTH, "judge_wer": 0.0}}})
    )
    assert judge_check(unheard, judge, TOL) == (None, None)  # the judge has not listened
    heard.against = unheard.against
    check, reason = judge_check(heard, judge, TOL)
    assert reason is None and check is not None
    assert check.describe() == (
        "TTS judge WER 0.5 exceeds limit 0.02 (baseline 0, tolerance +0.02 absolute), missed by 0.48"
    )


# --- robustness -------------------------------------------------------------------------------


def perturbed(heard: str, clean_heard: str, record: bool, stored: dict[str, Any] | None) -> PerturbedResult:
    text = "the quick brown fox jumps"
    base = Baseline(Path("b.json"), cases={"c": stored} if stored is not None else {})
    against = Comparison("toy", Path("b.json"), base, Tolerances(wer=0.05, robustness=0.2))
    clean = CaseResult(case("c", text), clean_heard, score(text, clean_heard), Timing((0.5,)), against)
    noise = Perturbation.of("noise", snr_db=10)
    return PerturbedResult(noise, heard, score(text, heard), clean, recorded=record)


def _judged(result: PerturbedResult) -> Check | None:
    """The one check of a perturbed transcription's part of the verdict; None where it is NEW."""
    part = perturbed_part(result)
    assert (part.verdict == NEW) == (not part.checks)
    return part.checks[0] if part.checks else None


def test_a_drawn_perturbation_is_judged_against_the_clean_wer():
    drawn = perturbed("the quick brown box", "the quick brown fox jumps", False, None)
    check = _judged(drawn)
    assert check is not None and check.against == "clean WER" and check.outcome == FAIL
    assert check.describe() == (
        f"WER with {drawn.perturbation} 0.4 exceeds limit 0.2 (clean WER 0, tolerance +0.2), missed by 0.2"
    )
    within = perturbed("the quick brown fox", "the quick brown fox", False, None)
    assert (c := _judged(within)) is not None and c.baseline == pytest.approx(0.2)
    assert c.limit == pytest.approx(0.4) and c.outcome == PASS


def test_a_recorded_sweep_point_is_judged_against_its_stored_wer():
    point = perturbed("the quick brown fox", "the quick brown fox jumps", True, {"robustness": {}})
    assert _judged(point) is None  # no stored WER for this point
    stored = {"robustness": {"noise-snr10": 0.2}}
    point = perturbed("the quick brown fox", "the quick brown fox jumps", True, stored)
    check = _judged(point)
    assert check is not None and check.against == "baseline" and check.baseline == 0.2
    assert check.metric == f"WER with {point.perturbation}"
    assert check.limit == pytest.approx(0.25) and check.outcome == PASS  # the run's WER tolerance
    worse = perturbed("the quick", "the quick brown fox jumps", True, stored)
    assert (c := _judged(worse)) is not None and c.outcome == FAIL
    assert _judged(perturbed("the quick", "", True, None)) is None  # no baseline entry


def test_a_check_with_every_field_reads_back_from_its_record_the_same():
    """A loaded wall-time check judged by its CPU time, with a floor, a count note, a re-timing and
    a bootstrap: every field survives ``to_json`` and ``from_json``, and so do its outcome, its
    note and its line."""
    from pytest_speechlab.core.stats import Change
    from pytest_speechlab.gate.checks import Judged

    cpu = Check("fastest CPU ms", 90.0, 100.0, 150.0, "+50%")
    wall = Check(
        "fastest latency ms", 300.0, 100.0, 150.0, "+50%", floor=20.0,
        change=Change(0.1, 0.3, 0.05, 0.4, 9, 3), against="calibrated baseline", load=Load(0.6),
        note="2 phrases", cost=cpu, retimed=2,
    )  # fmt: skip
    record = json.loads(json.dumps(wall.to_json()))
    again = Check.from_json(record)
    assert (again.metric, again.measured, again.baseline, again.limit, again.floor) == (
        "fastest latency ms", 300.0, 100.0, 150.0, 20.0,
    )  # fmt: skip
    assert (again.tolerance, again.against, again.note, again.retimed) == (
        "+50%",
        "calibrated baseline",
        "2 phrases",
        2,
    )
    assert again.load == Load(0.6) and again.cost == cpu
    assert again.change == Judged(wall.change.significant, wall.change.describe())  # type: ignore[union-attr]
    assert (again.outcome, again.outcome_note, again.describe()) == (
        wall.outcome,
        wall.outcome_note,
        wall.describe(),
    )
    assert (
        again.to_json() == record and record["note"] == "beyond the limit under load: judged by its CPU time"
    )
    plain = Check("WER", 0.1, 0.1, 0.12, "+0.02 absolute")  # no floor, no change, no load: None in the record
    assert plain.to_json()["floor"] is None and plain.to_json()["change"] is None
    assert Check.from_json(plain.to_json()) == plain
    assert Check.from_json(Check("sim", 0.9, 0.9, float("inf"), "-0.1").to_json()).limit == float("inf")
