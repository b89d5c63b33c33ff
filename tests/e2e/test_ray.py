"""``--speech-ray`` on a real local Ray cluster: a head and a second node, one CPU each, on
loopback. The run on the cluster is the serial run (hypotheses, WER, verdicts, the results
file but for timings and where it ran); a node killed mid-run has its cases sent again to the
other, and every case is judged once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from ..projects import QUIET, Project

pytest.importorskip("ray")

RAY = str(Path(sys.executable).parent / "ray")
# `ray stop --force` stops every Ray process of the machine: one cluster at a time, whichever
# xdist worker runs these tests
LOCK = Path(tempfile.gettempdir()) / "speechlab-ray-tests.lock"
# a node that stops answering is marked dead within a few seconds, not Ray's default 15 s or more
# (lenient enough for a busy machine: four missed checks of a second each)
QUICK_DEATH = {
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "4",
}
# a loopback cluster without token authentication, whatever ~/.ray holds (a local `ray.init()`
# writes a token there, which `ray start` would then ask of every node)
NO_TOKEN = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
NODE = ["--num-cpus=1", "--num-gpus=0", "--disable-usage-stats", "--object-store-memory=100000000"]


@dataclass
class Cluster:
    address: str
    head: int  # the head node's raylet
    node: int  # the second node's raylet


def pids(matches: Callable[[Path], bool]) -> set[int]:
    """The pids of the machine's processes whose /proc entry ``matches``."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and matches(entry):
                found.add(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return found


def raylets() -> set[int]:
    """The pids of the machine's raylets (one per Ray node)."""
    return pids(lambda entry: (entry / "comm").read_text().strip() == "raylet")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_cli(*args: str) -> None:
    env = {**os.environ, **QUICK_DEATH, **NO_TOKEN}
    done = subprocess.run([RAY, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"ray {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-600:]}"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head bound to 127.0.0.1 and a second node joined to it, one CPU each; stopped at the end
    whatever happened (``ray stop --force``)."""
    with FileLock(str(LOCK)), pytest.MonkeyPatch.context() as patch:
        for key, value in NO_TOKEN.items():  # the pytest runs' drivers too
            patch.setenv(key, value)
        try:
            before = raylets()
            port = free_port()
            ray_cli("start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                    "--include-dashboard=false", *NODE)  # fmt: skip
            head = raylets() - before
            ray_cli("start", f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1", *NODE)
            node = raylets() - before - head
            assert len(head) == len(node) == 1
            yield Cluster(f"127.0.0.1:{port}", head.pop(), node.pop())
        finally:
            subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)


def without_timings(data: Any) -> Any:
    """The results file but for what a timing, the machine or the cluster decides: every latency,
    real-time factor and load figure, and the checks and lines made of them."""
    timing = {"latency_ms", "rtf", "latency_s", "load_s", "load_mb", "machine", "cluster", "benchmarks"}
    if isinstance(data, dict):
        if any(word in str(data.get("metric", "")) for word in ("latency", "CPU")):
            return None  # a latency check: its wall or CPU time
        return {k: without_timings(v) for k, v in data.items() if k not in timing}
    if isinstance(data, list):
        kept = [without_timings(v) for v in data]
        return [v for v in kept if v is not None and not (isinstance(v, str) and "latency" in v)]
    return data


@pytest.mark.slow  # run first: see tests/conftest.py
def test_on_a_two_node_cluster_the_run_is_the_serial_run(project: Project, recorded, cluster: Cluster):
    recorded(project)
    serial, on_ray = project.path / "serial.json", project.path / "on_ray.json"
    assert project.run(f"--speech-results={serial}").ret == 0
    result = project.run(f"--speech-results={on_ray}", f"--speech-ray={cluster.address}", subprocess=True)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            f"  transcribed on Ray ({cluster.address}, Ray *): 2 node(s), 2 actor(s) on cpu, 3 case(s) in *"
            "audio as bytes; latency subset timed here, after the pass",
            "*overall: pass",
        ]
    )
    one, two = json.loads(serial.read_text()), json.loads(on_ray.read_text())
    assert [c["hypothesis"] for c in two["cases"]] == [c["hypothesis"] for c in one["cases"]]
    assert [(c["wer"], c["cer"], c["verdict"]) for c in two["cases"]] == [
        (c["wer"], c["cer"], c["verdict"]) for c in one["cases"]
    ]
    assert without_timings(two) == without_timings(one)
    assert "cluster" not in one
    assert two["cluster"]["nodes"] == 2 and two["cluster"]["cases"] == 3 and two["cluster"]["lost"] == []
    assert two["cluster"]["sent_again"] == 0 and not two["cluster"]["refused"]


# The engine under test, held 2 s in each transcription on the cluster, where it notes which
# node (its raylet, the actor's parent) runs it: time to kill that node mid-case. Shipped to the
# nodes by value, as a conftest is not importable there.
SLOW = """
import os
import sys
import time
from pathlib import Path

import ray.cloudpickle
from pytest_speechlab.engines.faster_whisper import FasterWhisperEngine

MARKS = Path({marks!r})


class HeldOnRay(FasterWhisperEngine):
    def transcribe(self, audio, language):
        raylet = os.getppid()
        if Path(f"/proc/{{raylet}}/comm").read_text().strip() == "raylet":
            (MARKS / f"{{raylet}}-{{time.monotonic_ns()}}").touch()
            time.sleep(2)
        return super().transcribe(audio, language)


ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def pytest_speechlab_engines():
    return {{"faster_whisper": HeldOnRay}}
"""


def kill_when_it_transcribes(marks: Path, raylet: int, deadline_s: float) -> threading.Thread:
    """Kill ``raylet`` (its node) as soon as an actor of that node starts a case."""

    def watch() -> None:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if any(m.name.startswith(f"{raylet}-") for m in marks.iterdir()):
                os.kill(raylet, signal.SIGKILL)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_a_node_killed_mid_run_has_its_cases_sent_again_and_each_judged_once(
    project: Project, recorded, cluster: Cluster
):
    baseline = recorded(project)
    marks = project.path / "marks"
    marks.mkdir()
    project.pytester.makeconftest(QUIET + SLOW.format(marks=str(marks)))
    results = project.path / "on_ray.json"
    watcher = kill_when_it_transcribes(marks, cluster.node, deadline_s=120)
    result = project.run(f"--speech-results={results}", f"--speech-ray={cluster.address}", subprocess=True)
    watcher.join(timeout=1)
    assert cluster.node not in raylets()  # the node was killed mid-run
    data = json.loads(results.read_text())
    judged = [c["id"] for c in data["cases"]]
    assert sorted(judged) == sorted(c["id"] for c in project.cases)  # each case once
    assert result.ret == 0, result.stdout.str()
    assert {c["id"]: c["hypothesis"] for c in data["cases"]} == {
        i: e["hypothesis"] for i, e in baseline["cases"].items()
    }
    assert len(data["cluster"]["died"]) == 1 and data["cluster"]["sent_again"] >= 1
    assert data["cluster"]["lost"] == [] and data["verdict"]["overall"] == "pass"
    result.stdout.fnmatch_lines(["  Ray: 1 actor(s) lost mid-run (ActorDiedError on node *); * sent again*"])


def actor_processes() -> set[int]:
    """The pids of the machine's processes that hold an engine actor (Ray names a worker process
    by its actor's class)."""
    return pids(lambda entry: b"EngineHost" in (entry / "cmdline").read_bytes())


# Appended to SLOW: at the end of the interrupted session, while the pytest process (Ray's
# driver) still lives, how long the engine actors' processes took to go: the interrupt stopped
# the remote work, not the process's exit.
ACTORS_AT_THE_END = """

def pytest_sessionfinish(session):
    start = time.monotonic()
    while time.monotonic() - start < 20:
        alive = [e for e in Path("/proc").iterdir() if e.name.isdigit() and b"EngineHost" in _cmdline(e)]
        if not alive:
            break
        time.sleep(0.2)
    (MARKS / "actors-at-the-end").write_text(str(len(alive)))


def _cmdline(entry):
    try:
        return (entry / "cmdline").read_bytes()
    except OSError:
        return b""
"""


@pytest.mark.slow
def test_ctrl_c_mid_pass_cancels_the_remote_work_and_judges_nothing_as_whole(
    project: Project, recorded, cluster: Cluster
):
    """SIGINT to the pytest process while an actor holds a case: the run ends as interrupted,
    no case starts on the cluster after it, the actors are gone, and the results say incomplete."""
    recorded(project)
    marks = project.path / "marks"
    marks.mkdir()
    project.pytester.makeconftest(QUIET + SLOW.format(marks=str(marks)) + ACTORS_AT_THE_END)
    results = project.path / "on_ray.json"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--speech-model=faster_whisper",
               f"--speech-results={results}", f"--speech-ray={cluster.address}"]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(project.path), os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.Popen(
        command, cwd=project.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        end = time.monotonic() + 120
        while not any(marks.iterdir()) and process.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        assert process.poll() is None and any(marks.iterdir()), "no case started on the cluster"
        interrupted = time.monotonic_ns()
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert "KeyboardInterrupt" in output
    assert (marks / "actors-at-the-end").read_text() == "0"  # gone before the process ended
    started = sorted(int(m.name.partition("-")[2]) for m in marks.iterdir() if m.name[0].isdigit())
    # nothing started after it: a case sent before the interrupt may start just after it (an actor
    # that loaded later), but a case queued behind a held one would start 2 s after that one
    assert len(started) < len(project.cases) and started[-1] < interrupted + 1_500_000_000
    assert actor_processes() == set()
    data = json.loads(results.read_text())
    assert data["verdict"]["overall"] == "INCOMPLETE" and len(data["cases"]) < len(project.cases)
