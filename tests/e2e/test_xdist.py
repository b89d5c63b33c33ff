"""pytest-xdist: the same hypotheses, corpus figures, verdicts, results and baseline update as a
run without it; one summary; the latency subset timed in the controller after the workers are
done; a promotion decided once, on the merged results."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

import pytest

from pytest_speechlab.core.metrics import normalize

from ..projects import Project, bundled_cases, commit_all, make_project, use_suite

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
original_measure = run.ModelRun.measure


def measure(self, case):
    if case.id not in self.results:  # transcribed here, now
        with LOG.open("a") as f:
            f.write(json.dumps({"what": "measure", "pid": os.getpid(), "case": case.id}) + "\\n")
    return original_measure(self, case)


run.ModelRun.measure = measure


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):
        from threadpoolctl import threadpool_info

        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        event = {"what": "worker done", "pid": os.getpid(), "end": time.time(), "blas": blas}
        with LOG.open("a") as f:
            f.write(json.dumps(event) + "\\n")
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
    timing = ("latency_ms", "latency_min_ms", "calibration_ms", "cpu_min_ms", "calibration_cpu_ms")
    cases = {i: {k: v for k, v in e.items() if k not in timing} for i, e in data["cases"].items()}
    timed = sorted(i for i, e in data["cases"].items() if "latency_min_ms" in e)
    return {"cases": cases, "corpus": data["corpus"], "timed": timed, "identity": data["identity"]}


def events(project: Project) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (project.path / "timeline.jsonl").read_text().splitlines()]


@pytest.mark.slow  # run first: see tests/conftest.py
def test_two_workers_give_the_same_run_time_latency_after_them_and_promote_once(project: Project, recorded):
    """-n 2 as a user types it, without --dist: every case measured once, on one worker (the
    plugin's distribution), with one BLAS thread; the controller merges, times the latency subset
    after the workers are done, prints one summary and records the promotion the run passed once."""
    recorded(project)
    serial, parallel = project.path / "serial.json", project.path / "parallel.json"
    assert project.run(f"--speech-results={serial}").ret == 0
    project.pytester.makeconftest(TIMELINE)
    registry = project.path / "registry.yaml"
    registry.write_text(REGISTRY)
    (project.path / ".gitignore").write_text("timeline.jsonl\nparallel.json\n")
    commit_all(project.path)
    args = (f"--speech-results={parallel}", "--promote-to=candidate", "-n", "2", "-rs")
    result = project.run(*args, subprocess=True)
    assert result.ret == 0, result.stdout.str()
    assert registry.read_text().count("to: candidate") == 1
    assert result.stdout.str().count("speechlab summary") == 1
    result.stdout.fnmatch_lines(
        ["speechlab: the results of 2 xdist worker(s), judged here; *", "*overall: pass"]
    )
    result.stdout.fnmatch_lines(["SKIPPED * with pytest-xdist, judged once at the end*"])
    assert comparable(json.loads(parallel.read_text())) == comparable(json.loads(serial.read_text()))
    timeline = events(project)
    workers = [e for e in timeline if e["what"] == "worker done"]
    timings = [e for e in timeline if e["what"] == "latency"]
    measured = sorted(e["case"] for e in timeline if e["what"] == "measure")
    assert measured == sorted(c["id"] for c in project.cases)  # each case once, on one worker
    assert "more than one worker" not in result.stdout.str()
    assert all(e["blas"] and set(e["blas"]) == {1} for e in workers)  # no BLAS threads spinning
    assert len(workers) == 2 and len(timings) == 1  # the one latency case, timed once
    assert {e["pid"] for e in timings}.isdisjoint(e["pid"] for e in workers)  # not on a worker
    assert min(e["start"] for e in timings) > max(e["end"] for e in workers)  # after they finished


@pytest.mark.slow  # run first: see tests/conftest.py
def test_dist_load_may_measure_a_case_twice_judges_it_once_and_says_so(pytester: pytest.Pytester):
    """--dist load does not keep a case's tests on one worker: a case may be transcribed on
    both, the first result is judged, and the summary counts the repeats. The aligned cases'
    word-timestamp figures and the run's pooled one cross from the workers' offsets."""
    by_id = {c.id: c for c in bundled_cases()}
    cases = [by_id[i] for i in ("praatio_mary", "praatio_bobby", "cards_002", "silence_3s")]
    project = make_project(pytester, cases, {"cards_002"}, alignments=True)
    serial, parallel = project.path / "serial.json", project.path / "parallel.json"
    new = "--speech-new-cases=pass"
    assert project.run(f"--speech-results={serial}", new).ret == 0
    project.pytester.makeconftest(TIMELINE)
    result = project.run(f"--speech-results={parallel}", new, "-n", "2", "--dist", "load", subprocess=True)
    assert result.ret == 0, result.stdout.str()
    one, two = json.loads(serial.read_text()), json.loads(parallel.read_text())
    assert comparable(two) == comparable(one)
    assert two["timestamps"] == one["timestamps"] and two["timestamps"]["cases"] == 2
    assert [c["timestamps"] for c in two["cases"]] == [c["timestamps"] for c in one["cases"]]
    measured = [e["case"] for e in events(project) if e["what"] == "measure"]
    repeats = len(measured) - len(set(measured))
    if repeats:
        result.stdout.fnmatch_lines([f"speechlab: {repeats} case(s) measured on more than one worker, *"])
    else:
        assert "more than one worker" not in result.stdout.str()


def test_the_same_baseline_update_with_two_workers(project: Project, recorded):
    recorded(project)
    serial = baseline_figures(project.read_baseline())
    (project.path / "baselines").rename(project.path / "serial-baselines")
    assert project.run("--update-baselines", "-n", "2", "--dist", "loadgroup", subprocess=True).ret == 0
    assert baseline_figures(project.read_baseline()) == serial
    history = (project.path / "baselines" / "history.jsonl").read_text().splitlines()
    assert len(history) == 1  # one update, by the controller


@pytest.mark.slow  # run first: see tests/conftest.py
def test_a_failing_run_blocks_the_promotion_once(project: Project, recorded):
    data = recorded(project)  # staged: a baseline that heard every speech case perfectly
    for case in project.cases:
        if case["text"].strip():
            data["cases"][case["id"]].update(wer=0.0, cer=0.0, hypothesis=normalize(case["text"]))
    data["corpus"].update(wer=0.0, cer=0.0)
    project.write_baseline(data)
    registry = project.path / "registry.yaml"
    registry.write_text(REGISTRY)
    commit_all(project.path)
    junit = project.path.parent / "junit.xml"
    result = project.run("--promote-to=candidate", "-n", "2", f"--junitxml={junit}", subprocess=True)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.stdout.str().count("promotion to candidate BLOCKED") == 1
    assert registry.read_text() == REGISTRY
    # each failing test is named by an id pytest takes back (not test_wer[...]@case])
    failed = [line.split()[1] for line in result.stdout.lines if line.startswith("FAILED ")]
    assert failed and all("@" not in nodeid and nodeid.endswith("]") for nodeid in failed), failed
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    in_junit = {c.get("name") for c in cases if c.find("failure") is not None}
    assert in_junit == {nodeid.rpartition("::")[2] for nodeid in failed}  # the same names in JUnit
    again = project.run("--collect-only", "-q", failed[0])
    assert again.ret == 0 and failed[0] in again.stdout.str() and "1 test collected" in again.stdout.str()


@pytest.mark.slow  # run first: see tests/conftest.py
def test_synthesised_speech_and_what_the_judge_heard_cross_from_the_workers(project: Project):
    """Text to speech (real Piper, judged by real Faster-Whisper): each utterance's figures travel
    from the workers without its audio and are judged as in a run without xdist."""
    pytest.importorskip("piper")
    use_suite(project.path, "test_tts")
    serial, parallel = project.path / "serial.json", project.path / "parallel.json"
    new = "--speech-new-cases=pass"  # no baseline: the figures, not their judgement, are compared
    assert project.run(f"--speech-results={serial}", new, model="piper").ret == 0
    args = (f"--speech-results={parallel}", new, "-n", "2", "--dist", "loadgroup")
    result = project.run(*args, model="piper", subprocess=True)
    assert result.ret == 0, result.stdout.str()

    def figures(path: Any) -> list[dict[str, Any]]:
        timed = ("latency_ms", "rtf", "baseline", "outcomes")  # outcomes: the checks' lines, with times
        return [
            {k: v for k, v in c.items() if k not in timed} for c in json.loads(path.read_text())["tts_cases"]
        ]

    assert figures(serial) and figures(parallel) == figures(serial)
    assert "more than one worker" not in result.stdout.str()  # the voice reference is not a case's
    assert all(c["judge_wer"] is not None and c["duration_s"] > 0.3 for c in figures(parallel))


def test_with_several_gpus_each_worker_keeps_to_its_own(project: Project, monkeypatch: pytest.MonkeyPatch):
    """A run on cuda with two visible GPUs and two workers: each worker narrows
    CUDA_VISIBLE_DEVICES to one of them before any engine starts (here no GPU answers, so the
    cuda tests skip; what each worker was given is what is checked)."""
    project.pytester.makeconftest(
        "import json, os\n"
        "def pytest_sessionfinish(session):\n"
        "    given = getattr(session.config, 'workerinput', None)\n"
        "    if given:\n"
        "        with open(f'gpu-{given[\"workerid\"]}.json', 'w') as f:\n"
        "            json.dump(os.environ.get('CUDA_VISIBLE_DEVICES'), f)\n"
    )
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    result = project.run("--speech-device=cuda", "-n", "2", "--dist", "loadgroup", subprocess=True)
    assert result.ret in (0, pytest.ExitCode.NO_TESTS_COLLECTED), result.stdout.str()
    given = {p.name: json.loads(p.read_text()) for p in project.path.glob("gpu-gw*.json")}
    assert given == {"gpu-gw0.json": "3", "gpu-gw1.json": "5"}
