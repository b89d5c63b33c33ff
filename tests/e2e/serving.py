"""Real ``speechlab serve`` processes for the tests: started on a free loopback port, waited for
until ready, and stopped with SIGTERM (then killed, should that fail)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pytest_speechlab.store.registry import Entry, Registry, load_registry

REPO = Path(__file__).resolve().parents[2]
KEY = "test-key-1"
TIGHT_KEY = "tight-key-2"  # limited to 2 requests a minute by the key file
HAS_ESPEAK = shutil.which("espeak-ng") is not None  # a Debian package; its engine is left out without it


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    @property
    def api(self) -> str:
        return self.url + "/v1"

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]

    def metric(self, name: str, **labels: str) -> float:
        """One sample of /metrics (0 when the series does not exist yet)."""
        text = httpx.get(self.url + "/metrics").text
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            series, _, value = line.rpartition(" ")
            if series == (f"{name}{{{want}}}" if labels else name):
                return float(value)
        return 0.0

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


def start(
    registry: Path, log: Path, *args: str, env: dict[str, str] | None = None, ready: bool = True
) -> Server:
    """``speechlab serve`` on a free port of 127.0.0.1; returns once it answers /ready (or, with
    ``ready`` False, once it listens or exits)."""
    command = [
        sys.executable,
        "-m",
        "pytest_speechlab.cli",
        "serve",
        f"--registry={registry}",
        "--port=0",
        *args,
    ]
    environ = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    out = log.open("wb")
    process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=environ)
    server = Server(process, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        listening = [e for e in server.lines() if e.get("event") == "listening"] if log.exists() else []
        if listening:
            server.url = listening[0]["url"]
            if not ready or httpx.get(server.url + "/ready").status_code == 200:
                return server
        time.sleep(0.2)
    if process.poll() is None and ready:
        server.stop()
        raise RuntimeError(f"speechlab serve did not get ready:\n{log.read_text()[-3000:]}")
    return server


def write_registry(path: Path, extra: dict[str, dict[str, Any]] | None = None) -> Path:
    """A registry with the repository's faster_whisper (production), piper and espeak
    (candidates; espeak where espeak-ng is installed) and seamless_m4t (experimental), a
    deprecated whisper, and ``extra`` entries given as changes to faster_whisper's."""
    repo = load_registry(REPO / "registry.yaml")
    names = ("faster_whisper", "piper", *(("espeak",) if HAS_ESPEAK else ()), "seamless_m4t", "whisper")
    models = {name: repo.models[name] for name in names}
    old = models["whisper"]
    old.history = [*old.history, {"from": "production", "to": "deprecated", "reason": "test"}]
    old.status = "deprecated"
    for name, changes in (extra or {}).items():
        base = repo.models["faster_whisper"].as_yaml()
        models[name] = Entry(name, **{**{k: v for k, v in base.items()}, **changes})
    path.write_text(Registry(path, models).dumps())
    return path


def write_keys(path: Path) -> Path:
    """A key file: digests only, the second key with its own rate."""
    import hashlib

    lines = [f"sha256:{hashlib.sha256(TIGHT_KEY.encode()).hexdigest()} tight 2/minute"]
    path.write_text("# test keys\n" + "\n".join(lines) + "\n")
    return path
