"""``speechlab serve`` as a real process on a loopback port: the OpenAI endpoints through the
``openai`` client, the operations endpoints, and every kind of bad request."""

from __future__ import annotations

import io
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import openai
import pytest
import soundfile

from pytest_speechlab.engines.faster_whisper import FasterWhisperEngine
from pytest_speechlab.engines.piper import PiperEngine
from pytest_speechlab.io.audio import load_audio

from ..projects import bundled_cases
from .serving import HAS_ESPEAK, KEY, TIGHT_KEY, Server, start, write_keys, write_registry

CASES = {c.id: c for c in bundled_cases()}
JFK = CASES["jfk"].audio
LIMITS = ("--max-upload-mb=2", "--max-audio-s=40", "--queue=1")
ADAPTER = "--adapter=faulty_whisper=tests.e2e.serve_engines:FaultyOnSilence"


def wav(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    out = io.BytesIO()
    soundfile.write(out, samples, rate, format="WAV", subtype=subtype)
    return out.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    folder = tmp_path_factory.mktemp("serve")
    registry = write_registry(folder / "registry.yaml", {"faulty_whisper": {}})
    keys = write_keys(folder / "keys")
    args = ("--allow=candidate", f"--api-keys-file={keys}", ADAPTER, *LIMITS)
    served = start(registry, folder / "server.log", *args, env={"SPEECHLAB_API_KEYS": KEY})
    yield served
    assert served.stop() == 0


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.api, api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def local_whisper() -> FasterWhisperEngine:
    return FasterWhisperEngine.load(None, "cpu", dict(FasterWhisperEngine.default_options))


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def transcribe(server: Server, data: bytes, model: str = "faster_whisper", **headers: str) -> httpx.Response:
    files = {"file": ("audio.wav", data, "audio/wav")}
    return httpx.post(
        server.api + "/audio/transcriptions",
        files=files,
        data={"model": model},
        headers={**auth(), **headers},
        timeout=120,
    )


def error(response: httpx.Response) -> str:
    message = response.json()["error"]["message"]
    assert "\n" not in message and "Traceback" not in message
    return message


# --- what a client sees ---


def test_health_ready_and_models(server, client):
    assert httpx.get(server.url + "/health").json() == {"status": "alive"}
    ready = httpx.get(server.url + "/ready").json()
    assert ready["ready"] is True
    served = {"faster_whisper", "faulty_whisper", "piper", *(["espeak"] if HAS_ESPEAK else [])}
    assert set(ready["models"]) == served
    nowhere = httpx.get(server.url + "/nowhere")
    assert nowhere.status_code == 404 and error(nowhere) == "GET /nowhere: Not Found"
    assert {m.id for m in client.models.list()} == served  # not the experimental or deprecated ones


def test_status_is_the_registry_entry(server):
    status = httpx.get(server.url + "/models/faster_whisper/status", headers=auth()).json()
    assert status["status"] == "production"
    assert status["revision"] == "sha256:1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
    assert status["identity"]["revision"] == status["revision"]
    assert status["last_promotion"]["to"] == "production"
    assert status["last_promotion"]["metrics"]["cpu"]["corpus_wer"] == 0.0697
    assert len(status["last_promotion"]["results_sha256"]) == 64
    # an entry this server does not serve is not shown at all (its source may be a local path)
    experimental = httpx.get(server.url + "/models/seamless_m4t/status", headers=auth())
    assert experimental.status_code == 404
    assert error(experimental) == "model 'seamless_m4t' is not served here"


def test_transcription_is_the_in_process_transcript(client, local_whisper):
    expected = local_whisper.transcribe(load_audio(JFK, 16000), "en")
    with JFK.open("rb") as f:
        result = client.audio.transcriptions.create(model="faster_whisper", file=f)
    assert result.text == expected
    with JFK.open("rb") as f:
        text = client.audio.transcriptions.create(model="faster_whisper", file=f, response_format="text")
    assert text.strip() == expected


def test_verbose_json_has_word_timings(client):
    with JFK.open("rb") as f:
        result = client.audio.transcriptions.create(
            model="faster_whisper", file=f, response_format="verbose_json", timestamp_granularities=["word"]
        )
    assert result.duration == pytest.approx(11.0, abs=0.01)
    words = result.words
    assert [w.word.strip(",.").lower() for w in words[:4]] == ["and", "so", "my", "fellow"]
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(w.start <= w.end <= 11.0 for w in words)
    assert len(result.segments) >= 1 and result.segments[-1].end <= 11.0


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles(client, fmt):
    with JFK.open("rb") as f:
        text = client.audio.transcriptions.create(model="faster_whisper", file=f, response_format=fmt)
    separator = "," if fmt == "srt" else "."
    assert text.startswith("1\n00:00:00,000 --> " if fmt == "srt" else "WEBVTT\n\n00:00:00.000 --> ")
    assert f"{separator}000 --> " in text and "ask what you can do for your country" in text


def test_speech_streams_the_in_process_audio(server, client):
    text = "The first sentence is short. The second one takes a little longer to say."
    local = PiperEngine.load(None, "cpu", dict(PiperEngine.default_options))
    expected = local.synthesize(text, None)
    with client.audio.speech.with_streaming_response.create(
        model="piper", voice="alloy", input=text, response_format="wav"
    ) as response:
        assert response.headers.get("transfer-encoding") == "chunked"  # streamed, no length up front
        body = response.read()
    audio, rate = soundfile.read(io.BytesIO(body), dtype="float32")
    assert rate == local.output_sample_rate
    assert len(audio) == len(expected)
    assert np.abs(audio - expected).max() < 2 / 32768  # 16-bit quantisation only
    pcm = client.audio.speech.create(model="piper", voice="alloy", input=text, response_format="pcm").read()
    assert abs(len(pcm) // 2 - round(len(expected) * 24000 / rate)) <= 2  # 24 kHz, like OpenAI's pcm
    flac = client.audio.speech.create(model="piper", voice="alloy", input=text, response_format="flac").read()
    assert np.array_equal(soundfile.read(io.BytesIO(flac), dtype="float32")[0], audio)


def test_speech_speed(client):
    def seconds(model: str, speed: float) -> float:
        body = client.audio.speech.create(
            model=model, voice="alloy", input="Seven of clubs and the queen of hearts.", speed=speed,
            response_format="wav",
        ).read()  # fmt: skip
        return soundfile.info(io.BytesIO(body)).duration

    for model in ("piper", "espeak") if HAS_ESPEAK else ("piper",):
        assert seconds(model, 2.0) < 0.7 * seconds(model, 1.0)


# --- bad requests, each refused in one line ---


def test_no_key_and_wrong_key(server):
    data = wav(np.zeros(1600, np.float32), 16000)
    for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"Authorization": f"Basic {KEY}"}):
        response = httpx.post(
            server.api + "/audio/transcriptions", files={"file": ("a.wav", data)},
            data={"model": "faster_whisper"}, headers=headers,
        )  # fmt: skip
        assert response.status_code == 401
        assert "API key" in error(response)
    wrong = openai.OpenAI(base_url=server.api, api_key="not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    assert httpx.get(server.url + "/health").status_code == 200  # probes need no key


def test_over_the_rate(server):
    answers = [httpx.get(server.api + "/models", headers=auth(TIGHT_KEY)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 1 <= int(answers[2].headers["retry-after"]) <= 60
    assert "rate limit of 2 per 1 minute exceeded for tight" in error(answers[2])
    assert httpx.get(server.api + "/models", headers=auth()).status_code == 200  # other keys unaffected


def test_too_large(server):
    big = wav(np.zeros(3 * 2**20 // 2, np.float32), 16000)  # 3 MiB, limit 2 MiB
    response = transcribe(server, big)
    assert response.status_code == 413 and "byte limit" in error(response)

    def chunks():  # no Content-Length: counted while it arrives
        for at in range(0, len(big), 65536):
            yield big[at : at + 65536]

    boundary = "speechlab-test"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nfaster_whisper\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    ).encode()

    def body():
        yield head
        yield from chunks()
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {**auth(), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = httpx.post(server.api + "/audio/transcriptions", content=body(), headers=headers, timeout=60)
    assert response.status_code == 413 and "byte limit" in error(response)


def test_too_long(server):
    response = transcribe(server, wav(np.zeros(45 * 8000, np.float32), 8000))  # 45 s, limit 40 s
    assert response.status_code == 413
    assert error(response) == "audio.wav: 45.0 s of audio is over the 40 s limit"


@pytest.mark.parametrize("data", [b"not audio at all" * 64, wav(np.zeros(16000, np.float32), 16000)[:30]])
def test_corrupt_audio(server, data):
    response = transcribe(server, data)
    assert response.status_code == 400
    assert error(response).startswith("audio.wav: cannot decode audio (")


def test_unknown_experimental_deprecated_and_wrong_task(server, client):
    data = JFK.read_bytes()
    cases = {
        "no_such_model": (404, "model 'no_such_model' does not exist"),
        "seamless_m4t": (
            403,
            "model 'seamless_m4t' is experimental; this server serves production or candidate",
        ),
        "whisper": (403, "model 'whisper' is deprecated"),
        "piper": (400, "model 'piper' does not do speech-to-text"),
    }
    for model, (status, message) in cases.items():
        response = transcribe(server, data, model)
        assert response.status_code == status
        assert error(response).startswith(message)
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="nope", voice="alloy", input="hi")
    with pytest.raises(openai.BadRequestError, match="does not do text-to-speech"):
        client.audio.speech.create(model="faster_whisper", voice="alloy", input="hi")
    with pytest.raises(openai.BadRequestError, match="response_format: 'mp3' is not one of wav, pcm, flac"):
        client.audio.speech.create(model="piper", voice="alloy", input="hi", response_format="mp3")


def test_client_disconnect_mid_upload(server, client):
    before = server.metric("speechlab_rejections_total", reason="client_disconnect")
    host, port = server.url.removeprefix("http://").split(":")
    boundary = "cut"
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'.encode()
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(
            f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            "Content-Length: 500000\r\n\r\n".encode()
            + part
            + JFK.read_bytes()[:20000]
        )
    for _ in range(50):  # the server notices the closed socket on its next read
        if server.metric("speechlab_rejections_total", reason="client_disconnect") > before:
            break
        threading.Event().wait(0.1)
    assert server.metric("speechlab_rejections_total", reason="client_disconnect") == before + 1
    with JFK.open("rb") as f:  # and carries on
        assert (
            "ask not what your country"
            in client.audio.transcriptions.create(model="faster_whisper", file=f).text
        )


def test_engine_fault_in_one_request_leaves_the_others(server):
    silence = wav(np.zeros(16000, np.float32), 16000)
    speech = JFK.read_bytes()
    with ThreadPoolExecutor(3) as pool:
        faulty = pool.submit(transcribe, server, silence, "faulty_whisper")
        good = [pool.submit(transcribe, server, speech, m) for m in ("faster_whisper", "faster_whisper")]
        answers = [faulty.result(), *(g.result() for g in good)]
    assert answers[0].status_code == 500
    rid = answers[0].headers["x-request-id"]
    # the client gets the request id; the engine's own text is for the server's log only
    assert error(answers[0]) == f"model 'faulty_whisper' failed on this request (request {rid})"
    logged = next(e for e in server.lines() if e.get("request_id") == rid)
    assert logged["error"] == "RuntimeError: decoder fault on an all-zero input"
    assert [a.status_code for a in answers[1:]] == [200, 200]
    assert all("ask what you can do for your country" in a.json()["text"] for a in answers[1:])
    assert transcribe(server, speech, "faulty_whisper").status_code == 200  # the model still serves


def test_full_queue_is_503_with_retry_after(server):
    samples, rate = soundfile.read(JFK, dtype="float32")
    long = wav(np.concatenate([samples] * 3), rate)  # 33 s: a few seconds of work each
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: transcribe(server, long, "faulty_whisper"), range(5)))
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) == {200, 503} and statuses.count(200) >= 2  # one running, one queued (--queue=1)
    for answer in answers:
        if answer.status_code == 503:
            assert int(answer.headers["retry-after"]) >= 1
            assert error(answer).startswith("model 'faulty_whisper' is busy (queue full); retry in ")
        else:
            assert answer.json()["text"].count("ask not what your country can do for you") == 3


def test_request_ids_and_access_log(server):
    response = httpx.get(server.api + "/models", headers={**auth(), "X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    minted = httpx.get(server.url + "/health").headers["x-request-id"]
    assert len(minted) == 16
    for _ in range(50):  # each line is written once its answer has gone
        logged = {e["request_id"]: e for e in server.lines() if e.get("event") == "request"}
        if minted in logged:
            break
        threading.Event().wait(0.1)
    assert logged["trace-42"]["status"] == 200 and logged["trace-42"]["caller"] == "env-1"
    assert logged[minted]["path"] == "/health" and logged[minted]["status"] == 200
    assert "Traceback" not in server.log.read_text()


def test_metrics(server, client):
    refused = server.metric("speechlab_rejections_total", reason="unauthorized")
    assert httpx.get(server.api + "/models").status_code == 401
    with JFK.open("rb") as f:
        client.audio.transcriptions.create(model="faster_whisper", file=f)
    text = httpx.get(server.url + "/metrics").text
    ok = 'speechlab_requests_total{endpoint="/v1/audio/transcriptions",model="faster_whisper",status="200"}'
    assert ok in text
    assert server.metric("speechlab_model_loaded", model="faster_whisper") == 1
    assert server.metric("speechlab_real_time_factor_count", endpoint="/v1/audio/transcriptions",
                         model="faster_whisper") >= 1  # fmt: skip
    for name in ("speechlab_queue_depth", "speechlab_inference_in_flight"):
        assert server.metric(name, model="faster_whisper") == 0  # idle now
    assert server.metric("speechlab_rejections_total", reason="unauthorized") == refused + 1
    assert "speechlab_request_seconds_bucket" in text and "speechlab_http_in_flight" in text


# --- starting and stopping ---


def test_refuses_weights_that_differ_from_the_registry(tmp_path):
    real = "sha256:1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
    wrong = "sha256:" + "0" * 64
    registry = write_registry(tmp_path / "registry.yaml")
    registry.write_text(registry.read_text().replace(real, wrong, 1))
    server = start(registry, tmp_path / "log", ready=False)
    try:
        assert server.process.wait(120) == 2
    finally:
        server.stop()
    assert server.log.read_text().strip().splitlines()[-1] == (
        f"speechlab: error: faster_whisper: the loaded weights are {real}, "
        f"not the registry's revision {wrong}"
    )


def test_no_keys_means_loopback_only(tmp_path):
    registry = write_registry(tmp_path / "registry.yaml")
    server = start(registry, tmp_path / "log", "--host=0.0.0.0", ready=False)
    try:
        assert server.process.wait(60) == 2
    finally:
        server.stop()
    assert server.log.read_text().strip().splitlines()[-1] == (
        "speechlab: error: --host 0.0.0.0: no API keys are set, so the server listens on loopback only "
        "(set keys, or pass --no-auth to serve anyone who can reach it)"
    )


def test_graceful_shutdown_finishes_in_flight_requests(tmp_path):
    registry = write_registry(tmp_path / "registry.yaml")
    server = start(registry, tmp_path / "log")
    refused = transcribe(server, JFK.read_bytes(), "piper")
    assert refused.status_code == 403 and "is candidate; this server serves production models only" in error(
        refused
    )
    samples, rate = soundfile.read(JFK, dtype="float32")
    long = wav(np.concatenate([samples] * 3), rate)
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(transcribe, server, long)
        for _ in range(200):
            if server.metric("speechlab_inference_in_flight", model="faster_whisper") == 1:
                break
            threading.Event().wait(0.05)
        assert server.stop() == 0  # SIGTERM while the request runs
        response = answer.result()
    assert response.status_code == 200
    assert response.json()["text"].count("ask what you can do for your country") == 3
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/health")


def test_memory_budget_keeps_the_recently_used_model(tmp_path):
    registry = write_registry(tmp_path / "registry.yaml", {"faulty_whisper": {}})
    server = start(registry, tmp_path / "log", ADAPTER, "--memory-mb=1")
    try:
        assert httpx.get(server.url + "/ready").json()["models"] == ["faulty_whisper"]  # loaded last
        assert transcribe(server, JFK.read_bytes()).status_code == 200  # loads again, checked again
        assert httpx.get(server.url + "/ready").json()["models"] == ["faster_whisper"]
        assert server.metric("speechlab_model_loaded", model="faulty_whisper") == 0
    finally:
        assert server.stop() == 0


def test_timeout_is_504_and_the_server_carries_on(tmp_path):
    registry = write_registry(tmp_path / "registry.yaml", {"whisper": {}})  # a second production model
    server = start(registry, tmp_path / "log", "--model=faster_whisper", "--timeout=0.5")
    try:
        other = transcribe(server, JFK.read_bytes(), "whisper")  # production, but left out by --model
        assert other.status_code == 404
        assert error(other) == "model 'whisper' is not served here (this server serves faster_whisper)"
        samples, rate = soundfile.read(JFK, dtype="float32")
        response = transcribe(server, wav(np.concatenate([samples] * 3), rate))
        assert response.status_code == 504
        assert error(response) == "faster_whisper: no answer within 0.5 s"
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        assert server.stop() == 0
