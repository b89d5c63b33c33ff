"""The pytest plugin: options, parametrisation, fixtures and the end-of-session report.

Nothing happens unless ``--speech-model`` (or ``[tool.speechlab] models``) names a model, so the
plugin is inert in projects that install it for other reasons.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from ..core import devices
from ..core.manifest import Case, load_manifest
from ..core.settings import Settings
from ..engines import engine_class
from ..errors import SpeechlabError
from ..gate.promotion import Evidence, builtin_vetoes
from ..measure.judge import Judge
from ..measure.run import AudioCache, CaseResult, CorpusResult, ModelRun, SynthesisResult, latency_subset
from ..report.html import write_report
from ..report.markdown import markdown
from ..report.results_file import results_document, run_json
from ..report.terminal import comparison_lines, run_lines, update_lines
from ..store.atomic import dumps, shown, write_atomic
from ..store.baselines import new_baseline, write_baseline
from ..store.registry import Registry, change_status, check_transition, load_registry
from . import hookspecs
from .options import add_options, load_settings


@dataclass
class SpeechSession:
    settings: Settings
    cases: tuple[Case, ...]
    full_manifest: bool
    runs: list[ModelRun]
    registry: Registry
    manifest_cases: tuple[Case, ...] = ()
    updates: list[tuple[str, dict[str, list[Any]]]] = field(default_factory=list)
    failed: dict[str, list[str]] = field(default_factory=dict)  # run id -> failed test node ids
    promotion: list[str] = field(default_factory=list)  # what the promotion step decided, and why
    deselected: int = 0  # tests left out with -k or -m: a promotion needs the whole suite


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
    registry = load_registry(settings.registry) if settings.registry else Registry(settings.registry)
    _check_promotion(settings, registry)
    audio = AudioCache()
    runs = []
    for model in settings.models:
        cls = engine_class(model, extra)
        model_settings = _with_registry_thresholds(settings, registry, model)
        for device, reason in devices.resolve(names, cls.unavailable):
            runs.append(ModelRun(model, device, cls, model_settings, cases, audio, skip_reason=reason))
    _assign_judges(runs, settings, registry, extra, audio)
    return SpeechSession(settings, cases, not settings.tags, runs, registry, manifest.cases)


def _assign_judges(
    runs: list[ModelRun], settings: Settings, registry: Registry, extra: dict[str, type], audio: AudioCache
) -> None:
    """Give each text-to-speech run its judge: the judge model on the same device, shared with
    a run of that model under test if there is one, so it is loaded once per device."""
    tts = [r for r in runs if "tts" in r.engine_cls.tasks and not r.skip_reason]
    if not settings.judge or not tts:
        return
    cls = engine_class(settings.judge, extra)
    if "asr" not in cls.tasks:
        raise SpeechlabError(f"--speech-judge: {settings.judge} does not do speech-to-text")
    judges: dict[str, Judge] = {}
    for run in tts:
        if run.device not in judges:
            same = next((r for r in runs if r.name == settings.judge and r.device == run.device), None)
            judge_settings = _with_registry_thresholds(settings, registry, settings.judge)
            judges[run.device] = Judge(
                same or ModelRun(settings.judge, run.device, cls, judge_settings, (), audio)
            )
        run.judge = judges[run.device]


def _with_registry_thresholds(settings: Settings, registry: Registry, model: str) -> Settings:
    """The registry's tolerances for ``model`` over the file's; the command line still wins."""
    entry = registry.models.get(model)
    if entry is None:
        return settings
    chosen = {k: v for k, v in entry.tolerances().items() if k not in settings.given_tolerances}
    return replace(settings, tolerances=replace(settings.tolerances, **chosen)) if chosen else settings


def _check_promotion(settings: Settings, registry: Registry) -> None:
    """Refuse, before anything runs, a promotion that could never be applied."""
    if not settings.promote_to:
        return
    if len(settings.models) != 1:
        raise SpeechlabError("--promote-to: promote one model at a time")
    if settings.update:
        raise SpeechlabError(
            "--promote-to: not with --update-baselines (promote against committed baselines)"
        )
    if not registry.path or not registry.path.is_file():
        raise SpeechlabError(f"--promote-to: no registry at {registry.path}")
    entry = registry.get(settings.models[0])
    check_transition(entry, settings.promote_to, force=settings.promote_force, reason=settings.promote_reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "speech_latency: run this test on the latency subset of the manifest only"
    )
    config.addinivalue_line(
        "markers", "speech_robustness: run this test on the robustness subset of the manifest only"
    )
    config.addinivalue_line(
        "markers", "speech_task(task): run this test with the models doing task: asr or tts"
    )
    config.addinivalue_line("markers", "speech_speed: the speed suite, timed by pytest-benchmark")
    try:
        session = _build(config)
    except SpeechlabError as exc:
        raise pytest.UsageError(str(exc)) from None
    if session is None:
        return
    from ..core import strategies  # here: hypothesis is slow to import, and inert runs do not need it

    strategies.register_profile(session.settings.robustness_examples)
    config.stash[SESSION] = session
    for tag in sorted({t for case in session.cases for t in case.tags}):
        config.addinivalue_line("markers", f"{tag}: manifest tag")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    session = metafunc.config.stash.get(SESSION, None)
    if session is None:
        return
    marker = metafunc.definition.get_closest_marker("speech_task")
    tts = bool({"speech_synthesis", "speech_intelligibility"} & set(metafunc.fixturenames))
    tts = tts or (marker is not None and "tts" in marker.args)
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
        if metafunc.definition.get_closest_marker("speech_robustness"):
            tags = set(session.settings.robustness_tags)
            cases = tuple(c for c in cases if tags & set(c.tags) and c.text.strip())
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
    problem = None
    try:
        run.engine  # noqa: B018 - load here, so that a load failure is a fixture error
    except SpeechlabError as exc:  # a known problem (no weights, no network): one line, no traceback
        problem = str(exc)
    if problem:
        pytest.fail(f"cannot load {run.name} on {run.device}: {problem}", pytrace=False)
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
def speech_intelligibility(
    request: pytest.FixtureRequest, speech_model: ModelRun, speech_case: Case
) -> SynthesisResult:
    """The case's text synthesised, then transcribed by the judge (``--speech-judge``)."""
    if speech_model.judge is None:
        pytest.skip("no judge: --speech-judge=none")
    problem = None
    try:
        speech_model.judge.run.engine  # noqa: B018 - a judge that cannot load fails in one line
    except SpeechlabError as exc:
        problem = str(exc)
    if problem:
        judge = speech_model.judge.run
        pytest.fail(f"cannot load the judge {judge.name} on {judge.device}: {problem}", pytrace=False)
    result = speech_model.judged(speech_case)
    if result.judge_score is not None:
        request.node.user_properties.append(("tts_judge_wer", result.judge_score.wer))
    return result


@pytest.fixture
def speech_corpus(speech_model: ModelRun) -> CorpusResult:
    """Every selected case of the model, scored together (corpus WER over all words)."""
    return speech_model.corpus()


def pytest_deselected(items: list[pytest.Item]) -> None:
    speech = items[0].config.stash.get(SESSION, None) if items else None
    if speech is not None:
        speech.deselected += len(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Note which model each failed or errored test belongs to, for the promotion gate; a
    SpeechlabError (an endpoint's 4xx, a network error) is reported as its one line."""
    report = yield
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(SpeechlabError):
        report.longrepr = str(call.excinfo.value)
    speech = item.config.stash.get(SESSION, None)
    run = getattr(getattr(item, "callspec", None), "params", {}).get("speech_model")
    if speech is not None and report.failed and isinstance(run, ModelRun):
        speech.failed.setdefault(run.id, []).append(item.nodeid)
    return report


def pytest_speechlab_promotion(
    config: pytest.Config, model: str, target: str, results: Evidence
) -> list[str]:
    """The built-in gate on promotions (see ``promotion.builtin_vetoes``)."""
    speech = config.stash[SESSION]
    run = next(r for r in speech.runs if r.name == model)
    return builtin_vetoes(results, run.engine_cls.tasks)


def _promote(session: pytest.Session, speech: SpeechSession, data: list[dict[str, Any]]) -> None:
    """Ask every promotion hook; apply the change only if none objects, else fail the run."""
    settings = speech.settings
    model, target = settings.models[0], str(settings.promote_to)
    evidence = Evidence(
        model=model,
        target=target,
        entry=speech.registry.get(model),
        runs=data,
        manifest_cases=speech.manifest_cases,
        failed_tests=[t for r in speech.runs for t in speech.failed.get(r.id, [])],
        exitstatus=int(session.exitstatus),
        deselected=speech.deselected,
    )
    reasons: list[str] = []
    for answer in session.config.hook.pytest_speechlab_promotion(
        config=session.config, model=model, target=target, results=evidence
    ):
        reasons += [answer] if isinstance(answer, str) else list(answer or [])
    change = None
    if not reasons:
        identity = next((r["identity"] for r in data if r["identity"]), {})
        try:
            change = change_status(
                speech.registry.path,
                model,
                target,
                reason=settings.promote_reason,
                force=settings.promote_force,
                evidence={
                    "results_sha256": evidence.results_sha256,
                    "results": str(settings.results) if settings.results else None,
                    "metrics": evidence.metrics(),
                },
                fields={
                    **{k: str(identity.get(k, "")) for k in ("engine", "source", "revision")},
                    "options": next((r["options"] for r in data if r["identity"]), {}),
                },
            )
        except SpeechlabError as exc:
            reasons.append(str(exc))
    if change is None:
        speech.promotion = [f"{model}: promotion to {target} BLOCKED; the registry is unchanged", *reasons]
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        speech.promotion = [
            f"{model}: {change['from']} -> {target}, recorded in {speech.registry.path}",
            f"results sha256 {evidence.results_sha256[:16]}..., commit {change['commit']}",
        ]


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
                speech.updates.append((shown(run.baseline_file), changes))
    data = [run_json(run) for run in speech.runs]
    if speech.settings.results:
        write_atomic(speech.settings.results, dumps(results_document(data)))
    if speech.settings.promote_to and exitstatus != pytest.ExitCode.INTERRUPTED:
        _promote(session, speech, data)
    if speech.settings.summary:
        write_atomic(speech.settings.summary, markdown(speech.runs, speech.registry, speech.promotion))
    if speech.settings.report:
        write_report(speech.settings.report, data)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    speech = config.stash.get(SESSION, None)
    if speech is None:
        return
    terminalreporter.write_sep("=", "speechlab summary")
    for run in speech.runs:
        for line in run_lines(run):
            terminalreporter.write_line(line)
    for line in comparison_lines(speech.runs):
        terminalreporter.write_line(line)
    for path, changes in speech.updates:
        for line in update_lines(path, changes):
            terminalreporter.write_line(line)
    if speech.settings.results:
        terminalreporter.write_line(f"speechlab: results written to {speech.settings.results}")
    if speech.settings.summary:
        terminalreporter.write_line(f"speechlab: summary written to {speech.settings.summary}")
    if speech.settings.report:
        terminalreporter.write_line(f"speechlab: report written to {speech.settings.report}")
    for i, line in enumerate(speech.promotion):
        terminalreporter.write_line(("speechlab: " if i == 0 else "  ") + line, bold=i == 0)
