"""pytest-xdist: the same hypotheses, corpus figures, verdicts, results and baseline update as a
run without it; one summary; the latency subset timed in the controller after the workers are
done; a promotion decided once, on the merged results."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_speechlab.core.metrics import normalize

from .conftest import Project, bundled_cases, make_project

pytest.importorskip("xdist")

REGISTRY = """\
schema: 1
models:
  faster_whisper:
    status: experimental
    capabilities: [asr]
    history:
      - {from: null, to: experimental, reason: added}
"""

# Each process notes when it ran what: workers their last test, the latency timing its runs.
TIMELINE = """
import json, os, time
from pathlib import Path

import pytest
import pytest_speechlab.measure.run as run

LOG = Path(__file__).parent / "timeline.jsonl"
original = run.ModelRun.measure_latency


def measure_latency(self, case):
    start = time.time()
    result = original(self, case)
    with LOG.open("a") as f:
        event = {"what": "latency", "pid": os.getpid(), "start": start, "end": time.time()}
        f.write(json.dumps(event) + "\\n")
    return result


run.ModelRun.measure_latency = measure_latency


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):
        with LOG.open("a") as f:
            f.write(json.dumps({"what": "worker done", "pid": os.getpid(), "end": time.time()}) + "\\n")
"""


def comparable(run: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on xdist: everything but timings and the machine."""
    return {
        "cases": [
            (c["id"], c["hypothesis"], c["wer"], c["cer"], c["verdict"], c["latency_ms"]["runs"])
            for c in run["cases"]
        ],
        "corpus": {k: run["corpus"][k] for k in ("wer", "cer", "cases", "nonspeech_words", "verdict")},
        "verdict": run["verdict"]["overall"],
        "identity": run["identity"],
    }


def baseline_figures(data: dict[str, Any]) -> dict[str, Any]:
    timing = ("latency_ms", "latency_min_ms", "calibration_ms")
    cases = {i: {k: v for k, v in e.items() if k not in timing} for i, e in data["cases"].items()}
    timed = sorted(i for i, e in data["cases"].items() if "latency_min_ms" in e)
    return {"cases": cases, "corpus": data["corpus"], "timed": timed, "identity": data["identity"]}


def test_two_workers_give_the_same_run_and_time_latency_in_the_controller_after_them(project: Project):
    """--dist loadgroup: every case measured once, on one worker; the controller merges, times
    the latency subset after the workers are done, and prints one summary."""
    assert project.run("--update-baselines").ret == 0
    serial, parallel = project.path / "serial.json", project.path / "parallel.json"
    assert project.run(f"--speech-results={serial}").ret == 0
    project.pytester.makeconftest(TIMELINE)
    args = (f"--speech-results={parallel}", "-n", "2", "--dist", "loadgroup", "-rs")
    result = project.run(*args, subprocess=True)
    assert result.ret == 0, result.stdout.str()
    assert result.stdout.str().count("speechlab summary") == 1
    result.stdout.fnmatch_lines(
        ["speechlab: the results of 2 xdist worker(s), judged here; *", "*overall: pass"]
    )
    result.stdout.fnmatch_lines(["SKIPPED * with pytest-xdist, judged once at the end*"])
    assert comparable(json.loads(parallel.read_text())) == comparable(json.loads(serial.read_text()))
    events = [json.loads(line) for line in (project.path / "timeline.jsonl").read_text().splitlines()]
    workers = [e for e in events if e["what"] == "worker done"]
    timings = [e for e in events if e["what"] == "latency"]
    assert len(workers) == 2 and len(timings) == 1  # the one latency case, timed once
    assert {e["pid"] for e in timings}.isdisjoint(e["pid"] for e in workers)  # not on a worker
    assert min(e["start"] for e in timings) > max(e["end"] for e in workers)  # after they finished


def test_dist_load_measures_some_cases_twice_and_judges_the_same(project: Project):
    assert project.run("--update-baselines").ret == 0
    serial, parallel = project.path / "serial.json", project.path / "parallel.json"
    assert project.run(f"--speech-results={serial}").ret == 0
    result = project.run(f"--speech-results={parallel}", "-n", "2", "--dist", "load", subprocess=True)
    assert result.ret == 0, result.stdout.str()
    assert comparable(json.loads(parallel.read_text())) == comparable(json.loads(serial.read_text()))


def test_the_same_baseline_update_with_two_workers(project: Project):
    assert project.run("--update-baselines").ret == 0
    serial = baseline_figures(project.read_baseline())
    (project.path / "baselines").rename(project.path / "serial-baselines")
    assert project.run("--update-baselines", "-n", "2", "--dist", "loadgroup", subprocess=True).ret == 0
    assert baseline_figures(project.read_baseline()) == serial
    history = (project.path / "baselines" / "history.jsonl").read_text().splitlines()
    assert len(history) == 1  # one update, by the controller


def test_a_failing_corpus_fails_the_run_and_blocks_the_promotion_once(gate_project: Project, recorded):
    data = recorded(gate_project)  # staged: a baseline that heard every speech case perfectly
    for case in gate_project.cases:
        if case["text"].strip():
            data["cases"][case["id"]].update(wer=0.0, cer=0.0, hypothesis=normalize(case["text"]))
    data["corpus"].update(wer=0.0, cer=0.0)
    gate_project.write_baseline(data)
    registry = gate_project.path / "registry.yaml"
    registry.write_text(REGISTRY)
    result = gate_project.run("--promote-to=candidate", "-n", "2", "--dist", "loadgroup", subprocess=True)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.stdout.str().count("promotion to candidate BLOCKED") == 1
    assert registry.read_text() == REGISTRY


def test_a_passing_promotion_is_recorded_once(project: Project):
    assert project.run("--update-baselines").ret == 0
    registry = project.path / "registry.yaml"
    registry.write_text(REGISTRY)
    result = project.run("--promote-to=candidate", "-n", "2", "--dist", "loadgroup", subprocess=True)
    assert result.ret == 0, result.stdout.str()
    assert registry.read_text().count("to: candidate") == 1


def test_word_timestamps_cross_from_the_workers(pytester: pytest.Pytester):
    """The aligned cases' figures and the run's pooled figure, from the workers' offsets."""
    by_id = {c.id: c for c in bundled_cases()}
    project = make_project(pytester, [by_id["praatio_mary"], by_id["praatio_bobby"]], set(), alignments=True)
    serial, parallel = project.path / "serial.json", project.path / "parallel.json"
    assert project.run(f"--speech-results={serial}", "--speech-new-cases=pass").ret == 0
    args = (f"--speech-results={parallel}", "--speech-new-cases=pass", "-n", "2", "--dist", "load")
    assert project.run(*args, subprocess=True).ret == 0
    one, two = json.loads(serial.read_text()), json.loads(parallel.read_text())
    assert two["timestamps"] == one["timestamps"] and two["timestamps"]["cases"] == 2
    assert [c["timestamps"] for c in two["cases"]] == [c["timestamps"] for c in one["cases"]]
