"""The pytest plugin: options, parametrisation, fixtures and the end-of-session report.

Nothing happens unless ``--speech-model`` (or ``[tool.speechlab] models``) names a model, so the
plugin is inert in projects that install it for other reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from . import devices, hookspecs
from .engines import engine_class
from .errors import SpeechlabError
from .manifest import Case, load_manifest
from .options import Settings, add_options, load_settings
from .report import run_lines, update_lines
from .results import new_baseline, results_json
from .runner import AudioCache, CaseResult, CorpusResult, ModelRun, SynthesisResult, latency_subset
from .storage import dumps, write_atomic, write_baseline


@dataclass
class SpeechSession:
    settings: Settings
    cases: tuple[Case, ...]
    full_manifest: bool
    runs: list[ModelRun]
    updates: list[tuple[str, dict[str, list[Any]]]] = field(default_factory=list)


SESSION = pytest.StashKey[SpeechSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def _build(config: pytest.Config) -> SpeechSession | None:
    settings = load_settings(config)
    if not settings.models:
        if settings.update:
            raise SpeechlabError("--update-baselines: name the model(s) with --speech-model")
        return None
    if settings.manifest is None:
        raise SpeechlabError("no manifest: pass --speech-manifest or set [tool.speechlab] manifest")
    manifest = load_manifest(settings.manifest)
    cases = manifest.select(list(settings.tags))
    extra: dict[str, type] = {}
    for engines in config.hook.pytest_speechlab_engines():
        extra.update(engines)
    names = devices.parse(settings.device)
    audio = AudioCache()
    runs = []
    for model in settings.models:
        cls = engine_class(model, extra)
        for device, reason in devices.resolve(names, cls.unavailable):
            runs.append(ModelRun(model, device, cls, settings, cases, audio, skip_reason=reason))
    return SpeechSession(settings, cases, not settings.tags, runs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "speech_latency: run this test on the latency subset of the manifest only"
    )
    try:
        session = _build(config)
    except SpeechlabError as exc:
        raise pytest.UsageError(str(exc)) from None
    if session is None:
        return
    config.stash[SESSION] = session
    for tag in sorted({t for case in session.cases for t in case.tags}):
        config.addinivalue_line("markers", f"{tag}: manifest tag")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    session = metafunc.config.stash.get(SESSION, None)
    if session is None:
        return
    tts = "speech_synthesis" in metafunc.fixturenames
    if "speech_model" in metafunc.fixturenames:
        task = "tts" if tts else "asr"
        runs = [r for r in session.runs if task in r.engine_cls.tasks]
        if not runs:  # one skip for the test, not one per case
            reason = f"no selected model does {'text-to-speech' if tts else 'speech-to-text'}"
            metafunc.parametrize(
                "speech_model", [pytest.param(None, id="none", marks=pytest.mark.skip(reason=reason))]
            )
            return
        metafunc.parametrize("speech_model", runs, ids=[r.id for r in runs], indirect=True, scope="session")
    if "speech_case" in metafunc.fixturenames:
        cases = tuple(c for c in session.cases if c.text.strip()) if tts else session.cases
        if metafunc.definition.get_closest_marker("speech_latency"):
            cases = latency_subset(cases, session.settings)
        params = [pytest.param(c, id=c.id, marks=[getattr(pytest.mark, t) for t in c.tags]) for c in cases]
        if not params:
            params = [pytest.param(None, id="no-cases", marks=pytest.mark.skip(reason="no case selected"))]
        metafunc.parametrize("speech_case", params)


@pytest.fixture(scope="session")
def speech_model(request: pytest.FixtureRequest) -> ModelRun:
    """The model under test on one device, loaded once per session and warmed up."""
    run: ModelRun | None = getattr(request, "param", None)
    if run is None:
        pytest.skip("no speech model selected: pass --speech-model=NAME")
    if run.skip_reason:
        pytest.skip(run.skip_reason)
    run.engine  # noqa: B018 - load here so that a load failure is reported once, as a fixture error
    return run


@pytest.fixture
def speech_case() -> Case:
    """One manifest case; parametrised from the manifest when a model is selected."""
    pytest.skip("no speech model selected: pass --speech-model=NAME")


def _record(request: pytest.FixtureRequest, result: CaseResult) -> None:
    props = request.node.user_properties
    props += [("wer", result.score.wer), ("cer", result.score.cer), ("rtf", round(result.rtf, 5))]
    props.append(("latency_ms_median", round(result.timing.median * 1000, 2)))


@pytest.fixture
def speech_result(request: pytest.FixtureRequest, speech_model: ModelRun, speech_case: Case) -> CaseResult:
    """The model's transcription of the case, scored; measured once per session."""
    result = speech_model.measure(speech_case)
    _record(request, result)
    return result


@pytest.fixture
def speech_latency(request: pytest.FixtureRequest, speech_model: ModelRun, speech_case: Case) -> CaseResult:
    """Like speech_result, with the case also timed ``--speech-repeats`` times."""
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
    result = speech_model.synthesize(speech_case, latency=latency)
    props = request.node.user_properties
    props += [(f"tts_{k}", v) for k, v in result.health.items()]
    props.append(("latency_ms_median", round(result.timing.median * 1000, 2)))
    return result


@pytest.fixture
def speech_corpus(speech_model: ModelRun) -> CorpusResult:
    """Every selected case of the model, scored together (corpus WER over all words)."""
    return speech_model.corpus()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    speech = session.config.stash.get(SESSION, None)
    if speech is None:
        return
    runs = [r for r in speech.runs if not r.skip_reason]
    if speech.settings.update and exitstatus != pytest.ExitCode.INTERRUPTED:
        for run in runs:
            if run.results or run.syntheses:
                baseline, changes, history = new_baseline(run, speech.full_manifest)
                if changes or run.baseline is None:
                    write_baseline(baseline, history)
                speech.updates.append((str(run.baseline_file), changes))
    if speech.settings.results:
        write_atomic(speech.settings.results, dumps(results_json(speech.runs)))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    speech = config.stash.get(SESSION, None)
    if speech is None:
        return
    terminalreporter.write_sep("=", "speechlab summary")
    for run in speech.runs:
        for line in run_lines(run):
            terminalreporter.write_line(line)
    for path, changes in speech.updates:
        for line in update_lines(path, changes):
            terminalreporter.write_line(line)
    if speech.settings.results:
        terminalreporter.write_line(f"speechlab: results written to {speech.settings.results}")
