"""Response bodies of the OpenAI audio API: transcripts as json, text, verbose_json, srt and vtt;
speech as wav, pcm and flac.

Speech streams: ``pcm`` is 16-bit little-endian mono at 24 kHz, as OpenAI defines it (raw samples
carry no rate, so the rate is the contract; soxr resamples chunk by chunk without seams), and
``wav`` is the model's own rate behind a header whose sizes say "unknown length", so that the
first chunk leaves as soon as the model makes it. ``flac`` needs the whole utterance first.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

import numpy as np
import soxr

from ..engines.base import Segment
from ..io.audio import encode_audio

TRANSCRIPT_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
SPEECH_FORMATS = {"wav": "audio/wav", "pcm": "audio/pcm", "flac": "audio/flac"}
PCM_RATE = 24000


def _clock(seconds: float, decimal: str) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


def subtitles(segments: Iterable[Segment], fmt: str) -> str:
    """SubRip (``srt``) or WebVTT (``vtt``) cues, one per segment."""
    cues = []
    for number, seg in enumerate(segments, 1):
        if fmt == "srt":
            cues.append(f"{number}\n{_clock(seg.start, ',')} --> {_clock(seg.end, ',')}\n{seg.text}\n")
        else:
            cues.append(f"{_clock(seg.start, '.')} --> {_clock(seg.end, '.')}\n{seg.text}\n")
    body = "\n".join(cues)
    return ("WEBVTT\n\n" + body) if fmt == "vtt" else body


def verbose(
    text: str, segments: list[Segment], language: str, duration: float, temperature: float, words: bool
) -> dict[str, Any]:
    """OpenAI's ``verbose_json``: the text, its segments and, when asked for, its words."""
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": language,
        "duration": round(duration, 3),
        "text": text,
        "segments": [
            {
                "id": i,
                "seek": 0,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "tokens": [],
                "temperature": temperature,
            }
            for i, s in enumerate(segments)
        ],
    }
    if words:
        body["words"] = [{"word": w.text, "start": w.start, "end": w.end} for s in segments for w in s.words]
    return body


def pcm16(samples: np.ndarray) -> bytes:
    """Float samples as 16-bit little-endian integers (clipped to full scale)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def wav_stream_header(rate: int) -> bytes:
    """A 16-bit mono WAV header of unknown length (sizes at their maximum), for streaming."""
    unknown = 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", unknown)
    )


class SpeechEncoder:
    """Turns a model's float chunks into the bytes of one response format, chunk by chunk."""

    def __init__(self, fmt: str, rate: int) -> None:
        self.fmt = fmt
        self.rate = rate
        self.out_rate = PCM_RATE if fmt == "pcm" else rate
        self._resampler = soxr.ResampleStream(rate, PCM_RATE, 1, dtype="float32") if fmt == "pcm" else None
        self._whole: list[np.ndarray] = []
        self._started = False

    @property
    def streams(self) -> bool:
        return self.fmt != "flac"

    def chunk(self, samples: np.ndarray) -> bytes:
        samples = np.asarray(samples, dtype=np.float32)
        if self.fmt == "flac":
            self._whole.append(samples)
            return b""
        head = b""
        if not self._started and self.fmt == "wav":
            head = wav_stream_header(self.rate)
        self._started = True
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        return head + pcm16(samples)

    def end(self) -> bytes:
        if self.fmt == "flac":
            audio = np.concatenate(self._whole) if self._whole else np.zeros(1, np.float32)
            return encode_audio(np.frombuffer(pcm16(audio), "<i2"), self.rate, "FLAC", "PCM_16")
        head = wav_stream_header(self.rate) if not self._started and self.fmt == "wav" else b""
        tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True) if self._resampler else None
        return head + (pcm16(tail) if tail is not None else b"")
