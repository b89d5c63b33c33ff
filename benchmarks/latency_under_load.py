"""Does the latency gate hold on a shared runner? A benchmark to run by hand (its figures are in
docs/gate.md), not a test.

    python benchmarks/latency_under_load.py [--runs 10] [--cases 6] [--repeats 3]

With the real Faster-Whisper tiny.en on the bundled ``latency`` cases, it records a baseline on the
machine as it is, then runs the gate ``--runs`` times under each of four loads: quiet; two
busy-loop processes; a second Faster-Whisper process transcribing in a loop; and the measured
process under ``nice -n 10`` beside two busy loops. Each run is the unchanged model, then a staged
2x slowdown (each transcription done twice: exactly twice the work) under the same load. It
counts the outcome of every latency check (per case and corpus; wall time and CPU time): pass,
re-timed pass, passed by its CPU time where load left the wall time unjudged, inconclusive, FAIL.
An unchanged model must never FAIL; the slowdown must FAIL every run. Last, it records a baseline
under the heaviest load and shows what the update refused to record.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import soundfile as sf
import yaml

REPO = Path(__file__).resolve().parents[1]
BUSY = "while True: pass"
TRANSCRIBER = """
import soundfile as sf
from pytest_speechlab.engines.faster_whisper import FasterWhisperEngine
engine = FasterWhisperEngine.load(None, "cpu", dict(FasterWhisperEngine.default_options))
audio, _ = sf.read(%r, dtype="float32")
while True:
    engine.transcribe(audio, "en")
"""
LOADS = ("quiet", "two busy loops", "a second transcriber", "nice -n 10 beside two busy loops")


SLOWDOWN = """
import os

if os.environ.get("SPEECHLAB_BENCH_SLOWDOWN"):  # a staged 2x slowdown: the same work done twice
    from pytest_speechlab.engines.faster_whisper import FasterWhisperEngine

    once = FasterWhisperEngine.transcribe

    def twice(self, audio, language):
        once(self, audio, language)
        return once(self, audio, language)

    FasterWhisperEngine.transcribe = twice
"""


def project(folder: Path, count: int, repeats: int) -> None:
    """The latency cases (no word-timestamp pass), and a conftest that stages the slowdown.

    Not longer audio nor a wider beam: Whisper pads every clip to a 30 s window, so a 3 s clip
    twice over costs the encoder the same, and the beam's cost depends on the clip."""
    cases = [
        {k: v for k, v in c.items() if k != "alignment"}
        for c in yaml.safe_load((REPO / "data" / "manifest.yaml").read_text())["cases"]
        if "latency" in c["tags"]
    ]
    cases = sorted(cases, key=lambda c: sf.info(REPO / "data" / c["audio"]).duration)[:count]  # shortest
    (folder / "data" / "audio").mkdir(parents=True)
    for case in cases:
        shutil.copy(REPO / "data" / case["audio"], folder / "data" / case["audio"])
    (folder / "data" / "manifest.yaml").write_text(yaml.safe_dump({"cases": cases}, sort_keys=False))
    (folder / "pyproject.toml").write_text(
        f'[tool.speechlab]\nmanifest = "data/manifest.yaml"\nrepeats = {repeats}\n'
    )
    (folder / "conftest.py").write_text(SLOWDOWN)
    (folder / "test_speech.py").write_text("from pytest_speechlab.suites.test_asr import *  # noqa: F403\n")


def pytest(
    folder: Path, *args: str, nice: bool = False, slowdown: bool = False
) -> tuple[dict[str, Any], float, str]:
    out = folder / "results.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_speech.py"]
    command += ["--speech-model=faster_whisper", "--speech-device=cpu", f"--speech-results={out}", *args]
    env = {**os.environ, "SPEECHLAB_BENCH_SLOWDOWN": "1" if slowdown else ""}
    start = time.perf_counter()
    done = subprocess.run(
        ["nice", "-n", "10", *command] if nice else command,
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(out.read_text()), time.perf_counter() - start, done.stdout


@contextlib.contextmanager
def load(kind: str, folder: Path) -> Iterator[None]:
    """Start the load, yield, stop it (every process it started ends with the run)."""
    loops: list[subprocess.Popen[bytes]] = []
    if kind in (LOADS[1], LOADS[3]):
        loops = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)]
    elif kind == LOADS[2]:
        audio = next((folder / "data" / "audio").glob("cards_*.wav"))
        loops = [subprocess.Popen([sys.executable, "-c", TRANSCRIBER % str(audio)])]
        time.sleep(3)  # loaded and transcribing
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def outcomes(results: dict[str, Any]) -> Counter[str]:
    """Each latency check's outcome, as ``"<scope> <measure>: <outcome>"``."""
    counted: Counter[str] = Counter()
    scoped = [("case", c, c["latency_ms"].get("retimed", 0)) for c in results["cases"]]
    corpus = results.get("corpus") or {}
    retimed = sum(c["latency_ms"].get("retimed", 0) for c in results["cases"])
    scoped.append(("corpus", corpus, retimed))
    for scope, judged, rounds in scoped:
        for check in judged.get("outcomes", []):
            if "latency" not in check["metric"] and "CPU" not in check["metric"]:
                continue
            measure = "CPU" if "CPU" in check["metric"] else "wall"
            outcome = check["outcome"]
            if outcome == "pass" and not check["within"]:
                outcome = "pass by CPU time"
            elif outcome == "pass" and rounds and measure == "wall":
                outcome = "re-timed pass"
            counted[f"{scope} {measure}: {outcome}"] += 1
    return counted


def cpu_times(results: dict[str, Any]) -> dict[str, float]:
    return {c["id"]: c["latency_ms"]["cpu_min"] for c in results["cases"] if "cpu_min" in c["latency_ms"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cases", type=int, default=6, help="the shortest N of the six latency cases")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loads", default=",".join(str(i) for i in range(len(LOADS))), help="e.g. 0,1,2,3")
    args = parser.parse_args()
    gate = ["-k", "test_latency or test_corpus"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        project(folder, args.cases, args.repeats)
        _, seconds, _ = pytest(folder, "--update-baselines")
        print(f"baseline recorded as the machine is, in {seconds:.0f} s\n")
        # the CPU spread is read against the baseline's own CPU times (recorded as the machine
        # is: run the benchmark on an otherwise idle machine)
        recorded = json.loads((folder / "baselines" / "faster_whisper" / "cpu.json").read_text())
        reference = {c: e["cpu_min_ms"] for c, e in recorded["cases"].items() if "cpu_min_ms" in e}
        print("| load | run | unchanged model: latency checks | 2x slowdown: latency checks | seconds |")
        print("| --- | --- | --- | --- | --- |")
        spreads: dict[str, list[float]] = {}
        totals: dict[str, tuple[Counter[str], Counter[str], list[float]]] = {}
        for index in (int(i) for i in args.loads.split(",")):
            kind = LOADS[index]
            unchanged_all, slowed_all, durations = Counter[str](), Counter[str](), []
            for run in range(args.runs):
                with load(kind, folder):
                    same, seconds, _ = pytest(folder, *gate, nice=index == 3)
                    slowed, _, _ = pytest(folder, *gate, nice=index == 3, slowdown=True)
                counted, staged = outcomes(same), outcomes(slowed)
                unchanged_all += counted
                slowed_all += staged
                durations.append(seconds)
                figures = cpu_times(same)
                spreads.setdefault(kind, []).extend(
                    figures[c] / reference[c] for c in figures if c in reference
                )
                print(f"| {kind} | {run + 1} | {dict(sorted(counted.items()))} | "
                      f"{dict(sorted(staged.items()))} | {seconds:.0f} |", flush=True)  # fmt: skip
            totals[kind] = (unchanged_all, slowed_all, durations)
        print("\n| load | unchanged model | 2x slowdown | gate run s (median) |")
        print("| --- | --- | --- | --- |")
        for kind, (same, slowed, durations) in totals.items():
            print(f"| {kind} | {dict(sorted(same.items()))} | {dict(sorted(slowed.items()))} | "
                  f"{statistics.median(durations):.0f} |")  # fmt: skip
        print("\nCPU time of each case against the baseline's (min / median / max):")
        for kind, ratios in spreads.items():
            if ratios:
                print(f"  {kind}: x{min(ratios):.2f} / x{statistics.median(ratios):.2f} / x{max(ratios):.2f}")
        with load(LOADS[3], folder):
            _, seconds, stdout = pytest(folder, "--update-baselines", nice=True)
        print(f"\nbaseline recorded under '{LOADS[3]}' ({seconds:.0f} s):")
        for line in stdout.splitlines():
            if "wrote" in line or "NOT recorded" in line:
                print(f"  {line.strip()}")


if __name__ == "__main__":
    main()
