"""The ``openai_api`` engines: the plugin's suite against a real ``speechlab serve`` process gives
the in-process engine's transcripts, and an endpoint's failures are one line per case."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import yaml

from pytest_speechlab.engines.openai_api import OpenAIApiEngine, OpenAIApiSpeechEngine
from pytest_speechlab.errors import SpeechlabError

from ..projects import bundled_cases, use_suite
from .serving import KEY, Server, start, write_registry

pytestmark = pytest.mark.slow  # run first, the module together (one server): see tests/conftest.py

# A wrong word, a stereo 48 kHz file, FLAC, 8 kHz telephone audio, and digital silence (where
# hallucinated words count): each format and rate the server decodes, no more, since every case is
# transcribed twice, here and behind the API.
EQUAL_CASES = ("cards_002", "espeak_stereo48k", "librispeech_61_70968_0000", "espeak_phone", "silence_3s")
PYPROJECT = """
[tool.pytest.ini_options]
testpaths = ["suites"]

[tool.speechlab]
manifest = "data/manifest.yaml"
baselines = "baselines"
device = "cpu"
new_cases = "pass"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    folder = tmp_path_factory.mktemp("api")
    registry = write_registry(folder / "registry.yaml", {"faulty_whisper": {}})
    adapter = "--adapter=faulty_whisper=tests.e2e.serve_engines:FaultyOnSilence"
    served = start(
        registry, folder / "server.log", "--allow=candidate", adapter, env={"SPEECHLAB_API_KEYS": KEY}
    )
    yield served
    assert served.stop() == 0


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SPEECHLAB_API_KEY", KEY)
    return KEY


def project(pytester: pytest.Pytester, ids: tuple[str, ...], suite: str = "test_asr") -> Path:
    """A project of the bundled cases ``ids`` (none timed repeatedly) and one suite module."""
    by_id = {c.id: c for c in bundled_cases()}
    (pytester.path / "data" / "audio").mkdir(parents=True)
    entries = []
    for case_id in ids:
        case = by_id[case_id]
        shutil.copy(case.audio, pytester.path / "data" / "audio" / case.audio.name)
        tags = [t for t in case.tags if t != "latency"]
        entries.append({"id": case.id, "audio": f"audio/{case.audio.name}", "text": case.text, "tags": tags})
    (pytester.path / "data" / "manifest.yaml").write_text(yaml.safe_dump({"cases": entries}, sort_keys=False))
    use_suite(pytester.path, suite)
    (pytester.path / "pyproject.toml").write_text(PYPROJECT)
    return pytester.path


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    out = pytester.path / f"results-{len(list(pytester.path.glob('results-*')))}.json"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--speech-results={out}", *args)
    return result, json.loads(out.read_text()) if out.exists() else {}


def endpoint(server: Server, model: str = "faster_whisper", name: str = "openai_api") -> tuple[str, ...]:
    return (
        f"--speech-model={name}",
        f"--speech-source={name}={server.api}",
        f"--speech-option={name}.model={model}",
    )


def test_through_the_server_equals_in_process(pytester, server, key, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    project(pytester, EQUAL_CASES)
    local, local_data = run(pytester, "--speech-model=faster_whisper")
    remote, remote_data = run(pytester, *endpoint(server))
    # wer, cer per case; corpus, slices, hallucination
    local.assert_outcomes(passed=2 * len(EQUAL_CASES) + 3, skipped=1)
    remote.assert_outcomes(passed=2 * len(EQUAL_CASES) + 3, skipped=1)
    mine = {c["id"]: c["raw_hypothesis"] for c in local_data["cases"]}
    theirs = {c["id"]: c["raw_hypothesis"] for c in remote_data["cases"]}
    assert theirs == mine and len(mine) == len(EQUAL_CASES)
    assert remote_data["corpus"]["wer"] == local_data["corpus"]["wer"]
    assert remote_data["corpus"]["cer"] == local_data["corpus"]["cer"]
    assert remote_data["corpus"]["nonspeech_words"] == local_data["corpus"]["nonspeech_words"]
    identity = remote_data["identity"]
    assert identity["revision"] == local_data["identity"]["revision"]  # the same weights behind the API
    assert identity["model_id"] == "faster_whisper (tiny.en)"
    assert identity["options"]["latency"].startswith("client-side")


def test_tts_through_the_server_with_the_judge(pytester, server, key, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    project(pytester, ("cards_005", "piper_02"), "test_tts")
    result, data = run(pytester, *endpoint(server, "piper", "openai_api_tts"))
    # health, intelligibility, voice per case; the voices together; no latency case
    result.assert_outcomes(passed=7, skipped=1)
    for case in data["tts_cases"]:
        assert case["sample_rate"] == 24000 and case["duration_s"] > 1.0
        assert case["judge_wer"] <= 0.2  # piper speaks these clearly: the judge hears them
    assert (
        data["identity"]["revision"]
        == "sha256:58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"
    )


def test_speech_arrives_as_a_stream(server, key):
    engine = OpenAIApiSpeechEngine.load(
        server.api, "cpu", {**OpenAIApiSpeechEngine.default_options, "model": "piper"}
    )
    text = "The first sentence is short. The second one takes a little longer to say. And a third."
    chunks = list(engine.stream(text, None))
    assert len(chunks) >= 2  # sentence by sentence, as Piper makes them
    assert sum(len(c) for c in chunks) / 24000 > 3.0


def test_endpoint_errors_are_one_line(server, key, monkeypatch):
    options = {**OpenAIApiEngine.default_options, "model": "faster_whisper"}
    monkeypatch.setenv("SPEECHLAB_API_KEY", "wrong")
    with pytest.raises(SpeechlabError) as wrong:
        OpenAIApiEngine.load(server.api, "cpu", options)
    assert str(wrong.value) == (
        f"openai_api: {server.api} answered 401 to GET /models (faster_whisper): "
        "invalid API key: send 'Authorization: Bearer KEY'"
    )
    monkeypatch.setenv("SPEECHLAB_API_KEY", KEY)
    with pytest.raises(SpeechlabError, match=r"does not serve 'seamless_m4t' \(it serves faster_whisper, "):
        OpenAIApiEngine.load(server.api, "cpu", {**options, "model": "seamless_m4t"})
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with pytest.raises(
        SpeechlabError, match=rf"^openai_api: {closed}: GET /models \(faster_whisper\) failed: "
    ):
        OpenAIApiEngine.load(closed, "cpu", options)


def test_a_failing_case_is_one_line(pytester, server, key):
    project(pytester, ("cards_001", "silence_3s"))
    result, data = run(pytester, *endpoint(server, "faulty_whisper"), "-rE")
    # silence_3s: wer, cer; the corpus, slices and hallucination tests need both cases
    result.assert_outcomes(passed=2, skipped=1, errors=5)
    # the server gives a request id, not its engine's text (which stays in its log)
    start = (
        f"openai_api: {server.api} answered 500 to POST /audio/transcriptions (faulty_whisper): "
        "model 'faulty_whisper' failed on this request (request "
    )
    lines = [x for x in result.stdout.lines if x.startswith(start) and x.endswith(")")]
    assert lines and "RuntimeError" not in lines[0]
    assert not [x for x in result.stdout.lines if "Traceback" in x or x.startswith("E   ")]
    assert data["errors"]["silence_3s"].startswith(f"SpeechlabError: {start}")
