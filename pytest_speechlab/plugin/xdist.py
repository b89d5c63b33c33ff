"""pytest-xdist: cases are measured on the workers in parallel, and judged once, in the
controller, on every worker's results merged.

Each worker loads each model once, with its share of the cores (``core.devices.engine_threads``),
and measures the cases it is sent; a case's tests are grouped (``xdist_group``), so with
``--dist loadgroup`` each case is transcribed once. Corpus checks need every case, and latency
must be timed where no other worker competes: on a worker, the tests that need either are skipped
with the reason, and the controller, once every worker has finished, merges their results, times
the latency subset alone with the whole machine (as a run without xdist does), judges, prints the
one summary, writes the results, the baselines and the reports, and decides a promotion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .session import SpeechSession

AT_THE_END = "with pytest-xdist, judged once at the end, on every worker's results, where no worker competes"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """The xdist controller (``-n N`` sets the distribution mode before any plugin configures)."""
    return not is_worker(config) and config.getoption("dist", default="no") != "no"


def worker_output(config: pytest.Config, speech: SpeechSession) -> None:
    """What this worker measured, for the controller (plain data: it crosses a process)."""
    runs = {run.id: run.export() for run in speech.runs if not run.skip_reason}
    config.workeroutput["speechlab"] = {"runs": runs, "deselected": speech.deselected}  # type: ignore[attr-defined]


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

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", {}).get("speechlab")
        if not output:
            return
        self.workers += 1
        for run in self.speech.runs:
            if run.id in output["runs"]:
                run.merge(output["runs"][run.id])
        self.speech.deselected = max(self.speech.deselected, output["deselected"])

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        run_id = dict(report.user_properties).get("speechlab_run")
        if report.failed and isinstance(run_id, str):
            self.speech.failed.setdefault(run_id, []).append(report.nodeid)
