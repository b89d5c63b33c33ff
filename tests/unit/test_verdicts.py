"""The verdict of a run as a pure function of what it measured, on a toy engine: each rule of
``gate/verdicts.py`` staged, no model loaded.

The baselines here are recorded from a toy run by the real recording code
(``measure/record.py``), as ``--update-baselines`` records them; a second toy run is then judged
against them. The same rules end to end, through pytest and the real engine, are in
test_gate_e2e.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from pytest_speechlab.core.case import Case
from pytest_speechlab.core.metrics import Timing, score
from pytest_speechlab.core.perturb import Perturbation
from pytest_speechlab.core.settings import Settings, Tolerances
from pytest_speechlab.engines import ModelIdentity
from pytest_speechlab.gate.assertions import assert_tts_intelligible, assert_tts_within_baseline
from pytest_speechlab.gate.checks import ERROR, FAIL, INCONCLUSIVE, NEW, PASS, STALE, Check
from pytest_speechlab.gate.verdicts import INCOMPLETE, REFERENCE_CHANGED, UPDATED, Part, RunVerdict, judge_run
from pytest_speechlab.measure.record import new_baseline
from pytest_speechlab.measure.results import CaseResult, PerturbedResult, SynthesisResult, text_digest
from pytest_speechlab.measure.run import AudioCache, ModelRun
from pytest_speechlab.store.baselines import Baseline, Comparison

from .test_checks import HEALTH


def case(case_id: str, text: str) -> Case:
    return Case(id=case_id, audio=Path(f"{case_id}.wav"), text=text, duration_s=2.0)


CASES = (
    case("a", "the quick brown fox"),
    case("b", "seven tall ships sail past"),
    case("c", "a lazy dog"),
    case("quiet", ""),
)
IDS = {c.id for c in CASES}
RIGHT = {c.id: c.text for c in CASES}
PATH = Path("baselines/toy/cpu.json")
IDENTITY = ModelIdentity("toy 1", "toy-model", "package:toy", "sha256:aa", "cpu", "float32", {"beam_size": 1})


class ToySpeechEngine:
    """A toy speech-to-text engine for the verdict tests: loaded, never asked to transcribe (the
    tests place what it heard in the run, as ``ModelRun.measure`` does)."""

    name = "toy"
    tasks: ClassVar[tuple[str, ...]] = ("asr",)
    sample_rate = 16000
    default_options: ClassVar[dict[str, Any]] = {}
    identity = IDENTITY

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        return None

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> ToySpeechEngine:
        return cls()


class ToyInt8Engine(ToySpeechEngine):
    """The same toy model in another compute type, with another decoding option."""

    identity = replace(IDENTITY, compute_type="int8", options={"beam_size": 5})


class ToyVoiceEngine(ToySpeechEngine):
    """A toy text-to-speech engine: loaded, never asked to speak."""

    tasks: ClassVar[tuple[str, ...]] = ("tts",)


def toy_run(
    baseline: Baseline | None = None,
    cases: tuple[Case, ...] = CASES,
    engine: type[ToySpeechEngine] = ToySpeechEngine,
    **comparison: Any,
) -> ModelRun:
    against = Comparison("toy on cpu", PATH, baseline, **comparison)
    run = ModelRun("toy", "cpu", engine, Settings(warmup=0), cases, AudioCache(), against)
    assert run.engine.identity == engine.identity  # loaded, as a run that measured anything is
    return run


def hear(run: ModelRun, heard: dict[str, str], timings: dict[str, Timing] | None = None) -> ModelRun:
    """What ``run.measure`` (and ``measure_latency`` for ``timings``) stores for each heard case."""
    for c in run.cases:
        if c.id in heard:
            timing = (timings or {}).get(c.id)
            run.results[c.id] = CaseResult(
                c,
                heard[c.id],
                score(c.text, heard[c.id]),
                timing or Timing((0.5,)),
                run.against,
                bool(timing),
            )
    return run


def recorded(
    heard: dict[str, str] = RIGHT, cases: tuple[Case, ...] = CASES, timings: dict[str, Timing] | None = None
) -> Baseline:
    """The baseline an ``--update-baselines`` run over the whole manifest records."""
    return new_baseline(hear(toy_run(cases=cases, update=True), heard, timings), full_manifest=True).baseline


def timed(seconds: float, others: float = 0.0) -> Timing:
    """Three timed runs of ``seconds`` each, a calibration round of 50 ms before each."""
    return Timing((seconds,) * 3, (0.05,) * 3, (others,) * 3)


# --- the whole run ----------------------------------------------------------------------------


def test_a_baseline_keeps_no_wall_time_timed_under_load_but_records_its_cpu_time():
    quiet = Timing((0.5,) * 3, (0.05,) * 3, (0.0,) * 3, (0.9,) * 3, (0.04,) * 3)
    loaded = Timing((2.0,) * 3, (0.05,) * 3, (0.8,) * 3, (0.95,) * 3, (0.04,) * 3, retimed=2)
    first, second = CASES[0].id, CASES[1].id
    update = new_baseline(
        hear(toy_run(update=True), RIGHT, {first: quiet, second: loaded}), full_manifest=True
    )
    assert update.baseline.cases[first]["latency_min_ms"] == 500.0
    assert update.baseline.cases[first]["cpu_min_ms"] == 900.0
    assert update.baseline.cases[first]["calibration_cpu_ms"] == 40.0
    assert "latency_min_ms" not in update.baseline.cases[second]  # refused: nothing stored before
    assert update.baseline.cases[second]["cpu_min_ms"] == 950.0  # the load-independent figure is kept
    assert update.notes == [
        f"{second}: wall-time latency NOT recorded: other processes used 80% of the CPU during its fastest "
        "run (2 re-timing round(s)); none is stored until it is recorded on a quieter machine"
    ]
    assert update.history["not_recorded"] == update.notes
    # recorded again under load: the stored quiet wall time stays, and the machine it was timed on
    update.baseline.meta["machine"] = {"cpu": "where the wall times were timed"}
    again = toy_run(update.baseline, update=True)
    later = new_baseline(hear(again, RIGHT, {first: loaded}), full_manifest=True)
    assert later.baseline.cases[first]["latency_min_ms"] == 500.0
    assert later.notes[0].endswith("the stored one is kept")
    assert later.baseline.meta["machine"] == {"cpu": "where the wall times were timed"}


def test_a_run_that_hears_what_its_baseline_heard_passes():
    verdict = judge_run(hear(toy_run(recorded()), RIGHT), IDS)
    assert verdict.overall == PASS
    assert {case_id: p.verdict for case_id, p in verdict.cases.items()} == dict.fromkeys(IDS, PASS)
    assert all(p.why == [] and len(p.checks) == 2 for p in verdict.cases.values())  # WER, CER
    assert verdict.corpus is not None and verdict.corpus.verdict == PASS and verdict.corpus.why == []
    assert [c.metric for c in verdict.corpus.checks] == ["corpus WER", "corpus CER"]
    assert (verdict.tts, verdict.robustness, verdict.identity, verdict.unused) == ({}, [], [], [])
    assert verdict.failures == [] and verdict.counts() == {PASS: 4}
    assert verdict.as_json() == {
        "overall": PASS,
        "counts": {PASS: 4},
        "corpus": PASS,
        "parts": {"corpus": PASS, "slices": PASS, "hallucination": PASS},
        "failures": [],
        "what_changed": [],
        "notes": [],
        "identity_differences": [],
        "unused_baseline_entries": [],
        "beyond_the_limit": [],
        "not_gated": {},
    }


def test_a_case_worse_than_its_baseline_fails_with_the_checks_that_say_why():
    verdict = judge_run(hear(toy_run(recorded()), {**RIGHT, "a": "the quick brown box"}), IDS)
    assert verdict.overall == FAIL
    a = verdict.cases["a"]
    assert a.verdict == FAIL and [c.metric for c in a.checks] == ["WER", "CER"]
    assert a.why == [c.describe() for c in a.checks]
    assert a.why[0].startswith("WER 0.25 exceeds limit 0.02 (baseline 0, tolerance +0.02 absolute)")
    # one word in three speech cases moves the corpus past its tolerance, but not significantly
    assert verdict.corpus is not None and verdict.corpus.verdict == PASS and verdict.corpus.why == []
    assert not verdict.corpus.checks[0].within
    assert verdict.failures == [f"a: {a.why[0]}; {a.why[1]}"]
    assert verdict.counts() == {FAIL: 1, PASS: 3}
    assert verdict.as_json()["counts"] == {FAIL: 1, PASS: 3} and verdict.as_json()["overall"] == FAIL
    assert verdict.as_json()["failures"] == verdict.failures


def test_a_worse_corpus_fails_the_run_and_says_so_on_its_own_line():
    refs = {f"s{i}": "the quick brown fox jumps over a lazy dog" for i in range(12)}
    cases = tuple(case(i, text) for i, text in refs.items())
    baseline = recorded(refs, cases)
    worse = {
        i: "zebra " + text.split(" ", 1)[1] if n % 2 else text for n, (i, text) in enumerate(refs.items())
    }
    verdict = judge_run(hear(toy_run(baseline, cases), worse, None), set(refs))
    assert verdict.corpus is not None and verdict.corpus.verdict == FAIL
    assert verdict.corpus.why == [c.describe() for c in verdict.corpus.checks]  # WER and CER both fail
    corpus_lines = [f"corpus: {line}" for line in verdict.corpus.why]  # one line a check
    assert [line for line in verdict.failures if line.startswith("corpus: ")] == corpus_lines
    assert verdict.as_json()["corpus"] == FAIL
    # without a corpus failure, no corpus line
    fine = judge_run(hear(toy_run(baseline, cases), refs), set(refs))
    assert fine.failures == [] and fine.overall == PASS


def test_an_errored_case_is_an_error_whatever_else_it_measured():
    run = hear(toy_run(recorded()), {**RIGHT, "a": "the quick brown box"})
    run.errors["b"] = "RuntimeError: out of memory"  # b was measured once, then a timed run raised
    verdict = judge_run(run, IDS)
    assert verdict.cases["b"] == Part(ERROR, ["error: RuntimeError: out of memory"])
    assert verdict.cases["a"].verdict == FAIL  # the other cases are still judged
    assert verdict.overall == ERROR
    assert verdict.failures[:2] == [
        "b: error: RuntimeError: out of memory",
        f"a: {'; '.join(verdict.cases['a'].why)}",
    ]
    assert verdict.counts() == {ERROR: 1, FAIL: 1, PASS: 2}


def test_an_edited_reference_is_re_recorded_and_a_failure_still_comes_first():
    baseline = recorded()
    edited = (*CASES[:2], case("c", "a lazy dog sleeps"), CASES[3])
    run = hear(toy_run(baseline, edited), {**RIGHT, "c": "a lazy dog sleeps"})
    verdict = judge_run(run, IDS)
    assert verdict.cases["c"] == Part(STALE, [REFERENCE_CHANGED])
    reason = "1 reference text(s) changed since the baseline (c): re-record"
    assert verdict.corpus == Part(STALE, [f"not gated: {reason}"], not_gated=reason)
    assert verdict.overall == STALE
    assert verdict.failures == [f"c: {REFERENCE_CHANGED}", f"corpus: not gated: {reason}"]
    failing = judge_run(hear(toy_run(baseline, edited), {**RIGHT, "a": "fox", "c": "a lazy dog sleeps"}), IDS)
    assert failing.overall == FAIL


def test_a_latency_beyond_its_limit_on_a_busy_machine_is_inconclusive_and_outranks_a_new_case():
    baseline = recorded(timings={"a": timed(0.1)})
    assert baseline.cases["a"]["latency_min_ms"] == 100.0 and baseline.cases["a"]["calibration_ms"] == 50.0
    slow = {"a": timed(0.25, others=0.5)}  # 2.5x slower while others took half the CPU: inconclusive
    verdict = judge_run(hear(toy_run(baseline), RIGHT, slow), IDS)
    assert verdict.cases["a"].verdict == INCONCLUSIVE
    assert [c.metric for c in verdict.cases["a"].checks] == ["WER", "CER", "fastest latency ms"]
    assert verdict.corpus is not None and verdict.corpus.verdict == INCONCLUSIVE
    assert verdict.overall == INCONCLUSIVE
    # a case with no baseline entry is new; an inconclusive latency still decides the run
    with_new = (*CASES, case("d", "good morning"))
    run = hear(toy_run(baseline, with_new), {**RIGHT, "d": "good morning"}, slow)
    verdict = judge_run(run, IDS | {"d"})
    assert verdict.cases["d"] == Part(NEW, ["no baseline in cpu.json"])
    assert verdict.overall == INCONCLUSIVE
    # the corpus of other cases is not compared, and not a failure of its own
    assert verdict.corpus is not None and verdict.corpus.verdict == NEW and verdict.corpus.why == []
    assert verdict.corpus.not_gated is not None and verdict.corpus.not_gated.endswith("not comparable")
    # the same on a quiet machine fails
    quiet = judge_run(hear(toy_run(baseline), RIGHT, {"a": timed(0.25)}), IDS)
    assert quiet.overall == FAIL and quiet.cases["a"].verdict == FAIL


def test_a_stale_case_outranks_an_inconclusive_one():
    baseline = recorded(timings={"a": timed(0.1)})
    edited = (*CASES[:2], case("c", "a lazy dog sleeps"), CASES[3])
    run = hear(toy_run(baseline, edited), {**RIGHT, "c": "a lazy dog sleeps"}, {"a": timed(0.25, others=0.5)})
    verdict = judge_run(run, IDS)
    assert verdict.cases["a"].verdict == INCONCLUSIVE and verdict.cases["c"].verdict == STALE
    assert verdict.overall == STALE


def test_new_cases_fail_only_where_the_run_needs_a_baseline_for_everything():
    with_new = (*CASES, case("d", "good morning"))
    heard = {**RIGHT, "d": "good morning"}
    verdict = judge_run(hear(toy_run(recorded(), with_new), heard), IDS | {"d"})
    assert verdict.overall == NEW
    assert verdict.cases["d"] == Part(NEW, ["no baseline in cpu.json"])
    assert "d: no baseline in cpu.json" in verdict.failures
    explore = judge_run(hear(toy_run(recorded(), with_new, new_cases="pass"), heard), IDS | {"d"})
    assert explore.cases["d"] == Part(NEW, []) and explore.failures == []
    assert explore.overall == NEW  # still not a pass: nothing compared it


def test_with_no_baseline_at_all_every_part_is_new():
    verdict = judge_run(hear(toy_run(None), RIGHT), IDS)
    assert verdict.overall == NEW
    assert all(p == Part(NEW, ["no baseline in cpu.json"]) for p in verdict.cases.values())
    assert verdict.corpus == Part(NEW, ["not gated: no corpus baseline"], not_gated="no corpus baseline")
    assert verdict.unused == [] and verdict.identity == []
    explore = judge_run(hear(toy_run(None, new_cases="pass"), RIGHT), IDS)
    assert explore.corpus == Part(NEW, [], not_gated="no corpus baseline")


def test_a_baseline_without_a_corpus_entry_leaves_the_corpus_new():
    baseline = recorded()
    bare = Baseline(PATH, cases=baseline.cases, corpus={}, meta=baseline.meta)
    verdict = judge_run(hear(toy_run(bare), RIGHT), IDS)
    assert all(p.verdict == PASS for p in verdict.cases.values())
    assert verdict.corpus == Part(NEW, ["not gated: no corpus baseline"], not_gated="no corpus baseline")
    assert verdict.overall == NEW


def test_an_update_run_records_and_does_not_compare():
    run = hear(toy_run(recorded(), update=True), {**RIGHT, "a": "fox"})
    verdict = judge_run(run, IDS)
    assert verdict.overall == UPDATED
    assert verdict.cases["a"].verdict == FAIL  # the parts are still judged, for the summary
    unbased = judge_run(hear(toy_run(None, update=True), RIGHT), IDS)
    assert unbased.overall == UPDATED and unbased.cases["a"] == Part(NEW, [])  # nothing to record against


def test_a_run_that_measured_part_of_the_manifest_is_incomplete():
    partial = judge_run(hear(toy_run(recorded()), {"a": RIGHT["a"], "b": RIGHT["b"]}), IDS)
    assert partial.corpus is None and set(partial.cases) == {"a", "b"}
    assert partial.overall == INCOMPLETE
    assert partial.as_json()["corpus"] is None
    failing = judge_run(hear(toy_run(recorded()), {"a": "fox"}), IDS)
    assert failing.overall == FAIL  # a failure is a failure, however few cases ran


def test_a_speech_run_that_measured_nothing_is_incomplete():
    nothing = judge_run(toy_run(recorded()), IDS)
    assert nothing.overall == INCOMPLETE and nothing.cases == {} and nothing.corpus is None
    no_cases = judge_run(toy_run(recorded(), cases=()), IDS)
    assert no_cases.overall == INCOMPLETE


def test_a_refused_baseline_is_one_stale_line():
    refused = "baseline normaliser is other 1, this run's is whisper: re-record with --update-baselines"
    verdict = judge_run(hear(toy_run(recorded(), refused=refused), RIGHT), IDS)
    assert verdict == RunVerdict(STALE, {}, {}, Part(STALE, [refused]), [], [], [])
    assert verdict.failures == [f"corpus: {refused}"]


def test_the_model_differences_and_unused_entries_are_reported():
    baseline = recorded()
    verdict = judge_run(hear(toy_run(baseline, engine=ToyInt8Engine), RIGHT), IDS)
    assert verdict.identity == [
        "compute_type: 'float32' in the baseline, 'int8' in this run",
        "option beam_size: 1 in the baseline, 5 in this run",
    ]
    assert verdict.overall == PASS  # compared all the same; the promotion gate blocks it
    assert verdict.as_json()["identity_differences"] == verdict.identity
    fewer = judge_run(hear(toy_run(baseline), RIGHT), {"a", "quiet"})
    assert fewer.unused == ["b", "c"] and fewer.as_json()["unused_baseline_entries"] == ["b", "c"]
    assert judge_run(hear(toy_run(baseline), RIGHT)).unused == []  # no manifest given: no claim


def test_robustness_failures_fail_the_run_one_line_each():
    baseline = recorded()
    run = hear(toy_run(baseline), RIGHT)
    noise = Perturbation.of("noise", snr_db=0)
    clean = run.results["b"]
    lost = "seven"
    run.perturbed[("b", noise)] = PerturbedResult(noise, lost, score(clean.case.text, lost), clean)
    # a recorded sweep point with no baseline entry is NEW: a failure while new cases fail, as its test
    gain = Perturbation.of("gain", db=-6)
    run.perturbed[("a", gain)] = PerturbedResult(
        gain, "", score(RIGHT["a"], ""), run.results["a"], recorded=True
    )
    verdict = judge_run(run, IDS)
    assert len(verdict.robustness) == 2 and verdict.robustness[1] == "a (robustness): no baseline in cpu.json"
    assert verdict.robustness[0].startswith("b (robustness): WER with ")
    assert "exceeds limit 0.3 (clean WER 0, tolerance +0.3)" in verdict.robustness[0]
    assert verdict.overall == FAIL and verdict.failures == verdict.robustness and verdict.fails
    assert all(p.verdict == PASS for p in verdict.cases.values())
    del run.perturbed[("a", gain)]
    # within the tolerance: no line
    run.perturbed[("b", noise)] = PerturbedResult(noise, RIGHT["b"], score(RIGHT["b"], RIGHT["b"]), clean)
    assert judge_run(run, IDS).robustness == [] and judge_run(run, IDS).overall == PASS


# --- text to speech ---------------------------------------------------------------------------

TEXT = "hello there"
JUDGE = "faster_whisper tiny.en float32 sha256:aa"


def voice_baseline(judge: str = JUDGE, text: str = TEXT, judge_wer: float = 0.0) -> Baseline:
    entry = {"tts": {**HEALTH, "judge_wer": judge_wer}, "reference_sha256": text_digest(text)}
    return Baseline(PATH, cases={"t": entry}, meta={"judge": judge})


def spoken(
    run: ModelRun, health: dict[str, float] = HEALTH, judge: str = JUDGE, heard: str = TEXT
) -> ModelRun:
    """What ``run.judged`` stores: the synthesis, its health and what the judge heard."""
    c = run.cases[0]
    s = SynthesisResult(c, np.zeros(10, np.float32), 16000, Timing((0.3,)), health, run.against)
    s.judge, s.judge_raw, s.judge_score = judge, heard, score(c.text, heard)
    run.syntheses[c.id] = s
    return run


def voice_run(baseline: Baseline | None, text: str = TEXT, **comparison: Any) -> ModelRun:
    return toy_run(baseline, (case("t", text),), ToyVoiceEngine, **comparison)


def test_a_synthesis_like_its_baseline_passes_with_every_health_check_and_the_judge():
    verdict = judge_run(spoken(voice_run(voice_baseline())), {"t"})
    t = verdict.tts["t"]
    assert t.verdict == PASS and t.why == []
    assert [c.metric for c in t.checks] == [
        "TTS duration s",
        "TTS clipping",
        "TTS leading silence s",
        "TTS trailing silence s",
        "TTS RMS dBFS",
        "TTS judge WER",
    ]
    assert verdict.overall == PASS and verdict.corpus is None and verdict.cases == {}
    assert verdict.counts() == {PASS: 1}


def test_a_synthesis_that_the_judge_hears_worse_fails():
    verdict = judge_run(spoken(voice_run(voice_baseline()), heard="yellow there"), {"t"})
    t = verdict.tts["t"]
    assert t.verdict == FAIL and len(t.why) == 1
    assert t.why[0].startswith("TTS judge WER 0.5 exceeds limit 0.02 (baseline 0")
    assert verdict.overall == FAIL and verdict.failures == [f"t (TTS): {t.why[0]}"]
    short = judge_run(spoken(voice_run(voice_baseline()), {**HEALTH, "duration_s": 1.0}), {"t"})
    assert short.tts["t"].verdict == FAIL and short.tts["t"].why[0].startswith(
        "TTS duration s 1 below limit 1.7"
    )


def test_a_synthesis_judged_by_another_judge_or_of_an_edited_text_is_re_recorded():
    other = judge_run(spoken(voice_run(voice_baseline(judge="whisper base.en"))), {"t"})
    assert other.tts["t"] == Part(
        STALE,
        [
            f"the baseline was judged by whisper base.en, this run by {JUDGE}: not comparable: "
            "re-record with --update-baselines"
        ],
    )
    assert other.overall == STALE
    edited = judge_run(spoken(voice_run(voice_baseline(), text="hello there again")), {"t"})
    assert edited.tts["t"] == Part(STALE, [REFERENCE_CHANGED])


def test_a_synthesis_with_no_baseline_is_new_and_a_voice_run_with_nothing_spoken_is_incomplete():
    new = judge_run(spoken(voice_run(None)), {"t"})
    assert new.tts["t"] == Part(NEW, ["no baseline in cpu.json"]) and new.overall == NEW
    assert new.failures == ["t (TTS): no baseline in cpu.json"]
    explore = judge_run(spoken(voice_run(None, new_cases="pass")), {"t"})
    assert explore.tts["t"] == Part(NEW, [])
    silent = judge_run(voice_run(voice_baseline()), {"t"})
    assert silent.overall == INCOMPLETE and silent.tts == {}


def test_tolerances_come_from_the_comparison():
    loose = Tolerances(wer=0.5, cer=0.5)
    verdict = judge_run(
        hear(toy_run(recorded(), tolerances=loose), {**RIGHT, "a": "the quick brown box"}), IDS
    )
    assert verdict.cases["a"].verdict == PASS and verdict.overall == PASS
    judged = judge_run(spoken(voice_run(voice_baseline(), tolerances=loose), heard="yellow there"), {"t"})
    assert judged.tts["t"].verdict == PASS


def test_a_synthesis_the_judge_did_not_listen_to_is_gated_on_its_health_alone():
    run = spoken(voice_run(voice_baseline()))
    unheard = run.syntheses["t"]
    unheard.judge, unheard.judge_raw, unheard.judge_score = None, "", None
    verdict = judge_run(run, {"t"})
    assert verdict.tts["t"].verdict == PASS and len(verdict.tts["t"].checks) == 5
    assert verdict.overall == PASS


def test_a_run_that_never_loaded_its_engine_has_no_identity_to_compare():
    against = Comparison("toy on cpu", PATH, recorded())
    run = ModelRun("toy", "cpu", ToySpeechEngine, Settings(warmup=0), CASES, AudioCache(), against)
    verdict = judge_run(run, IDS)  # a device that was skipped: nothing loaded, nothing measured
    assert run.identity is None and verdict.identity == []
    assert verdict.overall == INCOMPLETE


def test_a_synthesis_heard_by_a_judge_its_baseline_never_had_is_new_in_the_verdict_and_its_test():
    unjudged = voice_baseline()
    del unjudged.cases["t"]["tts"]["judge_wer"]
    run = spoken(voice_run(unjudged))
    verdict = judge_run(run, {"t"})
    assert verdict.tts["t"].verdict == NEW and verdict.tts["t"].why == ["no baseline in cpu.json: judge WER"]
    assert verdict.fails and verdict.failures == ["t (TTS): no baseline in cpu.json: judge WER"]
    with pytest.raises(pytest.fail.Exception, match=r"t \(judge WER\): no baseline for"):
        assert_tts_intelligible(run.syntheses["t"])
    assert_tts_within_baseline(run.syntheses["t"])  # its health has a baseline: that test passes
    explore = spoken(voice_run(unjudged, new_cases="pass"))
    assert judge_run(explore, {"t"}).tts["t"] == Part(NEW, [], verdict.tts["t"].checks)
    assert not judge_run(explore, {"t"}).fails
    assert_tts_intelligible(explore.syntheses["t"])  # new figures pass where new cases do


# --- voice figures: per utterance and over the corpus ------------------------------------------

QUALITY = {
    "dnsmos": {"sig": 3.5, "bak": 4.0, "ovrl": 3.2, "p808": 3.6},
    "similarity": 0.9,
    "longest_silence_s": 0.2,
    "words_per_s": 2.5,
    "pitch": {"jumps": 0},
}


def voiced(baseline: Baseline | None, quality: dict[str, Any], **comparison: Any) -> ModelRun:
    """A text-to-speech run whose one utterance was synthesised, judged and measured for its voice."""
    run = spoken(voice_run(baseline, **comparison))
    run.syntheses["t"].quality = quality
    return run


def voice_entry(quality: dict[str, Any], corpus: dict[str, Any] | None = None) -> Baseline:
    baseline = voice_baseline()
    baseline.cases["t"]["tts"].update(quality)
    if corpus is not None:
        baseline.corpus["tts_quality"] = corpus
    return baseline


CORPUS = {
    **{f"dnsmos_{k}": {"mean": v, "p5": v} for k, v in QUALITY["dnsmos"].items()},
    "similarity": {"mean": 0.9, "p5": 0.9},
}


def test_a_voice_like_its_baseline_passes_every_figure_per_utterance_and_over_the_corpus():
    verdict = judge_run(voiced(voice_entry(QUALITY, CORPUS), QUALITY), {"t"})
    t = verdict.tts["t"]
    assert t.verdict == PASS and t.notes == [] and verdict.overall == PASS
    metrics = [c.metric for c in t.checks]
    assert metrics[-8:] == [
        "TTS DNSMOS SIG", "TTS DNSMOS BAK", "TTS DNSMOS OVRL", "TTS DNSMOS P808", "TTS speaker similarity",
        "TTS longest internal silence s", "TTS speaking rate words/s", "TTS pitch jumps",
    ]  # fmt: skip
    assert verdict.voice is not None and verdict.voice.verdict == PASS
    assert [c.metric for c in verdict.voice.checks][:2] == [
        "TTS corpus DNSMOS SIG mean",
        "TTS corpus DNSMOS SIG p5",
    ]
    assert len(verdict.voice.checks) == 10 and verdict.voice_figures is not None
    assert verdict.runwide()["voice (TTS corpus)"] is verdict.voice


def test_a_voice_that_drifts_fails_its_utterance_and_the_corpus_with_the_figures_that_say_why():
    worse = {
        **QUALITY,
        "similarity": 0.7,
        "pitch": {"jumps": 2},
        "dnsmos": {**QUALITY["dnsmos"], "ovrl": 2.5},
    }
    verdict = judge_run(voiced(voice_entry(QUALITY, CORPUS), worse), {"t"})
    t = verdict.tts["t"]
    assert t.verdict == FAIL and verdict.overall == FAIL
    assert [line.split(" ", 3)[:3] for line in t.why] == [
        ["TTS", "DNSMOS", "OVRL"],
        ["TTS", "speaker", "similarity"],
        ["TTS", "pitch", "jumps"],
    ]
    assert (
        t.why[0]
        == "TTS DNSMOS OVRL 2.5 below limit 2.9 (baseline 3.2, tolerance -0.3 absolute), missed by 0.4"
    )
    assert verdict.voice is not None and verdict.voice.verdict == FAIL
    ovrl = "DNSMOS OVRL {}2.5 below limit 2.9 (baseline 3.2, tolerance -0.3 absolute), missed by 0.4"
    similar = (
        "speaker similarity {}0.7 below limit 0.8 (baseline 0.9, tolerance -0.1 absolute), missed by 0.1"
    )
    assert verdict.voice.why == [
        "TTS corpus " + ovrl.format("mean "),
        "TTS corpus " + ovrl.format("p5 "),
        "TTS corpus " + similar.format("mean "),
        "TTS corpus " + similar.format("p5 "),
    ]
    assert [f for f in verdict.failures if f.startswith("voice")] == [
        f"voice (TTS corpus): {w}" for w in verdict.voice.why
    ]


def test_figures_this_run_could_not_measure_are_said_not_failed():
    unmeasured = {
        "longest_silence_s": 0.2,
        "words_per_s": 2.5,
        "not_measured": {"dnsmos": "no speechmos", "similarity": "no resemblyzer"},
    }
    verdict = judge_run(voiced(voice_entry(QUALITY, CORPUS), unmeasured), {"t"})
    t = verdict.tts["t"]
    assert t.verdict == PASS and t.notes == [
        "DNSMOS not measured (install pytest-speechlab[tts-quality])",
        "speaker similarity not measured (install pytest-speechlab[tts-quality])",
    ]
    assert verdict.voice is not None and verdict.voice.verdict == PASS and verdict.voice.checks == []
    assert verdict.voice.notes == t.notes  # over the corpus, said the same way
    assert verdict.as_json()["notes"] == t.notes and verdict.overall == PASS


def test_voice_figures_with_nothing_to_compare_are_new_failing_only_while_new_cases_fail():
    health_only = voice_baseline()  # a baseline recorded before voice figures were
    verdict = judge_run(voiced(health_only, QUALITY), {"t"})
    assert verdict.tts["t"].verdict == NEW and verdict.tts["t"].why == [
        "no baseline in cpu.json: voice figures"
    ]
    assert verdict.voice == Part(
        NEW, ["not gated: no voice figures in the baseline"], not_gated="no voice figures in the baseline"
    )
    assert verdict.fails and verdict.overall == NEW
    explore = judge_run(voiced(health_only, QUALITY, new_cases="pass"), {"t"})
    assert explore.tts["t"].verdict == NEW and explore.tts["t"].why == [] and not explore.fails
    assert explore.voice == Part(NEW, [], not_gated="no voice figures in the baseline")


def test_no_voice_part_until_every_spoken_case_was_measured():
    run = spoken(voice_run(voice_entry(QUALITY, CORPUS)))  # synthesised and judged, no voice figures
    verdict = judge_run(run, {"t"})
    assert verdict.voice is None and verdict.voice_figures is None
    assert "voice (TTS corpus)" not in verdict.runwide()


def test_the_hallucination_and_slice_records_keep_every_field_the_results_file_shows():
    """A loop and a new phrase over non-speech, a case that lost a word: the records the results
    file and the HTML report read, field by field."""
    loop = " ".join(["thank you for watching"] * 5)
    run = hear(toy_run(recorded({**RIGHT, "quiet": "you"})), {**RIGHT, "a": "the quick brown", "quiet": loop})
    verdict = judge_run(run, IDS)
    assert verdict.hallucination_report is not None and verdict.slice_report is not None
    assert verdict.hallucination_report.as_dict() == {
        "phrases": {"thank you for watching": ["quiet"]},
        "baseline_phrases": ["you"],
        "new_phrases": {"thank you for watching": ["quiet"]},
        "gone_phrases": ["you"],
        "loops": {"quiet": {"phrase": "thank you for watching", "n": 4, "repeats": 5, "start": 0}},
        "new_loops": ["quiet"],
        "empty_outputs": {"cases": 3, "empty": [], "rate": 0.0},
        "baseline_empty_outputs": {"cases": 3, "empty": [], "rate": 0.0},
        "newly_empty": [],
    }
    (row,) = verdict.slice_report.rows()
    assert row == {
        "name": "duration:0-5s", "cases": 3, "words": 12, "wer": 0.083333, "cer": 0.078431,
        "verdict": "pass", "wer_before": 0.0, "cer_before": 0.0, "delta": 0.083333, "low": 0.0,
        "high": 0.181818, "p_value": 0.296352, "p_adjusted": 1.0, "tested": False, "regressed": False,
        "compared_cases": 3,
    }  # fmt: skip
    assert verdict.hallucination_report.describe() == (
        'phrases on non-speech: "thank you for watching" (quiet); 1 new; '
        'repetition loops: quiet "thank you for watching" x5; empty outputs on speech: 0 of 3'
    )
    assert verdict.analysis is not None and verdict.analysis.as_dict()["change"] == {
        "changed_cases": 1, "worse": 1, "better": 0, "errors_before": 0, "errors_after": 1,
        "newly_wrong": [["fox", 1]], "fixed": [], "confusions_appeared": [], "confusions_gone": [],
    }  # fmt: skip
    analysed = verdict.analysis.as_dict()
    assert [analysed[k]["wer"] for k in ("errors", "baseline_errors")] == [0.083333, 0.0]
    assert analysed["errors"]["deletions"] == [["fox", 1]] and analysed["baseline_errors"]["deletions"] == []
    assert verdict.hallucination is not None and verdict.hallucination.verdict == FAIL
    # the phrases the baseline's corpus stored win over those its stored hypotheses imply
    known = recorded({**RIGHT, "quiet": "you"})
    known.corpus["nonspeech_phrases"] = {"thank you for watching": ["elsewhere"], "you": ["quiet"]}
    again = judge_run(hear(toy_run(known), {**RIGHT, "quiet": "thank you for watching"}), IDS)
    assert again.hallucination_report is not None and again.hallucination_report.new == {}
    assert again.hallucination_report.baseline_phrases == ("thank you for watching", "you")
    dropped = judge_run(hear(toy_run(None), {**RIGHT, "b": ""}), IDS).hallucination_report
    assert dropped is not None and dropped.describe() == (
        "phrases on non-speech: none; repetition loops: none; empty outputs on speech: 1 of 3"
    )  # no baseline: no count of new phrases
    unseen = judge_run(hear(toy_run(None), RIGHT), IDS).slice_report
    assert unseen is not None and all(r["verdict"] is None and "delta" not in r for r in unseen.rows())


def test_a_part_writes_each_field_only_where_it_has_one_and_reads_back_the_same():
    check = Check("WER", 0.2, 0.1, 0.12, "+0.02 absolute")
    full = Part(FAIL, ["why"], [check], "not gated", ["changed"], ["a note"])
    record = full.to_json()
    assert list(record) == ["verdict", "why", "outcomes", "what_changed", "notes", "not_gated"]
    assert record["what_changed"] == ["changed"] and record["notes"] == ["a note"]
    assert Part.from_json(record) == full
    assert Part(PASS).to_json() == {"verdict": PASS, "why": []}
    assert Part.from_json({"verdict": NEW}) == Part(NEW)


def test_every_part_not_passing_is_listed_with_its_outcome_robustness_lines_split_at_their_first_colon():
    verdict = RunVerdict(
        FAIL, {"a": Part(PASS), "b": Part(NEW)}, {"t": Part(STALE, ["re-record"])},
        Part(FAIL, ["corpus WER: up"]), ["b (robustness): WER with noise: 0.8 exceeds limit 0.3"], [], [],
    )  # fmt: skip
    assert verdict.not_passing() == [
        ("b", NEW, []),
        ("t (TTS)", STALE, ["re-record"]),
        ("corpus", FAIL, ["corpus WER: up"]),
        ("b (robustness)", FAIL, ["WER with noise: 0.8 exceeds limit 0.3"]),
    ]
