"""pytest-xdist: cases are measured on the workers in parallel, and judged once, in the controller,
on every worker's results merged.

Each worker loads each model once, with its share of the cores (``io.devices.engine_threads``),
and measures the cases it is sent; a case's tests go to one worker (``CaseScheduling``, the
distribution of ``-n N`` unless ``--dist`` says otherwise), so each case is transcribed once.
Corpus checks need every case, and latency must be timed where no other worker competes: on a
worker, the tests that need either are skipped with the reason, and the controller, once every
worker has finished, merges their results, times the latency subset alone with the whole machine
(as a run without xdist does), judges, prints the one summary, writes the results, the
baselines and the reports, and decides a promotion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from ..core.case import Case

if TYPE_CHECKING:
    from .session import SpeechSession

AT_THE_END = "with pytest-xdist, judged once at the end, on every worker's results, where no worker competes"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """The xdist controller (``-n N`` sets the distribution mode before any plugin configures)."""
    return not is_worker(config) and config.getoption("dist", default="no") != "no"


def own_gpu(config: pytest.Config, spec: str) -> None:
    """On a worker of a run on CUDA with several GPUs: keep to one GPU of them, by worker number,
    before any engine initialises CUDA (where the count of visible devices is read), so that
    the workers' models do not share a GPU while others idle."""
    import os

    from ..io.devices import visible_gpus, worker_gpu

    given = config.workerinput  # type: ignore[attr-defined]
    gpu = worker_gpu(spec, visible_gpus(), given["workerid"], int(given["workercount"]))
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


def choose_distribution(config: pytest.Config) -> None:
    """``-n N`` without ``--dist``: the plugin's own distribution (``CaseScheduling``), not
    xdist's ``load``, which sends a case's tests to both workers and transcribes it twice (``-n
    2`` was slower than no xdist). Before xdist's own ``pytest_cmdline_main``, which makes an
    unset ``--dist`` ``load``."""
    if config.getoption("numprocesses", default=None) and config.getoption("dist", default="no") == "no":
        config.option.dist = "loadgroup"


def case_scope(nodeid: str, case_ids: frozenset[str]) -> str:
    """The group a test is scheduled in: its case (the manifest id in its parameters), so that
    each case's tests run on one worker and it is transcribed once; a test of no case (the
    corpus, the slices) is a group of its own. An ``@group`` suffix xdist wrote (for a user's own
    ``xdist_group`` mark) is kept."""
    suffix = nodeid.rpartition("]")[2]
    if "@" in suffix:
        return suffix.rpartition("@")[2]
    params = nodeid.partition("[")[2]
    case = next((part for part in reversed(params[:-1].split("-")) if part in case_ids), None)
    return f"case {case}" if case else nodeid


def case_scheduler(config: pytest.Config, log: Any, case_ids: frozenset[str]) -> Any:
    """xdist's ``--dist loadgroup`` scheduler, grouping by case from the node id as it is: the
    node ids stay the ones pytest accepts back (xdist's groups are an ``@name`` suffix, which
    pytest 9.2 mangles into ``test[...]@name]``)."""
    from xdist.scheduler import LoadScopeScheduling

    class CaseScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return case_scope(nodeid, case_ids)

    config.option.loadscopereorder = False  # the collection's order (longest first), not by test count
    return CaseScheduling(config, log)


def group_cases(items: list[pytest.Item]) -> None:
    """On a worker (every worker collects alike, and the scheduler hands out cases in this
    order): each case's tests one after another, the longest audio first, so that no worker is
    left with a long recording while the other idles; the tests of no case after them."""
    first: dict[str, int] = {}
    cases = [_case(item) for item in items]
    keys = [case.id if case else item.nodeid for case, item in zip(cases, items, strict=True)]
    for key in keys:
        first.setdefault(key, len(first))

    def longest_first(i: int) -> tuple[bool, float, int]:
        case = cases[i]
        return (case is None, -case.duration_s if case else 0.0, first[keys[i]])

    items[:] = [items[i] for i in sorted(range(len(items)), key=longest_first)]


def _case(item: pytest.Item) -> Case | None:
    case = getattr(getattr(item, "callspec", None), "params", {}).get("speech_case")
    return case if isinstance(case, Case) else None


def worker_output(config: pytest.Config, speech: SpeechSession) -> None:
    """What this worker measured, for the controller (plain data: it crosses a process)."""
    runs = {run.id: run.export() for run in speech.runs if not run.skip_reason}
    config.workeroutput["speechlab"] = {"runs": runs, "deselected": speech.deselected}  # type: ignore[attr-defined]


def load_for_timing(speech: SpeechSession) -> None:
    """Load and warm up each model whose latency subset the controller will time, once a worker
    has finished and left its cores free: the load overlaps the last worker's cases rather than
    following them. Only for a run with a case of the subset already measured (a run filtered to
    none is never loaded here); the timing itself still waits for every worker."""
    from ..measure.run import latency_subset

    for run in speech.runs:
        measured = {*run.results, *run.syntheses}
        if not run.skip_reason and any(c.id in measured for c in latency_subset(run.cases, run.settings)):
            run.unusable()  # loads it; a load that fails is said where the timing needs it


def time_at_the_end(speech: SpeechSession) -> None:
    """Time the latency subset of every run, alone, after the workers are done."""
    from ..measure.run import latency_subset

    for run in speech.runs:
        if run.skip_reason:
            continue
        for case in latency_subset(run.cases, run.settings):
            try:
                if case.id in run.results:
                    run.measure_latency(case)
                if case.id in run.syntheses:
                    run.synthesize(case, latency=True)
            except Exception:  # recorded against the case by the run; the verdict says ERROR
                continue


class Controller:
    """The controller's hooks (registered only there: xdist's hooks do not exist without it)."""

    def __init__(self, speech: SpeechSession) -> None:
        self.speech = speech
        self.workers = 0
        self.repeated = 0  # cases measured on more than one worker (see ``group_cases``)

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", {}).get("speechlab")
        if not output:
            return
        self.workers += 1
        for run in self.speech.runs:
            if run.id in output["runs"]:
                self.repeated += run.merge(output["runs"][run.id])
        self.speech.deselected = max(self.speech.deselected, output["deselected"])
        load_for_timing(self.speech)

    @pytest.hookimpl
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getoption("dist") != "loadgroup":
            return None  # the user chose another: xdist's own
        return case_scheduler(config, log, frozenset(c.id for c in self.speech.manifest_cases))

    @pytest.hookimpl
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """What the workers collected (each collects the whole suite): what a promotion must see run."""
        self.speech.collected = list(dict.fromkeys([*self.speech.collected, *ids]))

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        run_id = dict(report.user_properties).get("speechlab_run")
        if report.failed and isinstance(run_id, str):
            self.speech.failed.setdefault(run_id, []).append(report.nodeid)
