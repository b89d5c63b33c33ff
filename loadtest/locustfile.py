"""Load test of ``speechlab serve``: closed-loop clients transcribing the bundled cases.

Each simulated client sends a bundled case to ``POST /v1/audio/transcriptions`` as soon as its
previous answer arrived, and checks the answer: a 200 must carry that file's transcript (the one
the in-process engine recorded in ``baselines/faster_whisper/cpu.json``, compared after the
project's normaliser), a 429 or 503 must carry Retry-After (the client then waits that long), and
anything else is a failure. At the end it prints latency percentiles, throughput in audio seconds
per second and the answers by status, writes them to ``--summary-json`` when given, and exits 1
on any 5xx, wrong transcript or unanswered request. Only point it at a server of your own:

    locust -f loadtest/locustfile.py --headless -u 4 -r 4 -t 60s --host http://127.0.0.1:8000
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from locust import HttpUser, events, task
from locust.env import Environment

from pytest_speechlab.core.metrics import normalize
from pytest_speechlab.io.manifest import load_manifest

REPO = Path(__file__).resolve().parents[1]
MODEL = os.environ.get("SPEECHLAB_MODEL", "faster_whisper")
KEY = os.environ.get("SPEECHLAB_API_KEY", "none")


def _cases() -> list[tuple[str, bytes, float, str]]:
    """(id, file bytes, seconds of audio, expected normalised transcript) of each bundled case."""
    expected = json.loads((REPO / "baselines" / MODEL / "cpu.json").read_text())["cases"]
    return [
        (c.id, c.audio.read_bytes(), c.duration_s, expected[c.id]["hypothesis"])
        for c in load_manifest(REPO / "data" / "manifest.yaml").cases
        if c.id in expected and c.offset_s is None  # a whole file with a recorded transcript
    ]


CASES = _cases()
STATUS: Counter[str] = Counter()
LATENCIES: list[float] = []  # seconds, answered 200
RESULTS: dict[str, Any] = {"audio_s": 0.0, "mismatches": [], "started": None}


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--summary-json", default="", help="write the summary here as JSON")


@events.test_start.add_listener
def _started(environment: Environment, **_: Any) -> None:
    RESULTS["started"] = time.perf_counter()


class Transcriber(HttpUser):
    @task
    def transcribe(self) -> None:
        case_id, data, seconds, expected = random.choice(CASES)
        start = time.perf_counter()
        with self.client.post(
            "/v1/audio/transcriptions",
            files={"file": (f"{case_id}.wav", data, "application/octet-stream")},
            data={"model": MODEL},
            headers={"Authorization": f"Bearer {KEY}"},
            name="/v1/audio/transcriptions",
            catch_response=True,
            timeout=300,
        ) as response:
            code = response.status_code
            STATUS[str(code)] += 1
            if code == 200:
                got = normalize(response.json()["text"])
                if got != expected:
                    RESULTS["mismatches"].append({"case": case_id, "expected": expected, "got": got})
                    response.failure(f"{case_id}: wrong transcript {got!r}")
                    return
                LATENCIES.append(time.perf_counter() - start)
                RESULTS["audio_s"] += seconds
                response.success()
            elif code in (429, 503) and response.headers.get("Retry-After", "").isdigit():
                response.success()  # refused as designed; wait as told
                time.sleep(int(response.headers["Retry-After"]))
            else:
                response.failure(f"{case_id}: HTTP {code} {response.text[:200]}")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


@events.quitting.add_listener
def _summary(environment: Environment, **_: Any) -> None:
    elapsed = time.perf_counter() - (RESULTS["started"] or time.perf_counter())
    users = environment.parsed_options.num_users if environment.parsed_options else None
    errors = sum(v for k, v in STATUS.items() if k.startswith("5") and k != "503")
    unanswered = environment.stats.total.num_failures - len(RESULTS["mismatches"]) - errors
    unanswered -= sum(
        v for k, v in STATUS.items() if k not in ("200", "429", "503") and not k.startswith("5")
    )
    summary = {
        "users": users,
        "seconds": round(elapsed, 1),
        "answers": dict(sorted(STATUS.items())),
        "p50_ms": round(_percentile(LATENCIES, 50) * 1000, 1),
        "p95_ms": round(_percentile(LATENCIES, 95) * 1000, 1),
        "p99_ms": round(_percentile(LATENCIES, 99) * 1000, 1),
        "throughput_audio_s_per_s": round(RESULTS["audio_s"] / elapsed, 2) if elapsed else 0.0,
        "mismatches": RESULTS["mismatches"],
        "unanswered": max(0, unanswered),
    }
    print("speechlab load test: " + json.dumps(summary))
    if environment.parsed_options and environment.parsed_options.summary_json:
        Path(environment.parsed_options.summary_json).write_text(json.dumps(summary, indent=2) + "\n")
    bad = errors or summary["mismatches"] or summary["unanswered"] or set(STATUS) - {"200", "429", "503"}
    environment.process_exit_code = 1 if bad else 0
