"""Shared helpers for the maintainer tools in data/tools: write cases into data/manifest.yaml.

Not used at test time. ``extract.py`` (human recordings) and ``synthesize.py`` (synthetic and
non-speech audio) each call :func:`update_manifest` with the cases they produced; entries with
the same id are replaced in place, new ones are appended, all others are kept as they are. The
sha256 and the format tags (sample rate, ``stereo``, ``flac``) are always computed from the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import soundfile
import yaml

from pytest_speechlab.io.manifest import sha256_file

DATA_DIR = Path(__file__).resolve().parent.parent
AUDIO_DIR = DATA_DIR / "audio"
MANIFEST = DATA_DIR / "manifest.yaml"
HEADER = "# Bundled speech-to-text test cases for pytest-speechlab; sources, licences and conversions: see data/README.md\n"
RATE_TAGS = {8000, 16000, 22050, 44100, 48000}


def format_tags(path: Path) -> list[str]:
    """The tags that describe the file itself: its rate, and stereo / flac where they apply."""
    info = soundfile.info(str(path))
    if info.samplerate not in RATE_TAGS:
        raise ValueError(f"{path}: sample rate {info.samplerate} has no tag")
    tags = [f"sr{info.samplerate}"]
    if info.channels == 2:
        tags.append("stereo")
    if info.format == "FLAC":
        tags.append("flac")
    return tags


def make_entry(case_id: str, filename: str, text: str, tags: list[str]) -> dict:
    """A manifest entry for ``audio/<filename>``.

    ``tags`` are the descriptive tags (origin, style, ``clean``); ``latency`` is moved to the end
    and the format tags are inserted before it.
    """
    path = AUDIO_DIR / filename
    base = [t for t in tags if t != "latency"]
    full = base + format_tags(path) + (["latency"] if "latency" in tags else [])
    return {
        "id": case_id,
        "audio": f"audio/{filename}",
        "text": text,
        "language": "en",
        "tags": full,
        "sha256": sha256_file(path),
    }


def _dump(entries: list[dict]) -> str:
    lines = [HEADER, "cases:\n"]
    for e in entries:
        # JSON strings are valid YAML double-quoted scalars.
        lines.append(f"  - id: {e['id']}\n")
        lines.append(f"    audio: {e['audio']}\n")
        lines.append(f"    text: {json.dumps(e['text'], ensure_ascii=False)}\n")
        lines.append(f"    language: {e['language']}\n")
        lines.append(f"    tags: [{', '.join(e['tags'])}]\n")
        lines.append(f"    sha256: {e['sha256']}\n")
        if "alignment" in e:
            lines.append(f"    alignment: {e['alignment']}\n")
    return "".join(lines)


def update_manifest(new_entries: list[dict], manifest: Path = MANIFEST) -> None:
    existing: list[dict] = []
    if manifest.is_file():
        existing = (yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}).get("cases") or []
    by_id = {e["id"]: e for e in new_entries}
    merged = [by_id.pop(e["id"], e) for e in existing]
    merged.extend(e for e in new_entries if e["id"] in by_id)
    text = _dump(merged)
    assert yaml.safe_load(text)["cases"] == merged, "manifest round-trip mismatch"
    manifest.write_text(text, encoding="utf-8")
    for e in new_entries:
        print(f"{e['id']:28s} {e['sha256']}  [{', '.join(e['tags'])}]")
    print(f"wrote {len(new_entries)} entries to {manifest} ({len(merged)} cases in all)")
