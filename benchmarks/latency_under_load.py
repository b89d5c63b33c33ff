"""Does the latency gate stay honest on a loaded machine? A benchmark to run by hand (its figures
are in docs/gate.md), not a test.

    python benchmarks/latency_under_load.py [--runs 10] [--busy 2]

It records a baseline of the bundled latency subset with the real Faster-Whisper tiny.en on the
machine as it is, then runs the latency checks ``--runs`` times with ``--busy`` busy-loop
processes beside each run (each loop stops with its run), and counts the verdicts of every
latency check: an unchanged model must never FAIL (pass, or inconclusive where the load was too
large to judge). Last, with no busy process, it stages a tenfold slowdown (the baseline's
latencies at a tenth) and checks that every latency check fails.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BUSY = "while True: pass"


def project(folder: Path) -> None:
    cases = [
        {k: v for k, v in c.items() if k != "alignment"}  # latency only: no word-timestamp pass
        for c in yaml.safe_load((REPO / "data" / "manifest.yaml").read_text())["cases"]
        if "latency" in c["tags"]
    ]
    (folder / "data" / "audio").mkdir(parents=True)
    for case in cases:
        shutil.copy(REPO / "data" / case["audio"], folder / "data" / case["audio"])
    (folder / "data" / "manifest.yaml").write_text(yaml.safe_dump({"cases": cases}, sort_keys=False))
    (folder / "pyproject.toml").write_text('[tool.speechlab]\nmanifest = "data/manifest.yaml"\nrepeats = 5\n')
    (folder / "test_speech.py").write_text("from pytest_speechlab.suites.test_asr import *  # noqa: F403\n")


def pytest(folder: Path, *args: str) -> dict:
    out = folder / "results.json"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_speech.py"]
    command += ["--speech-model=faster_whisper", "--speech-device=cpu", f"--speech-results={out}", *args]
    subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    return json.loads(out.read_text())


def verdicts(results: dict) -> Counter[str]:
    """The outcome of each latency check: per case, and the corpus latency-subset check."""
    counted: Counter[str] = Counter()
    for case in results["cases"]:
        lines = " ".join(case["why"])
        if "latency" in lines:
            counted["inconclusive" if "inconclusive" in lines else "FAIL"] += 1
        else:
            counted["pass"] += 1
    corpus = " ".join((results.get("corpus") or {}).get("checks", []))
    if "latency-subset" in corpus:
        latency = next(c for c in results["corpus"]["checks"] if c.startswith("latency-subset"))
        if "inconclusive" in latency:
            counted["corpus inconclusive"] += 1
        elif " within limit " in latency or "not significant" in latency:
            counted["corpus pass"] += 1
        else:
            counted["corpus FAIL"] += 1
    return counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--busy", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        project(folder)
        pytest(folder, "--update-baselines")
        print(f"| run (with {args.busy} busy processes) | latency checks |")
        print("| --- | --- |")
        total: Counter[str] = Counter()
        for i in range(args.runs):
            loops = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(args.busy)]
            try:
                counted = verdicts(pytest(folder, "-k", "test_latency or test_corpus"))
            finally:
                for loop in loops:
                    loop.kill()
                    loop.wait()
            total += counted
            print(f"| {i + 1} | {dict(sorted(counted.items()))} |", flush=True)
        print(f"| all | {dict(sorted(total.items()))} |")
        baseline = folder / "baselines" / "faster_whisper" / "cpu.json"
        data = json.loads(baseline.read_text())
        for entry in data["cases"].values():
            for key in ("latency_ms", "latency_min_ms"):
                entry[key] = round(entry[key] / 10, 1)
        baseline.write_text(json.dumps(data))
        quiet = verdicts(pytest(folder, "-k", "test_latency or test_corpus"))
        print(f"\ntenfold slowdown, no busy process: {dict(sorted(quiet.items()))}")


if __name__ == "__main__":
    main()
