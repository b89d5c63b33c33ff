"""The verdict's parts at their edges: a test's own metrics and aspects, a synthesis with several
figures the baseline lacks, a sweep point judged either way, the corpus's "what changed" in every
branch, the reasons a run-wide part is not gated, and a baseline that names no model."""

from __future__ import annotations

from pytest_speechlab.core.metrics import score
from pytest_speechlab.core.perturb import Perturbation
from pytest_speechlab.gate.checks import FAIL, NEW, PASS
from pytest_speechlab.gate.verdicts import (
    NO_IDENTITY,
    Part,
    case_part,
    corpus_part,
    judge_run,
    perturbed_part,
    synthesis_part,
)
from pytest_speechlab.gate.what_changed import run_analysis
from pytest_speechlab.measure.results import PerturbedResult
from pytest_speechlab.store.baselines import Baseline

from .test_verdicts import (
    CASES,
    IDS,
    JUDGE,
    PATH,
    QUALITY,
    RIGHT,
    case,
    hear,
    recorded,
    spoken,
    toy_run,
    voice_baseline,
    voice_entry,
    voice_run,
    voiced,
)

WRONG = {**RIGHT, "a": "the quick brown box"}


# --- a test's part: only its own metrics and aspects -------------------------------------------


def test_a_case_part_checks_only_the_metrics_asked_for():
    result = hear(toy_run(recorded()), WRONG).results["a"]
    assert [c.metric for c in case_part(result).checks] == ["WER", "CER"]
    only = case_part(result, ("wer",))
    assert [c.metric for c in only.checks] == ["WER"] and only.verdict == FAIL and len(only.why) == 1


def test_a_synthesis_part_checks_only_the_aspects_asked_for():
    synthesis = voiced(voice_entry(QUALITY), QUALITY).syntheses["t"]
    everything = synthesis_part(synthesis)
    assert len(everything.checks) == 5 + 1 + 8  # health, the judge, the voice figures
    assert [c.metric for c in everything.checks][:6] == [
        "TTS duration s", "TTS clipping", "TTS leading silence s", "TTS trailing silence s", "TTS RMS dBFS",
        "TTS judge WER",
    ]  # fmt: skip
    judged = synthesis_part(synthesis, ("judge",))
    assert [c.metric for c in judged.checks] == ["TTS judge WER"] and judged.verdict == PASS
    assert len(synthesis_part(synthesis, ("voice",)).checks) == 8


def test_a_synthesis_lacking_both_a_judge_wer_and_voice_figures_in_its_baseline_names_both():
    bare = voice_baseline()
    del bare.cases["t"]["tts"]["judge_wer"]
    part = synthesis_part(voiced(bare, QUALITY).syntheses["t"])
    assert part.verdict == NEW and part.why == ["no baseline in cpu.json: judge WER, voice figures"]
    # voice figures compared, the judge WER not: still new for the judge WER alone
    unjudged = voice_entry(QUALITY)
    del unjudged.cases["t"]["tts"]["judge_wer"]
    part = synthesis_part(voiced(unjudged, QUALITY).syntheses["t"])
    assert part.verdict == NEW and part.why == ["no baseline in cpu.json: judge WER"]
    assert len(part.checks) == 5 + 8


def test_a_synthesis_whose_case_the_baseline_lacks_is_new_without_a_word_on_its_figures():
    elsewhere = Baseline(PATH, cases={}, meta={"judge": JUDGE})
    part = synthesis_part(voiced(elsewhere, QUALITY).syntheses["t"])
    assert part == Part(NEW, ["no baseline in cpu.json"])


# --- perturbations: a sweep point or a drawn one, as asked -------------------------------------


def test_a_perturbed_transcription_is_judged_as_a_sweep_point_or_a_drawn_one_as_asked():
    run = hear(toy_run(recorded()), RIGHT)
    clean = run.results["b"]
    noise = Perturbation.of("noise", snr_db=0)
    drawn = PerturbedResult(noise, "seven", score(clean.case.text, "seven"), clean)
    assert perturbed_part(drawn).verdict == FAIL  # against the clean WER
    as_sweep = perturbed_part(drawn, sweep=True)  # no stored WER for this point: new
    assert as_sweep == Part(NEW, ["no baseline in cpu.json"])
    point = PerturbedResult(noise, "seven", score(clean.case.text, "seven"), clean, recorded=True)
    assert perturbed_part(point).verdict == NEW
    assert perturbed_part(point, sweep=False).verdict == FAIL


# --- the corpus: what changed, in every branch -------------------------------------------------


def test_the_corpus_part_says_what_changed_whether_it_was_compared_or_not():
    run = hear(toy_run(recorded()), WRONG)
    corpus = run.measured_corpus()
    assert corpus is not None
    analysis = run_analysis(list(run.results.values()))
    changed = analysis.what_changed()
    assert changed[0].startswith("1 cases changed (1 worse, 0 better)")
    part = corpus_part(run.against, corpus, analysis)
    assert part is not None and part.verdict == PASS and part.what_changed == changed
    bare = corpus_part(run.against, corpus)
    assert bare is not None and bare.what_changed == [] and bare.checks == part.checks
    verdict = judge_run(run, IDS)
    assert verdict.corpus is not None and verdict.corpus.what_changed == verdict.what_changed() == changed


def test_a_corpus_not_comparable_still_says_what_changed():
    with_new = (*CASES, case("d", "good morning"))
    run = hear(toy_run(recorded(), with_new), {**WRONG, "d": "good morning"})
    verdict = judge_run(run, IDS | {"d"})
    corpus = verdict.corpus
    assert corpus is not None and corpus.verdict == NEW and corpus.why == []
    assert corpus.not_gated is not None and corpus.not_gated.endswith("not comparable")
    assert corpus.what_changed == verdict.what_changed() and corpus.what_changed[0].startswith("1 cases")


# --- run-wide parts: why one is not gated ------------------------------------------------------


def test_with_no_baseline_each_run_wide_part_says_why_it_is_not_gated():
    verdict = judge_run(hear(toy_run(None), RIGHT), IDS)
    assert verdict.slices == Part(NEW, not_gated="no stored hypotheses to compare the slices with")
    assert verdict.hallucination == Part(NEW, not_gated="no stored hypotheses to compare with")
    assert verdict.as_json()["not_gated"] == {
        "corpus": "no corpus baseline",
        "slices": "no stored hypotheses to compare the slices with",
        "hallucination": "no stored hypotheses to compare with",
    }
    voice = judge_run(voiced(None, QUALITY), {"t"})
    assert voice.voice == Part(
        NEW, ["not gated: no voice figures in the baseline"], not_gated="no voice figures in the baseline"
    )


def test_a_run_with_nothing_transcribed_has_no_analysis():
    assert judge_run(spoken(voice_run(voice_baseline())), {"t"}).analysis is None
    errored = toy_run(recorded())
    errored.errors.update(dict.fromkeys(IDS, "RuntimeError: out of memory"))
    assert judge_run(errored, IDS).analysis is None
    assert judge_run(hear(toy_run(recorded()), RIGHT), IDS).analysis is not None


def test_a_baseline_that_names_no_model_is_said_to_be_of_any_model():
    baseline = recorded()
    anonymous = Baseline(PATH, cases=baseline.cases, corpus=baseline.corpus, meta={})
    verdict = judge_run(hear(toy_run(anonymous), RIGHT), IDS)
    assert verdict.identity == [NO_IDENTITY] and verdict.overall == PASS
    assert judge_run(hear(toy_run(baseline), RIGHT), IDS).identity == []
