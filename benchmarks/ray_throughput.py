"""The accuracy pass's throughput on Ray at batch sizes 1, 8 and 16: a benchmark to run by hand
on a machine with a GPU (its figures go in docs/scale.md), not a test.

    python benchmarks/ray_throughput.py                       # one actor on the GPU, batch 1, 8, 16
    python benchmarks/ray_throughput.py --device cpu --cases 24 --batch 1 8   # the same path on CPU

It starts its own one-node cluster on 127.0.0.1 (``ray start --head --block``, one GPU, or every
core for ``--device cpu``), so that the pass runs on exactly one actor, and stops it at the end;
or ``--address`` uses a running cluster as it is. Each batch size is a fresh pytest process over
the generated manifest of ``benchmarks/scale.py`` (short bundled clips, each case its own id),
Faster-Whisper tiny.en, greedy decoding; the figures are the pass's own (the results file's
``cluster`` record: the seconds from the first actor's start to the last case back), not pytest's
start or the model's load in the pytest process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import scale


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_head(device: str) -> tuple[subprocess.Popen[bytes], str]:
    """A one-node cluster on loopback, in the foreground of a process of its own: stopping that
    process stops the cluster (nothing else of the machine's Ray is touched)."""
    port = free_port()
    room = (
        ["--num-gpus=1", "--num-cpus=2"]
        if device == "cuda"
        else [f"--num-cpus={os.cpu_count()}", "--num-gpus=0"]
    )
    ray = str(Path(sys.executable).parent / "ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen(
        [ray, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--include-dashboard=false", "--disable-usage-stats", *room],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    end = time.monotonic() + 120
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            time.sleep(3)  # the GCS answers before the node has registered
            return head, address
        except OSError:
            time.sleep(0.5)
    head.kill()
    raise SystemExit(f"the Ray head did not start on {address}")


def stop(head: subprocess.Popen[bytes]) -> None:
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)


def throughput(folder: Path, manifest: Path, address: str, device: str, batch: int) -> dict[str, float]:
    results = folder / f"results-{batch}.json"
    cpus = [] if device == "cuda" else [f"--speech-ray-cpus={os.cpu_count()}"]
    wall, _ = scale.run(
        folder, manifest, f"--speech-ray={address}", *cpus, f"--speech-results={results}",
        f"--speech-option=faster_whisper.batch_size={batch}", device=device,
    )  # fmt: skip
    data = json.loads(results.read_text())
    cluster = data["cluster"]
    audio_s = sum(c["audio_s"] for c in data["cases"])
    return {
        "wall": wall,
        "seconds": cluster["seconds"],
        "cases": cluster["cases"],
        "audio_s": audio_s,
        "wer": data["corpus"]["wer"],
        "actors": len(cluster["devices"]),
        "devices": ", ".join(cluster["devices"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--cases", type=int, default=320)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--address", help="a running cluster's address (default: start one here)")
    args = parser.parse_args()
    scale.BEAM_SIZE = 1
    head, address = (None, args.address) if args.address else start_head(args.device)
    folder = Path(tempfile.mkdtemp())
    try:
        manifest = scale.manifest(folder, args.cases)
        print(f"{args.cases} cases, Faster-Whisper tiny.en, greedy, on {args.device}, Ray at {address}")
        print("| batch | pass s | cases/s | audio s per s | corpus WER | actors | pytest wall s |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for batch in args.batch:
            r = throughput(folder, manifest, address, args.device, batch)
            print(
                f"| {batch} | {r['seconds']:.1f} | {r['cases'] / r['seconds']:.2f} | "
                f"{r['audio_s'] / r['seconds']:.1f} | {r['wer']:.4f} | {r['actors']} | {r['wall']:.1f} |",
                flush=True,
            )
        print(f"actors on: {r['devices']}")
    finally:
        if head is not None:
            stop(head)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
