"""Engine adapters by ``--speech-model`` name.

Built-in adapters are imported only when asked for, so a missing optional package affects only
its own engine. Other plugins and conftest files add engines with the
``pytest_speechlab_engines`` hook.
"""

from __future__ import annotations

from importlib import import_module

from ..errors import SpeechlabError
from .base import Engine, ModelIdentity

BUILTIN = {
    "faster_whisper": "pytest_speechlab.engines.faster_whisper:FasterWhisperEngine",
    "whisper": "pytest_speechlab.engines.whisper:WhisperEngine",
    "piper": "pytest_speechlab.engines.piper:PiperEngine",
    "espeak": "pytest_speechlab.engines.espeak:EspeakEngine",
    "lfm2_5_audio": "pytest_speechlab.engines.lfm_audio:LFMAudioEngine",
    "seamless_m4t": "pytest_speechlab.engines.seamless:SeamlessM4TEngine",
    "openai_api": "pytest_speechlab.engines.openai_api:OpenAIApiEngine",
    "openai_api_tts": "pytest_speechlab.engines.openai_api:OpenAIApiSpeechEngine",
}

__all__ = ["BUILTIN", "Engine", "ModelIdentity", "engine_class"]


def engine_class(name: str, extra: dict[str, type[Engine]] | None = None) -> type[Engine]:
    """The adapter class for ``name``; an unknown name lists the known ones."""
    extra = extra or {}
    if name in extra:
        return extra[name]
    if name not in BUILTIN:
        known = ", ".join(sorted({*BUILTIN, *extra}))
        raise SpeechlabError(f"--speech-model: unknown model {name!r} (known: {known})")
    module, _, attr = BUILTIN[name].partition(":")
    return getattr(import_module(module), attr)
