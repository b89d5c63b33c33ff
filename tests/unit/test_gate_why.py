"""Why the WER moved, judged: what changed, slices, hallucination and voice figures as pure checks
against a staged baseline, their place in the one verdict, and the outputs that render it. No
model: the runs here are built from texts (a toy engine that is never loaded)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pytest_speechlab import (
    assert_no_new_hallucinations,
    assert_slices_within_baseline,
    assert_wer_within_baseline,
)
from pytest_speechlab.core.case import Case
from pytest_speechlab.core.metrics import Timing, corpus_scores, normalize, score
from pytest_speechlab.core.settings import Settings, Tolerances
from pytest_speechlab.gate.checks import FAIL, PASS
from pytest_speechlab.gate.hallucination_checks import hallucination, hallucination_checks
from pytest_speechlab.gate.records import run_record
from pytest_speechlab.gate.slice_checks import slice_checks, slice_report
from pytest_speechlab.gate.verdicts import judge_run
from pytest_speechlab.gate.voice_checks import (
    corpus_not_measured,
    not_measured,
    voice_checks,
    voice_corpus_checks,
)
from pytest_speechlab.gate.what_changed import case_change, run_analysis
from pytest_speechlab.measure.error_analysis import corpus_entry
from pytest_speechlab.measure.quality import NOT_MEASURED
from pytest_speechlab.measure.record import diff
from pytest_speechlab.measure.results import CaseResult, case_ids_digest, text_digest
from pytest_speechlab.measure.run import AudioCache, ModelRun
from pytest_speechlab.report.markdown import markdown
from pytest_speechlab.report.terminal import MAX_ROWS, WORST, run_lines
from pytest_speechlab.store.baselines import Baseline, Comparison

TOL = Tolerances()
WORDS = "the quick brown fox jumps over a lazy dog while seven tall ships sail past".split()


class ToyEngine:
    """A stand-in engine class, never loaded: the runs here are filled with texts."""

    name = "toy"
    tasks = ("asr",)
    default_options: ClassVar[dict[str, Any]] = {}


def case(
    case_id: str, text: str, tags: tuple[str, ...] = ("human",), rate: int = 16000, seconds: float = 3.0
) -> Case:
    return Case(case_id, Path(f"{case_id}.wav"), text, "en", tags, None, rate, 1, seconds)


def lose(text: str, k: int) -> str:
    """``k`` substitutions: the first ``k`` words heard as "zebra"."""
    words = text.split()
    return " ".join(["zebra"] * k + words[k:])


def toy_run(cases: list[Case], now: dict[str, str], before: dict[str, str] | None) -> ModelRun:
    """A run that heard ``now`` (case id to text), against a baseline that stored ``before``."""
    entries = {}
    for c in cases if before is not None else []:
        s = score(c.text, before[c.id])  # type: ignore[index]
        entries[c.id] = {
            "wer": round(s.wer, 4),
            "cer": round(s.cer, 4),
            "hypothesis": s.hypothesis,
            "reference_sha256": text_digest(c.text),
        }
    corpus: dict[str, Any] = {}
    if before is not None:
        speech = [c for c in cases if c.text]
        wer, cer = corpus_scores(
            [normalize(c.text) for c in speech], [entries[c.id]["hypothesis"] for c in speech]
        )
        corpus = {
            "wer": round(wer, 4),
            "cer": round(cer, 4),
            "cases": len(cases),
            "case_ids_sha256": case_ids_digest([c.id for c in cases]),
        }
    path = Path("baselines/toy/cpu.json")
    baseline = Baseline(path, entries, corpus, {"model": "toy"}) if before is not None else None
    against = Comparison("toy on cpu", path, baseline, TOL)
    run = ModelRun("toy", "cpu", ToyEngine, Settings(), tuple(cases), AudioCache(), against)  # type: ignore[arg-type]
    for c in cases:
        run.results[c.id] = CaseResult(c, now[c.id], score(c.text, now[c.id]), Timing((0.1,)), against)
    return run


# --- what changed -----------------------------------------------------------------------------------


def test_a_case_says_what_changed_against_its_stored_hypothesis_first_when_it_fails():
    c = case("cards_002", "four queen of clubs")
    run = toy_run([c], {c.id: "four queen of clothes"}, {c.id: "four queen of clubs"})
    result = run.results[c.id]
    change = case_change(result)
    assert change is not None and [s.word for s in change.newly_wrong] == ["clubs"]
    with pytest.raises(pytest.fail.Exception) as failed:
        assert_wer_within_baseline(result)
    lines = str(failed.value).splitlines()
    assert lines[:2] == ["cards_002: word errors 0 -> 1 (+1)", "  newly wrong: clubs -> clothes"]
    assert lines[5].startswith("cards_002 [toy on cpu]: WER 0.25 exceeds limit 0.02")
    assert judge_run(run).cases[c.id].what_changed == lines[:5]


def test_nothing_changed_and_an_edited_reference_say_nothing():
    c = case("a", "ten of clubs")
    same = toy_run([c], {"a": "ten of clothes"}, {"a": "ten of clothes"})
    assert case_change(same.results["a"]) is None
    edited = case("a", "ten of hearts")
    stale = toy_run([edited], {"a": "ten of clothes"}, {"a": "ten of clubs"})
    stale.against.baseline.cases["a"]["reference_sha256"] = text_digest("ten of clubs")  # type: ignore[union-attr]
    assert case_change(stale.results["a"]) is None


def test_the_run_analysis_adds_up_to_the_corpus_and_says_what_changed():
    rng = random.Random(2)
    cases = [case(f"c{i}", " ".join(rng.choices(WORDS, k=10))) for i in range(6)] + [
        case("quiet", "", ("nonspeech",))
    ]
    before = {c.id: c.text for c in cases}
    now = {**before, "c0": lose(cases[0].text, 2), "quiet": "you"}
    analysis = run_analysis(list(toy_run(cases, now, before).results.values()))
    assert analysis.errors.cases == 6  # speech cases only: the corpus WER is over them
    assert analysis.errors.words.rate == pytest.approx(2 / 60)
    assert analysis.baseline is not None and analysis.baseline.words.errors == 0
    assert analysis.change is not None and analysis.change.errors_after == 2
    assert set(analysis.changes) == {"c0", "quiet"}  # every changed transcript, non-speech too
    assert analysis.what_changed()[0] == "1 cases changed (1 worse, 0 better); word errors 0 -> 2 (+2)"
    json.dumps(analysis.as_dict())


# --- slices -----------------------------------------------------------------------------------------


def staged_slice() -> tuple[list[Case], dict[str, str], dict[str, str]]:
    """60 cases of 12 words against a baseline that lost 2 words of each: the 8 telephone cases
    (8 kHz) lose 5, of the others 20 lose 3 and 20 none. The corpus barely moves (+4 words)."""
    rng = random.Random(3)
    cases, before, now = [], {}, {}
    for i in range(60):
        phone = i < 8
        c = case(
            f"c{i:02d}",
            " ".join(rng.choices(WORDS, k=12)),
            ("human", "sr8000" if phone else "sr16000"),
            rate=8000 if phone else 16000,
        )
        before[c.id] = lose(c.text, 2)
        now[c.id] = lose(c.text, 5 if phone else 3 if i < 28 else 0 if i < 48 else 2)
        cases.append(c)
    return cases, now, before


def test_a_regression_confined_to_one_slice_fails_it_while_the_corpus_passes():
    cases, now, before = staged_slice()
    run = toy_run(cases, now, before)
    report = slice_report(list(run.results.values()), TOL)
    checks = {c.metric: c for c in slice_checks(report.changes)}
    assert checks["slice tag:sr8000 WER"].outcome == FAIL and checks["slice rate:8000 WER"].outcome == FAIL
    assert [m for m, c in checks.items() if c.outcome == FAIL] == [
        "slice rate:8000 WER",
        "slice tag:sr8000 WER",
    ]
    assert "corrected for 7 slices (Holm): significant" in checks["slice tag:sr8000 WER"].describe()
    verdict = judge_run(run, {c.id for c in cases})
    assert verdict.corpus is not None and verdict.corpus.verdict == PASS
    assert verdict.slices is not None and verdict.slices.verdict == FAIL and verdict.overall == FAIL
    regressed = [f"slices: {c.describe()}" for c in report.changes if c.regressed]
    assert [line for line in verdict.failures if line.startswith("slices: ")] == regressed
    with pytest.raises(pytest.fail.Exception) as failed:
        assert_slices_within_baseline(run.corpus())
    message = str(failed.value)
    assert message.startswith("what changed in rate:8000, tag:sr8000:\n  8 cases changed (8 worse, 0 better)")
    assert "slices [toy on cpu]: 2 of 7 tested slices regressed\n  slice rate:8000 WER" in message


def test_unchanged_slices_pass_and_a_slice_without_a_baseline_is_not_compared():
    cases, _, before = staged_slice()
    run = toy_run(cases, before, before)
    assert all(c.outcome == PASS for c in slice_checks(slice_report(list(run.results.values()), TOL).changes))
    assert_slices_within_baseline(run.corpus())
    unbased = judge_run(toy_run(cases, before, None), {c.id for c in cases})
    assert unbased.slices is not None and unbased.slices.not_gated and unbased.slice_report is not None
    assert len(unbased.slice_report.figures) == 7 and not unbased.slice_report.changes


# --- hallucination ----------------------------------------------------------------------------------


def nonspeech_run(now: dict[str, str], before: dict[str, str]) -> ModelRun:
    cases = [
        case("speech", "go forward ten meters"),
        case("silence_3s", "", ("nonspeech",)),
        case("tone_440hz", "", ("nonspeech",)),
        case("talk", "we will be right back", ("longform",), seconds=40.0),
    ]
    base = {
        "speech": "go forward ten meters",
        "talk": "we will be right back",
        "silence_3s": "",
        "tone_440hz": "",
    }
    return toy_run(cases, {**base, **now}, {**base, **before})


def test_a_new_phrase_over_non_speech_fails_and_a_known_one_passes():
    known = nonspeech_run(
        {"silence_3s": "you", "tone_440hz": "beep " * 112}, {"silence_3s": "you", "tone_440hz": "beep " * 80}
    )
    found = hallucination(list(known.results.values()))
    assert found.phrases == {"beep": ("tone_440hz",), "you": ("silence_3s",)} and not found.new
    assert all(c.outcome == PASS for c in hallucination_checks(found))
    assert found.loops["tone_440hz"].repeats == 112 and not found.new_loops  # the baseline looped too
    new = nonspeech_run({"silence_3s": "thank you for watching"}, {"silence_3s": "you"})
    found = hallucination(list(new.results.values()))
    checks = {c.metric: c for c in hallucination_checks(found)}
    assert checks["new phrases on non-speech"].outcome == FAIL
    assert (
        checks["new phrases on non-speech"]
        .describe()
        .endswith('new on non-speech: "thank you for watching" (silence_3s)')
    )
    assert found.gone == ("you",)
    verdict = judge_run(new)
    assert (
        verdict.hallucination is not None
        and verdict.hallucination.verdict == FAIL
        and verdict.overall == FAIL
    )
    with pytest.raises(
        pytest.fail.Exception, match=r"hallucination \[toy on cpu\]: new phrases on non-speech 1"
    ):
        assert_no_new_hallucinations(new.corpus())


def test_the_stored_phrase_set_wins_over_the_stored_hypotheses():
    run = nonspeech_run({"silence_3s": "you"}, {"silence_3s": ""})
    results = list(run.results.values())
    assert hallucination(results).new == {"you": ("silence_3s",)}
    assert hallucination(results, {"you": ["noise_pink"]}).new == {}  # the model version wrote it before


def test_a_new_loop_on_long_form_and_a_newly_empty_output_fail():
    loop = "we will be right back" + " thank you" * 6
    run = nonspeech_run({"talk": loop, "speech": ""}, {})
    checks = {c.metric: c for c in hallucination_checks(hallucination(list(run.results.values())))}
    assert checks["new repetition loops"].outcome == FAIL
    assert checks["new repetition loops"].describe().endswith('talk: "thank you" x6')
    assert checks["newly empty outputs on speech"].outcome == FAIL
    assert checks["newly empty outputs on speech"].describe().endswith("; speech")


# --- voice figures ----------------------------------------------------------------------------------

STORED = {
    "dnsmos": {"sig": 3.58, "bak": 4.19, "ovrl": 3.37, "p808": 4.07},
    "similarity": 0.93,
    "longest_silence_s": 0.2,
    "words_per_s": 3.0,
    "pitch": {"median_hz": 90.0, "voiced_share": 0.5, "jumps": 0},
}


def test_a_drifting_voice_fails_its_similarity_and_the_rest_passes_within_tolerance():
    same = voice_checks({**STORED, "similarity": 0.9}, STORED, TOL)
    assert {c.metric for c in same} == {
        "TTS DNSMOS SIG",
        "TTS DNSMOS BAK",
        "TTS DNSMOS OVRL",
        "TTS DNSMOS P808",
        "TTS speaker similarity",
        "TTS longest internal silence s",
        "TTS speaking rate words/s",
        "TTS pitch jumps",
    }
    assert all(c.outcome == PASS for c in same)
    drifted = {c.metric: c for c in voice_checks({**STORED, "similarity": 0.78}, STORED, TOL)}
    assert drifted["TTS speaker similarity"].outcome == FAIL
    assert (
        drifted["TTS speaker similarity"]
        .describe()
        .startswith("TTS speaker similarity 0.78 below limit 0.83")
    )


@pytest.mark.parametrize(
    ("change", "metric"),
    [
        ({"dnsmos": {**STORED["dnsmos"], "ovrl": 3.0}}, "TTS DNSMOS OVRL"),  # noise: -0.37 beyond 0.3
        ({"longest_silence_s": 0.5}, "TTS longest internal silence s"),  # a stall
        ({"words_per_s": 3.6}, "TTS speaking rate words/s"),  # 20% faster, beyond 15%
        ({"words_per_s": 2.5}, "TTS speaking rate words/s"),  # and slower
        ({"pitch": {"jumps": 1}}, "TTS pitch jumps"),  # an octave error
    ],
)
def test_each_voice_figure_fails_beyond_its_tolerance(change, metric):
    checks = {c.metric: c for c in voice_checks({**STORED, **change}, STORED, TOL)}
    assert [m for m, c in checks.items() if c.outcome == FAIL] == [metric]


def test_figures_not_measured_are_said_not_failed():
    light = {
        "longest_silence_s": 0.2,
        "words_per_s": 3.0,
        "not_measured": {"dnsmos": "speechmos is not usable", "similarity": "x", "pitch": "y"},
    }
    checks = voice_checks(light, STORED, TOL)
    assert {c.metric for c in checks} == {"TTS longest internal silence s", "TTS speaking rate words/s"}
    assert not_measured(light, STORED) == [
        f"DNSMOS {NOT_MEASURED}",
        f"speaker similarity {NOT_MEASURED}",
        f"pitch {NOT_MEASURED}",
    ]
    assert not_measured(light, {}) == []  # a baseline without them: nothing to say


def test_the_corpus_voice_checks_gate_the_mean_and_the_worst_utterances():
    stored = {"dnsmos_ovrl": {"mean": 3.37, "p5": 3.24}, "similarity": {"mean": 0.93, "p5": 0.91}}
    now = {"dnsmos_ovrl": {"mean": 3.3, "p5": 2.8}, "similarity": {"mean": 0.92, "p5": 0.9}}
    checks = {c.metric: c for c in voice_corpus_checks(now, stored, TOL)}
    assert [m for m, c in checks.items() if c.outcome == FAIL] == ["TTS corpus DNSMOS OVRL p5"]
    assert corpus_not_measured({"utterances": 3}, stored) == [
        f"DNSMOS {NOT_MEASURED}",
        f"speaker similarity {NOT_MEASURED}",
    ]


# --- the baseline's new fields ----------------------------------------------------------------------


def test_the_baseline_keeps_sentence_errors_slices_and_phrases_and_diffs_them_flat():
    cases, now, _ = staged_slice()
    cases.append(case("silence_3s", "", ("nonspeech",)))
    now["silence_3s"] = "you"
    entry = corpus_entry(list(toy_run(cases, now, None).results.values()))
    assert entry["sentence_error_rate"] == round(40 / 60, 4)  # 20 cases heard in full
    assert entry["slices"]["tag:sr8000"] == {
        "cases": 8,
        "words": 96,
        "wer": 0.4167,
        "cer": entry["slices"]["tag:sr8000"]["cer"],
    }
    assert entry["nonspeech_phrases"] == {"you": ["silence_3s"]}
    path = Path("b.json")
    old = Baseline(
        path,
        {"p": {"tts": {"dnsmos": {"ovrl": 3.37}, "pitch": {"jumps": 0}}}},
        {"slices": {"tag:x": {"wer": 0.1}}, "tts_quality": {"voice": {"embedding": [0.1], "reference": "p"}}},
    )
    new = Baseline(
        path,
        {"p": {"tts": {"dnsmos": {"ovrl": 3.1}, "pitch": {"jumps": 1}}}},
        {
            "slices": {"tag:x": {"wer": 0.2}},
            "tts_quality": {"voice": {"embedding": [0.2], "reference": "p"}},
            "nonspeech_phrases": {"you": ["s"]},
        },
    )
    assert diff(old, new) == {
        "corpus.nonspeech_phrases": [None, ["you"]],
        "corpus.slices.tag:x.wer": [0.1, 0.2],
        "p.tts.dnsmos.ovrl": [3.37, 3.1],
        "p.tts.pitch.jumps": [0, 1],
    }  # the embedding changed too, but its figures say how


# --- the outputs, at scale --------------------------------------------------------------------------


def test_the_terminal_lists_the_worst_cases_counts_the_rest_and_says_what_changed_first():
    rng = random.Random(4)
    cases = [case(f"c{i:04d}", " ".join(rng.choices(WORDS, k=8))) for i in range(3000)]
    before = {c.id: c.text for c in cases}
    now = {**before, **{c.id: lose(c.text, 2) for c in cases[::500]}}  # six cases lose two words
    run = toy_run(cases, now, before)
    verdict = judge_run(run, {c.id for c in cases})
    lines = run_lines(run, verdict)
    at = lines.index("  what changed against the baseline:")  # first, since cases fail: after the model
    assert at == 2 and lines[at + 1] == "    6 cases changed (6 worse, 0 better); word errors 0 -> 12 (+12)"
    table = [line for line in lines if re.match(r"  c\d{4} ", line)]
    assert len(table) == WORST < MAX_ROWS
    assert all(" FAIL" in line for line in table[:6]) and " FAIL" not in table[6]
    assert f"  ... and {3000 - WORST} more (the worst {WORST} of 3000 are listed;" in "\n".join(lines)
    assert "  cases: 6 FAIL, 2994 pass" in lines
    assert len(lines) < 70
    summary = markdown([(run, verdict)], None, [])
    assert summary.index("**What changed against the baseline**") < summary.index("| metric |")
    assert summary.count("\n- `c") == 6  # every case not passing is listed
    data = run_record(run, verdict).to_json()
    assert len(data["cases"]) == 3000 and data["verdict"]["what_changed"][0].startswith("6 cases changed")
    assert data["cases"][0]["change"]["newly_wrong"][0]["after"] == "zebra"
    assert {r["name"] for r in data["slices"]["rows"]} == {
        "tag:human",
        "language:en",
        "duration:0-5s",
        "rate:16000",
    }
    json.dumps(data)
