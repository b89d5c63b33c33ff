"""What the server refuses, as pure functions of what it was sent or what it is asked to serve.

The application (``app.py``) turns each answer into an HTTP error or a refusal to start; the
rules live here so that they can be read, and tested, without a server.
"""

from __future__ import annotations

import json
from typing import Any

from ..io.audio import AudioInfo
from ..store.registry import PROMOTIONS, Entry

MAX_RATE = 192_000  # Hz: above any recording format in use; FLAC's header allows 655,350
MAX_CHANNELS = 8
# Samples decoded per second of the duration limit: 48 kHz stereo. A recording at a higher rate
# or with more channels is allowed correspondingly fewer seconds, so decoding stays bounded.
SAMPLES_PER_S = 48_000 * 2
MAX_JSON_BYTES = 64 * 2**10
JSON_TYPE = "application/json"
IDENTITY_CHECKED = ("engine", "compute_type", "device")


def audio_refusal(info: AudioInfo, max_audio_s: float) -> tuple[int, str] | None:
    """Why an upload's header is refused before anything is decoded (status and reason), or None:
    a sample rate or channel count beyond any recording's (400), more seconds than the limit, or
    more samples (frames times channels) than the limit's seconds of 48 kHz stereo (413)."""
    if not 0 < info.sample_rate <= MAX_RATE:
        return 400, f"sample rate {info.sample_rate} Hz is outside 1..{MAX_RATE} Hz"
    if not 0 < info.channels <= MAX_CHANNELS:
        return 400, f"{info.channels} channels is outside 1..{MAX_CHANNELS}"
    if info.duration_s > max_audio_s:
        return 413, f"{info.duration_s:.1f} s of audio is over the {max_audio_s:g} s limit"
    if info.frames * info.channels > max_audio_s * SAMPLES_PER_S:
        limit = max_audio_s * SAMPLES_PER_S
        return 413, (
            f"{info.frames} frames of {info.channels} channels is over the {limit:.0f} sample limit "
            f"({max_audio_s:g} s of 48 kHz stereo)"
        )
    return None


def json_refusal(content_type: str, length: str) -> tuple[int, str] | None:
    """Why a JSON request is refused before its body is read: not declared as JSON (a form or
    ``text/plain`` body is what a browser sends cross-origin without asking first), or declared
    longer than ``MAX_JSON_BYTES``."""
    if content_type.split(";")[0].strip().lower() != JSON_TYPE:
        return 415, f"Content-Type must be {JSON_TYPE}, not {content_type or 'missing'!r}"
    if length.isdigit() and int(length) > MAX_JSON_BYTES:
        return 413, f"a JSON body of {length} bytes is over the {MAX_JSON_BYTES} byte limit"
    return None


def parse_json(data: bytes) -> dict[str, Any] | str:
    """The JSON object in ``data``, or why it is not one. Every malformed body is the client's
    fault: not UTF-8, not JSON, nested past the parser's depth, an integer too long to convert."""
    if len(data) > MAX_JSON_BYTES:
        return f"a JSON body of {len(data)}+ bytes is over the {MAX_JSON_BYTES} byte limit"
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, digit limit
        return f"not valid JSON ({type(exc).__name__})"
    return body if isinstance(body, dict) else "expected a JSON object"


def last_promotion(entry: Entry) -> dict[str, Any] | None:
    """The history entry that brought ``entry`` to its status, if that status is earned."""
    if entry.status not in PROMOTIONS:
        return None
    return next((h for h in reversed(entry.history) if h.get("to") == entry.status), None)


def evidence_refusal(entry: Entry) -> str | None:
    """Why a candidate or production entry may not be served: no promotion brought it there
    (a status written by hand), or the one that did records no gated run (no results digest)."""
    if entry.status not in PROMOTIONS:
        return None
    change = last_promotion(entry)
    if change is None or not change.get("results_sha256"):
        return (
            f"{entry.name}: registry.yaml says {entry.status}, but no promotion with evidence brought it "
            f"there (promote it through the gate: speechlab promote {entry.name} --to {entry.status})"
        )
    return None


def identity_differences(entry: Entry, loaded: dict[str, Any], device: str) -> tuple[list[str], list[str]]:
    """How the loaded model differs from the one its last promotion gated on ``device`` (engine
    version, compute type, device), and what could not be checked (a promotion recorded before the
    identity was)."""
    change = last_promotion(entry) or {}
    gated = (change.get("identity") or {}).get(device.partition(":")[0])
    if gated is None:
        unchecked = [k for k in IDENTITY_CHECKED if k != "engine"]
        differences = []
        if entry.engine and loaded.get("engine") != entry.engine:
            differences.append(f"engine: {entry.engine!r} promoted, {loaded.get('engine')!r} loaded")
        return differences, unchecked
    differences = [
        f"{key}: {gated.get(key)!r} promoted, {loaded.get(key)!r} loaded"
        for key in IDENTITY_CHECKED
        if gated.get(key) != loaded.get(key)
    ]
    return differences, []


def public_source(source: str) -> str:
    """A weights source as a status endpoint may show it: a local path is the server's business."""
    kind, _, where = source.partition(":")
    if kind in ("package", "hub"):
        return source
    return f"{kind}:(local)" if where else "(local)"
