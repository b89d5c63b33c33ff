"""The audit's findings against a real ``speechlab serve`` process on 127.0.0.1: hostile uploads
and bodies, spoofed proxy headers, a foreign Host, guessed keys, a slow reader, a hand-written
status and a model loaded unlike its promotion. Every request count is bounded; every server is
stopped by its test."""

from __future__ import annotations

import hashlib
import io
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile

from pytest_speechlab.store.registry import load_registry

from .serving import KEY, Server, start, write_registry

GOOD = "good-key-3"  # its own generous rate; failed keys count against the caller's address


def flac_header(rate: int, channels: int, seconds: int) -> bytes:
    """A FLAC stream whose STREAMINFO declares ``seconds`` of ``channels`` at ``rate``, and no
    audio: what a decoder that trusts the header allocates for, in 42 bytes."""
    info = struct.pack(">HH", 4096, 4096) + bytes(6)
    info += ((rate << 44) | ((channels - 1) << 41) | (15 << 36) | rate * seconds).to_bytes(8, "big")
    return b"fLaC" + bytes([0x80]) + (34).to_bytes(3, "big") + info + bytes(16)


def resident(server: Server, field: str) -> float:
    """VmRSS or VmHWM (the peak) of the server process, in MB."""
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Server:
    """Keys, two workers per model, a tight rate for addresses and a loose one for the good key,
    a short synthesis timeout, and a production entry written by hand."""
    folder = tmp_path_factory.mktemp("guarded")
    forged = {"history": [{"from": None, "to": "experimental"}, {"from": "experimental", "to": "production"}]}
    toy = {
        "engine": "toy-long-voice 1",
        "source": "package:none",
        "revision": "sha256:toy",
        "capabilities": ["tts"],
    }
    registry = write_registry(folder / "registry.yaml", {"handwritten": forged, "long_voice": toy})
    keys = folder / "keys"
    keys.write_text(f"sha256:{hashlib.sha256(GOOD.encode()).hexdigest()} good 1000/minute\n")
    args = (
        "--allow=candidate",
        f"--api-keys-file={keys}",
        "--workers=2",
        "--rate-limit=3/minute",
        "--adapter=handwritten=pytest_speechlab.engines.faster_whisper:FasterWhisperEngine",
        "--adapter=long_voice=tests.e2e.serve_engines:ToyLongVoice",
        "--timeout=5",
    )
    served = start(registry, folder / "server.log", *args, env={"SPEECHLAB_API_KEYS": KEY})
    yield served
    assert served.stop() == 0


def good() -> dict[str, str]:
    return {"Authorization": f"Bearer {GOOD}"}


def post_audio(server: Server, data: bytes, name: str = "a.flac") -> httpx.Response:
    files = {"file": (name, data, "audio/flac")}
    return httpx.post(
        server.api + "/audio/transcriptions",
        files=files,
        data={"model": "faster_whisper"},
        headers=good(),
        timeout=60,
    )


def test_the_decompression_bomb_is_refused_from_its_header_and_memory_stays_flat(guarded: Server):
    """The audit: a small FLAC of silence with a huge rate and 8 channels decoded into ~14 GiB.
    Here a real one, 400 s of 8-channel 48 kHz silence in 154 KB (614 MB as float32), and headers
    declaring 655,350 Hz or 192 kHz x 8 channels x 600 s."""
    silence = io.BytesIO()
    with soundfile.SoundFile(silence, "w", 48000, 8, format="FLAC", subtype="PCM_16") as f:
        for _ in range(40):
            f.write(np.zeros((480_000, 8), np.int16))
    assert len(silence.getvalue()) < 200_000
    Path(f"/proc/{guarded.process.pid}/clear_refs").write_text("5")  # the peak, from now on
    idle = resident(guarded, "VmRSS")
    real = post_audio(guarded, silence.getvalue())
    assert real.status_code == 413 and "sample limit" in real.json()["error"]["message"]
    assert resident(guarded, "VmHWM") - idle < 50  # MB: nothing was decoded
    bomb = flac_header(655_350, 8, 600) + bytes(214 * 1024)  # the audit's rate and size
    answer = post_audio(guarded, bomb)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "a.flac: sample rate 655350 Hz is outside 1..192000 Hz"
    with ThreadPoolExecutor(32) as pool:  # 32 at once at a two-worker server
        answers = list(pool.map(lambda i: post_audio(guarded, flac_header(192_000, 8, 600 - i)), range(32)))
    assert {a.status_code for a in answers} == {413}
    assert httpx.get(guarded.url + "/health").json() == {"status": "alive"}
    assert resident(guarded, "VmHWM") - idle < 50


def test_a_json_body_must_be_json_small_and_well_formed(guarded: Server):
    url = guarded.api + "/audio/speech"
    plain = httpx.post(
        url, content=b'{"model": "piper", "input": "hi"}', headers={**good(), "Content-Type": "text/plain"}
    )
    assert plain.status_code == 415  # what a browser may send cross-origin without asking first
    huge = httpx.post(
        url, content=b"[]," * (2 * 2**20), headers={**good(), "Content-Type": "application/json"}
    )
    assert huge.status_code == 413
    deep = httpx.post(
        url, content=b"[" * 30_000 + b"]" * 30_000, headers={**good(), "Content-Type": "application/json"}
    )
    assert deep.status_code in (400, 413) and "Traceback" not in deep.text
    digits = b'{"model": "piper", "input": "hi", "speed": ' + b"9" * 5000 + b"}"
    long = httpx.post(url, content=digits, headers={**good(), "Content-Type": "application/json"})
    assert long.status_code in (400, 413)
    overflow = httpx.post(url, json={"model": "piper", "input": "hi", "speed": 10**400}, headers=good())
    assert overflow.status_code == 400 and overflow.json()["error"]["message"].startswith(
        "speed: expected a number"
    )


def test_guessing_keys_is_rate_limited_by_address(guarded: Server):
    codes = [
        httpx.get(guarded.api + "/models", headers={"Authorization": f"Bearer guess-{i}"}).status_code
        for i in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    assert httpx.get(guarded.api + "/models", headers=good()).status_code == 200  # the good key's own rate


def test_a_foreign_host_header_is_refused(guarded: Server):
    """A page served from a name that its DNS rebinds to 127.0.0.1 sends that name as Host."""
    assert httpx.get(guarded.url + "/health", headers={"Host": "attacker.example"}).status_code == 400
    assert httpx.get(guarded.url + "/health", headers={"Host": "localhost"}).status_code == 200


def test_a_hand_written_production_entry_is_not_served(guarded: Server):
    assert "handwritten" not in httpx.get(guarded.url + "/ready").json()["serving"]
    files = {"file": ("a.wav", b"RIFF", "audio/wav")}
    answer = httpx.post(
        guarded.api + "/audio/transcriptions", files=files, data={"model": "handwritten"}, headers=good()
    )
    assert answer.status_code == 403
    assert "no promotion with evidence brought it there" in answer.json()["error"]["message"]
    assert any(e.get("event") == "model_refused" and e["model"] == "handwritten" for e in guarded.lines())


def test_a_slow_reader_gets_the_whole_stream_and_the_worker_waits_for_it(guarded: Server):
    """The audit: a client reading slowly was cut off by the timeout, which counted its reading,
    while the worker's chunks piled up in the server. 400 s of a toy voice (19 MB as pcm) read at
    about 2.5 MB/s: longer than the server's 5 s timeout, more than any socket buffer holds."""
    Path(f"/proc/{guarded.process.pid}/clear_refs").write_text("5")
    idle = resident(guarded, "VmRSS")
    body = {"model": "long_voice", "input": "anything", "response_format": "pcm"}
    received, start = 0, time.monotonic()
    with httpx.stream("POST", guarded.api + "/audio/speech", json=body, headers=good(), timeout=60) as answer:
        assert answer.status_code == 200
        for chunk in answer.iter_bytes(256 * 1024):
            received += len(chunk)
            time.sleep(0.1)
    assert time.monotonic() - start > 6  # longer than the server's timeout, and not cut
    assert received == 400 * 24000 * 2  # every sample, 16-bit at 24 kHz
    assert resident(guarded, "VmHWM") - idle < 30  # MB: a few chunks ahead of the reader, not 40


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    folder = tmp_path_factory.mktemp("open")
    registry = write_registry(folder / "registry.yaml")
    served = start(registry, folder / "server.log", "--rate-limit=2/minute", "--model=faster_whisper")
    yield served
    assert served.stop() == 0


def test_without_keys_x_forwarded_for_does_not_escape_the_rate_limit(open_server: Server):
    codes = [
        httpx.get(open_server.api + "/models", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 429, 429]
    clients = {e["client"] for e in open_server.lines() if e.get("path") == "/v1/models"}
    assert clients == {"127.0.0.1"}  # the log names the socket's peer, not the header


def test_an_open_server_says_so_on_start(open_server: Server):
    text = open_server.log.read_text()
    assert "speechlab serve: no API keys are set: anyone who can reach http://127.0.0.1:" in text
    assert any(e.get("event") == "open_server" for e in open_server.lines())


def test_a_model_loaded_unlike_its_promotion_is_not_served_unless_allowed(tmp_path: Path):
    gated = {"engine": "faster-whisper 1.2.1", "compute_type": "int8", "device": "cpu"}
    registry = write_registry(tmp_path / "registry.yaml")
    stored = load_registry(registry)
    stored.models["faster_whisper"].history[-1]["identity"] = {"cpu": gated}  # promoted in int8
    registry.write_text(stored.dumps())
    refused = start(registry, tmp_path / "refused.log", "--model=faster_whisper", ready=False)
    assert refused.process.wait(120) != 0
    assert (
        "faster_whisper: loaded unlike its last promotion (compute_type: 'int8' promoted, 'float32' loaded)"
        in (refused.log.read_text())
    )
    allowed = start(registry, tmp_path / "allowed.log", "--model=faster_whisper", "--allow-identity-change")
    try:
        assert httpx.get(allowed.url + "/ready").status_code == 200
        assert any(e.get("event") == "identity_change_allowed" for e in allowed.lines())
    finally:
        assert allowed.stop() == 0
