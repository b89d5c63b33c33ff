"""The pytest plugin: options, parametrisation, fixtures and the end-of-session report.

Nothing happens unless ``--speech-model`` (or ``[tool.speechlab] models``) names a model, so the
plugin is inert in projects that install it for other reasons: at import it loads only its
options, hook specifications and fixtures, and everything else when a run asks for a model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import SpeechlabError
from . import hookspecs, xdist
from .fixtures import (
    NO_MODEL_REASON,
    _speech_model_usable,
    speech_case,
    speech_corpus,
    speech_intelligibility,
    speech_latency,
    speech_model,
    speech_result,
    speech_synthesis,
    speech_voice,
    speech_voices,
)
from .options import add_options, load_settings, skips_asked, wanted
from .stash import SESSION

if TYPE_CHECKING:
    from ..core.case import Case
    from ..gate.promotion import Evidence
    from ..gate.records import RunRecord
    from ..measure.run import ModelRun
    from .session import SpeechSession

__all__ = [
    "_speech_model_usable",
    "speech_case",
    "speech_corpus",
    "speech_intelligibility",
    "speech_latency",
    "speech_model",
    "speech_result",
    "speech_synthesis",
    "speech_voice",
    "speech_voices",
]


TTS_FIXTURES = {"speech_synthesis", "speech_intelligibility", "speech_voice", "speech_voices"}


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(wrapper=True)  # before xdist's own, which makes an unset --dist "load"
def pytest_cmdline_main(
    config: pytest.Config,
) -> Generator[None, int | pytest.ExitCode | None, int | pytest.ExitCode | None]:
    if wanted(config):
        xdist.choose_distribution(config)
    return (yield)


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
    if not wanted(config):
        if xdist.is_controller(config) and not skips_asked(config):
            config.pluginmanager.register(ForgottenModel(), "speechlab-forgotten-model")
        return
    from ..io.devices import keep_freed_memory, passive_waiting
    from .session import build

    passive_waiting()  # before any engine loads OpenMP: the CPU-time check needs waiting threads idle
    keep_freed_memory()
    try:
        settings = load_settings(config)
        if xdist.is_worker(config):
            xdist.own_gpu(config, settings.device)
        session = build(config, settings)
        if settings.ray:
            from ..measure.ray_pass import check

            check(settings, xdist.is_controller(config) or xdist.is_worker(config))
    except SpeechlabError as exc:
        raise pytest.UsageError(str(exc)) from None
    if session is None:
        return
    if not xdist.is_worker(config) and not config.option.collectonly:
        from ..io.calibration import calibrate

        # the machine's speed, for the record of what timed: measured here, before any model
        # runs (inference libraries keep their threads spinning a while after a call) and before
        # xdist starts its workers; a worker times nothing that is judged, and does not calibrate
        calibrate()
    config.stash[SESSION] = session
    _wire_retiming(session)
    config.pluginmanager.register(Reported(session), "speechlab-reported")
    if settings.ray:
        config.pluginmanager.register(OnRay(session), "speechlab-ray")
    if xdist.is_controller(config):  # it runs no test: it merges and judges
        config.pluginmanager.register(xdist.Controller(session), "speechlab-xdist")
    else:
        from ..core import strategies  # here: hypothesis is slow to import; inert runs do not need it

        strategies.register_profile(session.settings.robustness_examples)
    for tag in sorted({t for case in session.cases for t in case.tags}):
        config.addinivalue_line("markers", f"{tag}: manifest tag")


def _wire_retiming(session: SpeechSession) -> None:
    """Give each run the gate's re-timing policy: a latency timed under load is timed again
    before it is judged inconclusive or recorded."""
    from functools import partial

    from ..gate.checks import needs_retiming

    for run in session.runs:
        run.retime = partial(
            needs_retiming, tolerance=run.against.tolerances.latency, update=run.against.update
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    session = metafunc.config.stash.get(SESSION, None)
    if session is None:
        return
    marker = metafunc.definition.get_closest_marker("speech_task")
    tts = bool(TTS_FIXTURES & set(metafunc.fixturenames))
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
        from ..measure.run import latency_subset

        cases = tuple(c for c in session.cases if c.text.strip()) if tts else session.cases
        if metafunc.definition.get_closest_marker("speech_latency"):
            cases = latency_subset(cases, session.settings)
        if metafunc.definition.get_closest_marker("speech_robustness"):
            tags = set(session.settings.robustness_tags)
            cases = tuple(c for c in cases if tags & set(c.tags) and c.text.strip())
        # the case id in the test's id: xdist's scheduler groups a case's tests by it (CaseScheduling)
        params = [pytest.param(c, id=c.id, marks=[getattr(pytest.mark, t) for t in c.tags]) for c in cases]
        if not params:
            params = [pytest.param(None, id="no-cases", marks=pytest.mark.skip(reason="no case selected"))]
        metafunc.parametrize("speech_case", params)


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own grouping
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if xdist.is_worker(config) and SESSION in config.stash:
        xdist.group_cases(items)
    if SESSION not in config.stash and not config.option.collectonly and not skips_asked(config):
        speech = sum(bool(SPEECH_FIXTURES & set(getattr(i, "fixturenames", ()))) for i in items)
        if speech and not xdist.is_worker(config):  # under xdist: ForgottenModel, on the controller
            raise pytest.UsageError(forgotten(speech))


SPEECH_FIXTURES = {"speech_case", "speech_model"}


def forgotten(tests: int) -> str:
    """A CI job that forgot the model must not pass with every speech test skipped."""
    return (
        f"speechlab: {tests} speech test(s) collected and no model to run them: pass "
        "--speech-model=NAME or set [tool.speechlab] models (--speech-model=none skips them)"
    )


class ForgottenModel:
    """Under xdist the controller collects nothing: it counts the speech tests its workers
    skipped for want of a model, and makes the run a usage error as a plain run is."""

    def __init__(self) -> None:
        self.skipped = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and NO_MODEL_REASON in str(report.longrepr):
            self.skipped += 1

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.skipped:
            terminalreporter.write_line(forgotten(self.skipped), red=True)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.skipped and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR


class Reported:
    """Notes every test that reported an outcome (here, or from an xdist worker): a promotion
    needs every collected test to have run."""

    def __init__(self, speech: SpeechSession) -> None:
        self.speech = speech

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        """Every test collected, before any hook may drop it from the run (xdist's controller
        hears what its workers collected instead)."""
        self.speech.collected.append(item.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.speech.reported.add(report.nodeid)


class OnRay:
    """``--speech-ray``: before the first test, each speech-to-text run's accuracy pass over the
    cases the selected tests need goes to the Ray cluster (``measure.ray_pass``); the tests then
    read its results, and the run is judged here as a serial one."""

    def __init__(self, speech: SpeechSession) -> None:
        self.speech = speech

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        config = session.config
        broken = session.testsfailed and not config.option.continue_on_collection_errors
        if config.option.collectonly or broken:
            return
        from ..measure.ray_pass import on_ray

        for run in self.speech.runs:
            cases = ray_cases(session.items, run)
            if run.skip_reason or "asr" not in run.engine_cls.tasks or not cases or run.unusable():
                continue  # nothing to send; a run that cannot load says so in its first test
            try:
                self.speech.ray[run.id] = on_ray(run, cases, self.speech.settings)
            except SpeechlabError as exc:
                raise pytest.UsageError(str(exc)) from None


def ray_cases(items: list[pytest.Item], run: ModelRun) -> list[Case]:
    """The cases of ``run`` the selected tests measure: each test's case, and every case for a
    test of the corpus (in manifest order)."""
    wanted: set[str] = set()
    whole = False
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("speech_model") is not run:
            continue
        case = params.get("speech_case")
        if case is not None:
            wanted.add(case.id)
        whole = whole or "speech_corpus" in getattr(item, "fixturenames", ())
    return [c for c in run.cases if whole or c.id in wanted]


def pytest_deselected(items: list[pytest.Item]) -> None:
    speech = items[0].config.stash.get(SESSION, None) if items else None
    if speech is not None:
        speech.deselected += len(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Note which model each failed or errored test belongs to, for the promotion gate and the
    baseline update; a SpeechlabError (an endpoint's 4xx, a network error) is reported as its one
    line."""
    report = yield
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(SpeechlabError):
        report.longrepr = str(call.excinfo.value)
    speech = item.config.stash.get(SESSION, None)
    run = getattr(getattr(item, "callspec", None), "params", {}).get("speech_model")
    if speech is not None and run is not None:
        if report.failed:
            speech.failed.setdefault(run.id, []).append(item.nodeid)
        if xdist.is_worker(item.config):  # the controller learns whose test failed from the report
            report.user_properties.append(("speechlab_run", run.id))
    return report


def pytest_speechlab_promotion(
    config: pytest.Config, model: str, target: str, results: Evidence
) -> list[str]:
    """The built-in gate on promotions (see ``promotion.builtin_vetoes``)."""
    from ..gate.promotion import builtin_vetoes

    speech = config.stash[SESSION]
    run = next(r for r in speech.runs if r.name == model)
    return builtin_vetoes(results, run.engine_cls.tasks)


def _promote(session: pytest.Session, speech: SpeechSession, data: list[RunRecord], document: str) -> None:
    """Ask every promotion hook; apply the change only if none objects, else fail the run.
    ``document`` is the results file's text, whose digest the evidence carries."""
    from ..gate.promotion import Evidence, not_run
    from ..store.atomic import shown
    from ..store.registry import change_status
    from .session import keep_results, promotion_record

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
        results_sha256=hashlib.sha256(document.encode()).hexdigest(),
        not_run=not_run(speech.collected, speech.reported),
    )
    reasons: list[str] = []
    for answer in session.config.hook.pytest_speechlab_promotion(
        config=session.config, model=model, target=target, results=evidence
    ):
        reasons += [answer] if isinstance(answer, str) else list(answer or [])
    change = None
    if not reasons:
        identity: dict[str, Any] = next((r.identity for r in data if r.identity), {})
        kept = keep_results(speech, model, document)
        try:
            change = change_status(
                speech.registry.path,
                model,
                target,
                reason=settings.promote_reason,
                force=settings.promote_force,
                restore=settings.promote_restore,
                evidence=promotion_record(session.config, speech, evidence, data, kept),
                fields={
                    **{k: str(identity.get(k, "")) for k in ("engine", "source", "revision")},
                    "options": next((r.options for r in data if r.identity), {}),
                },
            )
        except SpeechlabError as exc:
            kept.unlink(missing_ok=True)
            reasons.append(str(exc))
    if change is None:
        speech.promotion = [f"{model}: promotion to {target} BLOCKED; the registry is unchanged", *reasons]
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        commit = change["commit"] or "(not a git repository)"
        unverified = speech.unverified_tree
        speech.promotion = [
            f"{model}: {change['from']} -> {target}, recorded in {shown(speech.registry.path)}",
            f"results sha256 {evidence.results_sha256[:16]}..., commit {commit}",
            *([f"NOT verified, forced ({settings.promote_reason}): {unverified}"] if unverified else []),
            *(f"moved: {line}" for line in change.get("since_last_promotion") or []),
        ]


def _update(speech: SpeechSession, run: ModelRun) -> list[str]:
    """Record ``run``'s measurements as its baseline, unless one of its tests failed: a run that
    fails its own checks (an errored case, a broken engine) is never written silently."""
    from ..measure.record import new_baseline
    from ..report.terminal import update_lines
    from ..store.atomic import shown
    from ..store.baselines import write_baseline

    path = shown(run.against.path)
    failed = speech.failed.get(run.id, [])
    if failed:
        shown_tests = ", ".join(failed[:3]) + (", ..." if len(failed) > 3 else "")
        return [f"speechlab: {path} NOT written: {len(failed)} test(s) of {run.label} failed ({shown_tests})"]
    update = new_baseline(run, speech.full_manifest)
    lines = update_lines(path, update.changes, update.removed) + [f"  {note}" for note in update.notes]
    if speech.settings.dry_run:
        return [lines[0].replace("wrote", "would write") + " (dry run: nothing written)", *lines[1:]]
    if update.changes or run.against.baseline is None:
        write_baseline(update.baseline, update.history, run.against.baseline, update.removed)
    return lines


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    speech = session.config.stash.get(SESSION, None)
    if speech is None or session.config.option.collectonly:
        return
    if xdist.is_worker(session.config):  # the controller judges, on every worker's results
        xdist.worker_output(session.config, speech)
        return
    if xdist.is_controller(session.config) and exitstatus != pytest.ExitCode.INTERRUPTED:
        xdist.time_at_the_end(speech)
    from ..gate.records import run_record
    from ..gate.verdicts import judge_run
    from ..report.html import write_report
    from ..report.markdown import markdown
    from ..report.results_file import results_document
    from ..store.atomic import dumps, write_atomic

    manifest_ids = {c.id for c in speech.manifest_cases}
    for run in speech.runs:
        if not run.skip_reason:
            speech.verdicts[run.id] = judge_run(run, manifest_ids)
    if xdist.is_controller(session.config) and session.exitstatus == pytest.ExitCode.OK:
        # the corpus and latency checks ran here, not as tests: their verdict decides the exit
        if any(v.fails for v in speech.verdicts.values()):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if speech.settings.update and exitstatus != pytest.ExitCode.INTERRUPTED:
        for run in speech.runs:
            if not run.skip_reason and (run.results or run.syntheses):
                speech.updates.append(_update(speech, run))
    data = [run_record(run, speech.verdict(run)) for run in speech.runs]
    for record, run in zip(data, speech.runs, strict=True):  # the pass ran on a Ray cluster
        record.cluster = speech.ray[run.id].as_dict() if run.id in speech.ray else None
    document = dumps(results_document(data))  # the file, and what a promotion's digest is of
    if speech.settings.results:
        write_atomic(speech.settings.results, document)
    if speech.settings.promote_to and exitstatus != pytest.ExitCode.INTERRUPTED:
        _promote(session, speech, data, document)
    if speech.settings.summary:
        runs = [(run, speech.verdict(run)) for run in speech.runs]
        write_atomic(speech.settings.summary, markdown(runs, speech.registry, speech.promotion))
    if speech.settings.report:
        write_report(speech.settings.report, data)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    speech = config.stash.get(SESSION, None)
    if speech is None or config.option.collectonly:
        return
    from ..report.terminal import comparison_lines, ray_lines, run_lines

    terminalreporter.write_sep("=", "speechlab summary")
    controller = config.pluginmanager.get_plugin("speechlab-xdist")
    if controller is not None:
        terminalreporter.write_line(
            f"speechlab: the results of {controller.workers} xdist worker(s), judged here; "
            "the latency subset timed here, after the workers"
        )
        if controller.repeated:
            terminalreporter.write_line(
                f"speechlab: {controller.repeated} case(s) measured on more than one worker, "
                "each judged once: without --dist (or with --dist loadgroup) each case is measured once"
            )
    for run in speech.runs:
        lines = run_lines(run, speech.verdict(run))
        if run.id in speech.ray:  # under the run's title
            lines[1:1] = ray_lines(speech.ray[run.id])
        for line in lines:
            terminalreporter.write_line(line)
    for run in speech.runs:
        if run.id in speech.ray and speech.ray[run.id].lost:
            terminalreporter.write_line(speech.ray[run.id].lost_line(run.label), red=True)
    for line in comparison_lines(speech.runs):
        terminalreporter.write_line(line)
    for lines in speech.updates:
        for line in lines:
            terminalreporter.write_line(line)
    for kind, path in (("results", speech.settings.results), ("summary", speech.settings.summary),
                       ("report", speech.settings.report)):  # fmt: skip
        if path:
            terminalreporter.write_line(f"speechlab: {kind} written to {path}")
    for i, line in enumerate(speech.promotion):
        terminalreporter.write_line(("speechlab: " if i == 0 else "  ") + line, bold=i == 0)
