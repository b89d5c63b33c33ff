"""What serving costs: the server's latency beside the in-process engine's, and throughput by
concurrency, measured side by side in one run on the bundled cases.

    python loadtest/overhead.py [--rounds 3] [--concurrency 1,2,4] [--threads N]

It starts ``speechlab serve`` for faster_whisper on a free loopback port (the registry's
production entry) and loads the same engine in this process with the same engine threads. Each
case is then transcribed in process (decoding the file included) and through the server (the
file uploaded, as a client would), alternating, ``--rounds`` times; the medians are compared case
by case, and every transcript must be the same on both sides. Then ``--concurrency`` clients at
a time send every speech case once each, and throughput is audio seconds per second. Nothing is
asserted here: the figures go in docs/serving.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from pytest_speechlab.engines.faster_whisper import FasterWhisperEngine
from pytest_speechlab.io.audio import load_audio
from pytest_speechlab.io.manifest import load_manifest
from pytest_speechlab.serve.pool import available_cores

REPO = Path(__file__).resolve().parents[1]


def start_server(threads: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    command = [sys.executable, "-m", "pytest_speechlab.cli", "serve", f"--registry={REPO / 'registry.yaml'}",
               "--model=faster_whisper", "--port=0", f"--threads={threads}", "--queue=64"]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    for _ in range(600):
        for line in log.read_text().splitlines():
            if '"listening"' in line:
                url = json.loads(line)["url"]
                if httpx.get(url + "/ready").status_code == 200:
                    return process, url
        if process.poll() is not None:
            sys.exit(f"speechlab serve exited:\n{log.read_text()}")
        time.sleep(0.2)
    process.kill()
    sys.exit("speechlab serve did not get ready in 120 s")


def post(client: httpx.Client, url: str, path: Path) -> str:
    files = {"file": (path.name, path.read_bytes(), "application/octet-stream")}
    response = client.post(url + "/v1/audio/transcriptions", files=files, data={"model": "faster_whisper"})
    response.raise_for_status()
    return str(response.json()["text"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--threads", type=int, default=available_cores())
    args = parser.parse_args()
    recorded = json.loads((REPO / "baselines" / "faster_whisper" / "cpu.json").read_text())["cases"]
    every = load_manifest(REPO / "data" / "manifest.yaml").cases
    cases = [c for c in every if c.text.strip() and c.id in recorded and c.offset_s is None]
    log = Path(tempfile.mkdtemp()) / "server.log"
    process, url = start_server(args.threads, log)
    try:
        engine = FasterWhisperEngine.load(
            None, "cpu", {**FasterWhisperEngine.default_options, "cpu_threads": args.threads}
        )
        local: dict[str, list[float]] = {c.id: [] for c in cases}
        served: dict[str, list[float]] = {c.id: [] for c in cases}
        with httpx.Client(timeout=300) as client:
            post(client, url, cases[0].audio)  # warm both sides up
            engine.transcribe(load_audio(cases[0].audio, 16000), "en")
            for round_ in range(args.rounds):
                for case in cases:
                    order = ("local", "served") if round_ % 2 == 0 else ("served", "local")
                    texts = {}
                    for side in order:
                        start = time.perf_counter()
                        if side == "local":
                            texts[side] = engine.transcribe(load_audio(case.audio, 16000), case.language)
                        else:
                            texts[side] = post(client, url, case.audio)
                        (local if side == "local" else served)[case.id].append(time.perf_counter() - start)
                    if texts["local"] != texts["served"]:
                        sys.exit(f"{case.id}: transcripts differ: {texts}")
        ratios = [statistics.median(served[c.id]) / statistics.median(local[c.id]) for c in cases]
        total_local = sum(statistics.median(v) for v in local.values())
        total_served = sum(statistics.median(v) for v in served.values())
        print(f"cores {available_cores()}, engine threads {args.threads} on both sides, "
              f"{len(cases)} speech cases, {args.rounds} rounds; transcripts identical")  # fmt: skip
        print(f"concurrency 1: in process {total_local:.2f} s, through the server {total_served:.2f} s "
              f"(x{total_served / total_local:.3f}); per case median ratio x{statistics.median(ratios):.3f}, "
              f"range x{min(ratios):.3f}-x{max(ratios):.3f}")  # fmt: skip
        audio_s = sum(c.duration_s for c in cases)
        for clients in (int(n) for n in args.concurrency.split(",")):
            with httpx.Client(timeout=600, limits=httpx.Limits(max_connections=clients)) as client:
                start = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    list(pool.map(lambda c: post(client, url, c.audio), cases * clients))
                elapsed = time.perf_counter() - start
            print(f"concurrency {clients}: {len(cases) * clients} requests in {elapsed:.1f} s, "
                  f"{audio_s * clients / elapsed:.2f} audio s/s")  # fmt: skip
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
