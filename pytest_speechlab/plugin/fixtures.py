"""The fixtures suites use: the model run, one case, and what the model made of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .stash import SESSION
from .xdist import AT_THE_END, is_worker

if TYPE_CHECKING:  # imported by the session when a model runs; an inert run needs none of them
    from ..core.case import Case
    from ..measure.results import CaseResult, CorpusResult, SynthesisResult
    from ..measure.run import ModelRun


NO_MODEL_REASON = "no speech model selected: pass --speech-model=NAME"


@pytest.fixture(scope="session")
def speech_model(request: pytest.FixtureRequest) -> ModelRun:
    """The model under test on one device, loaded once per session and warmed up."""
    run: ModelRun | None = getattr(request, "param", None)
    if run is None:
        pytest.skip(NO_MODEL_REASON)
    if run.skip_reason:
        pytest.skip(run.skip_reason)
    return run


@pytest.fixture(autouse=True)
def _speech_model_usable(request: pytest.FixtureRequest) -> None:
    """A run no test can measure with (its baseline refused, its engine not loading: a bad
    option value, missing weights) fails the first test that needs it in one line, and skips
    the rest with the same line: not one traceback per test."""
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    run = params.get("speech_model")
    if run is not None and not run.skip_reason:
        once(run)
        on_ray(request, run, params.get("speech_case"))


def on_ray(request: pytest.FixtureRequest, run: ModelRun, case: Case | None) -> None:
    """A case the Ray pass lost (or whose engine failed there) fails its tests, and a lost case
    the tests of the whole corpus, in one line: never measured again here, never judged as part of
    a whole (``--speech-ray``)."""
    speech = request.config.stash.get(SESSION, None)
    outcome = speech.ray.get(run.id) if speech is not None else None
    problem = outcome.problem(run.label, getattr(case, "id", None)) if outcome is not None else None
    if problem:
        pytest.fail(problem, pytrace=False)


def once(run: ModelRun) -> None:
    problem = run.unusable()
    if problem is None:
        return
    if run.unusable_said:
        pytest.skip(problem)
    run.unusable_said = True
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def speech_case() -> Case:
    """One manifest case; parametrised from the manifest when a model is selected."""
    pytest.skip(NO_MODEL_REASON)


def _record(request: pytest.FixtureRequest, result: CaseResult) -> None:
    props = request.node.user_properties
    props += [("wer", result.score.wer), ("cer", result.score.cer), ("rtf", round(result.rtf, 5))]
    props.append(("latency_ms_median", round(result.timing.median * 1000, 2)))
    if result.timestamps:
        props += [(f"word_{k}", result.timestamps[k]) for k in ("start_mean_ms", "end_mean_ms")]


@pytest.fixture
def speech_result(request: pytest.FixtureRequest, speech_model: ModelRun, speech_case: Case) -> CaseResult:
    """The model's transcription of the case, scored; measured once per session."""
    result = speech_model.measure(speech_case)
    _record(request, result)
    return result


@pytest.fixture
def speech_latency(request: pytest.FixtureRequest, speech_model: ModelRun, speech_case: Case) -> CaseResult:
    """Like speech_result, with the case also timed ``--speech-repeats`` times."""
    if is_worker(request.config):
        speech_model.measure(speech_case)
        pytest.skip(AT_THE_END)
    result = speech_model.measure_latency(speech_case)
    _record(request, result)
    return result


@pytest.fixture
def speech_synthesis(
    request: pytest.FixtureRequest, speech_model: ModelRun, speech_case: Case
) -> SynthesisResult:
    """The case's text synthesised and measured; timed ``--speech-repeats`` times in tests
    marked ``speech_latency``."""
    latency = request.node.get_closest_marker("speech_latency") is not None
    if latency and is_worker(request.config):
        speech_model.synthesize(speech_case)
        pytest.skip(AT_THE_END)
    result = speech_model.synthesize(speech_case, latency=latency)
    props = request.node.user_properties
    props += [(f"tts_{k}", v) for k, v in result.health.items()]
    props.append(("latency_ms_median", round(result.timing.median * 1000, 2)))
    return result


@pytest.fixture
def speech_intelligibility(
    request: pytest.FixtureRequest, speech_model: ModelRun, speech_case: Case
) -> SynthesisResult:
    """The case's text synthesised, then transcribed by the judge (``--speech-judge``)."""
    if speech_model.judge is None:
        pytest.skip("no judge: --speech-judge=none")
    once(speech_model.judge.run)  # a judge that cannot load fails one test in one line
    result = speech_model.judged(speech_case)
    if result.judge_score is not None:
        request.node.user_properties.append(("tts_judge_wer", result.judge_score.wer))
    return result


@pytest.fixture
def speech_voice(
    request: pytest.FixtureRequest, speech_model: ModelRun, speech_case: Case
) -> SynthesisResult:
    """The case's text synthesised, with its voice figures: DNSMOS, speaker similarity to the
    voice's reference, longest internal silence, speaking rate, pitch (measured once)."""
    from ..measure.quality import measure_voice

    result = measure_voice(speech_model, speech_case)
    quality = result.quality or {}
    props = request.node.user_properties
    props += [(f"tts_dnsmos_{k}", v) for k, v in (quality.get("dnsmos") or {}).items()]
    props += [
        (f"tts_{k}", quality[k]) for k in ("similarity", "longest_silence_s", "words_per_s") if k in quality
    ]
    return result


@pytest.fixture
def speech_voices(request: pytest.FixtureRequest, speech_model: ModelRun) -> list[SynthesisResult]:
    """Every spoken case of the model synthesised, with its voice figures (measured once each)."""
    if is_worker(request.config):
        pytest.skip(AT_THE_END)
    from ..measure.quality import measure_voice, spoken

    return [measure_voice(speech_model, case) for case in spoken(speech_model)]


@pytest.fixture
def speech_corpus(request: pytest.FixtureRequest, speech_model: ModelRun) -> CorpusResult:
    """Every selected case of the model, scored together (corpus WER over all words)."""
    if is_worker(request.config):
        pytest.skip(AT_THE_END)
    return speech_model.corpus()
