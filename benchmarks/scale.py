"""How the cost of a run grows with its test set, and what pytest-xdist gains: a benchmark to run
by hand, not a test (its figures are in docs/scale.md).

    python benchmarks/scale.py sizes 200 1000 5000      # wall time, per case, peak RSS
    python benchmarks/scale.py xdist 300 --rounds 2     # -n 0 against -n 2, side by side
    python benchmarks/scale.py xdist bundled --rounds 2 # the same on the bundled manifest

``--beam-size 1`` (before the command) decodes greedily, to measure the plugin's cost at a third
less wall time; the default is the engine's beam of 5.

Each size is a generated manifest of distinct case ids over the bundled short speech clips; the
real Faster-Whisper tiny.en transcribes every case once (``--speech-repeats 1``; no latency
subset), scores and reports it. Each configuration runs in a fresh pytest process, model load
included; the peak RSS is the largest process's (for -n 2, the largest worker's or the
controller's).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BEAM_SIZE = 5
CLIPS = (
    "cards_001",
    "cards_002",
    "cards_003",
    "cards_005",
    "goforward",
    "commonvoice_22058267",
    "praatio_mary",
)


def manifest(folder: Path, cases: int) -> Path:
    """``cases`` cases over the short bundled clips, each under its own id."""
    bundled = {c["id"]: c for c in yaml.safe_load((REPO / "data" / "manifest.yaml").read_text())["cases"]}
    entries = []
    for i in range(cases):
        clip = bundled[CLIPS[i % len(CLIPS)]]
        audio = (REPO / "data" / clip["audio"]).resolve()
        entries.append({"id": f"c{i:05d}_{clip['id']}", "audio": str(audio), "text": clip["text"]})
    path = folder / f"manifest-{cases}.yaml"
    path.write_text(yaml.safe_dump({"cases": entries}, sort_keys=False))
    return path


BUNDLED = REPO / "data" / "manifest.yaml"


def run(folder: Path, manifest_path: Path, *extra: str, device: str = "cpu") -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one pytest run of the accuracy suite on the manifest."""
    target = manifest_path
    if manifest_path != BUNDLED:
        (folder / "data").mkdir(exist_ok=True)
        target = folder / "data" / manifest_path.name
        # a manifest's audio may not leave its folder: copy the few clips beside it
        audio = folder / "data" / "audio"
        if not audio.exists():
            audio.mkdir()
            for source in (REPO / "data" / "audio").iterdir():
                if source.stem in CLIPS:
                    shutil.copy(source, audio / source.name)
        text = manifest_path.read_text().replace(str((REPO / "data" / "audio").resolve()) + "/", "audio/")
        target.write_text(text)
    (folder / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (folder / "test_speech.py").write_text("from pytest_speechlab.suites.test_asr import *  # noqa: F403\n")
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_speech.py",
        "--speech-model=faster_whisper", f"--speech-device={device}", f"--speech-manifest={target}",
        "--speech-repeats=1", "--speech-new-cases=pass", "-W", "ignore",
        f"--speech-option=faster_whisper.beam_size={BEAM_SIZE}", *extra,
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def sizes(counts: list[int]) -> None:
    print("| cases | wall s | per case ms | peak RSS MB |")
    print("| ---: | ---: | ---: | ---: |")
    for count in counts:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            wall, peak = run(folder, manifest(folder, count))
            print(f"| {count} | {wall:.1f} | {wall / count * 1000:.0f} | {peak:.0f} |", flush=True)


def judged(results: Path) -> list[tuple[str, str, str]]:
    """Each case's id, hypothesis and verdict in a results file: what xdist must not change."""
    data = json.loads(results.read_text())
    return [(c["id"], c["hypothesis"], c["verdict"]) for c in data["cases"]]


def xdist(count: str, rounds: int) -> None:
    """-n 0, then -n 2 as a user types it (no --dist: the plugin's distribution) and -n 2 --dist
    load, in turn, ``rounds`` times: each speed-up is against the -n 0 run of its own round (this
    machine's speed drifts over minutes), and each run's hypotheses and verdicts must be the -n 0
    run's. ``count``: a number of generated cases, or ``bundled`` for the bundled manifest."""
    configs = {"-n 2": ("-n", "2"), "-n 2 --dist load": ("-n", "2", "--dist", "load")}
    ratios: dict[str, list[float]] = {name: [] for name in configs}
    print("| round | run | wall s | speed-up | hypotheses and verdicts |")
    print("| ---: | --- | ---: | ---: | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = BUNDLED if count == "bundled" else manifest(folder, int(count))
        results = folder / "results.json"
        first = yaml.safe_load(path.read_text())["cases"][0]["id"]
        run(folder, path, "-k", first)  # untimed, one case: the first timed run not the cold cache's
        for i in range(1, rounds + 1):
            serial, _ = run(folder, path, f"--speech-results={results}")
            expected = judged(results)
            print(f"| {i} | -n 0 | {serial:.1f} | x1.00 | {len(expected)} cases |", flush=True)
            for name, extra in configs.items():
                wall, _ = run(folder, path, *extra, f"--speech-results={results}")
                same = "identical" if judged(results) == expected else "DIFFER"
                ratios[name].append(serial / wall)
                print(f"| {i} | {name} | {wall:.1f} | x{serial / wall:.2f} | {same} |", flush=True)
                if same != "identical":
                    raise SystemExit(f"{name}: hypotheses or verdicts differ from the -n 0 run's")
    for name, values in ratios.items():
        print(f"{name}: median speed-up x{statistics.median(values):.2f} over {rounds} round(s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beam-size", type=int, default=5)
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("sizes").add_argument("counts", type=int, nargs="+")
    xd = sub.add_parser("xdist")
    xd.add_argument("count", help="cases to generate, or 'bundled' for the bundled manifest")
    xd.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    global BEAM_SIZE
    BEAM_SIZE = args.beam_size
    if args.what == "sizes":
        sizes(args.counts)
    else:
        xdist(args.count, args.rounds)


if __name__ == "__main__":
    main()
