"""Any OpenAI-compatible speech endpoint as an engine: ``speechlab serve``, or another server.

``openai_api`` sends each case to ``POST /v1/audio/transcriptions`` and ``openai_api_tts``
reads ``POST /v1/audio/speech`` as a stream, so the whole suite can gate a deployed model:

    pytest --speech-model=openai_api --speech-source=openai_api=http://host:8000/v1 \\
        --speech-option=openai_api.model=faster_whisper

The source is the API's base URL, option ``model`` the served model's name, and the API key is
read from the environment variable named by option ``api_key_env`` (``SPEECHLAB_API_KEY``).
Audio goes up as 32-bit float WAV at 16 kHz, so the server decodes the very samples a local run
would use. Latency is the client's: encoding, the network and the server's queue included.
``identity`` says what is behind the endpoint as far as the endpoint tells: ``speechlab serve``
answers ``/models/{id}/status`` with the registry's revision; another server gives the model
name only, recorded with revision ``unknown``, so baselines compare like with like.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any, ClassVar, TypeVar

import numpy as np

from ..errors import SpeechlabError
from ..io.audio import encode_audio
from .base import ModelIdentity

T = TypeVar("T")
PCM_RATE = 24000  # OpenAI's pcm: 16-bit little-endian mono at 24 kHz
BASE_OPTIONS: dict[str, Any] = {
    "model": None,  # the served model's name (required)
    "api_key_env": "SPEECHLAB_API_KEY",  # environment variable holding the API key
    "timeout_s": 300.0,
}


def _client(name: str, url: str, options: dict[str, Any]) -> Any:
    try:
        import openai
    except ImportError:
        raise SpeechlabError(f"{name}: the openai package is not installed (pip install openai)") from None
    key = os.environ.get(options["api_key_env"] or "", "") or "none"  # a server without keys takes any
    # No retries: a gate measures the endpoint as it is, and a retried request would hide its latency.
    return openai.OpenAI(base_url=url, api_key=key, timeout=float(options["timeout_s"]), max_retries=0)


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(exc, "message", exc)).splitlines()[0]


class _Endpoint:
    """What the two adapters share: the client, its errors and the endpoint's identity."""

    name: ClassVar[str]
    default_source: ClassVar[str] = "http://127.0.0.1:8000/v1"

    def __init__(self, client: Any, url: str, identity: ModelIdentity) -> None:
        self._client = client
        self._url = url
        self._identity = identity

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        try:
            import openai  # noqa: F401
        except ImportError:
            return f"{cls.name}: the openai package is not installed (pip install openai)"
        if device != "cpu":
            return f"{device}: {cls.name} is an HTTP client; the endpoint picks its own device (use cpu)"
        return None

    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    def _call(self, what: str, request: Callable[[], T]) -> T:
        with self._errors(what):
            return request()

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Any failure inside becomes one line naming the endpoint, the request and the reason."""
        import openai

        model = self._identity.options["model"]
        try:
            yield
        except openai.APIStatusError as exc:
            raise SpeechlabError(
                f"{self.name}: {self._url} answered {exc.status_code} to {what} ({model}): {_message(exc)}"
            ) from None
        except openai.APIError as exc:  # connection refused or reset, timeout, a body that is not JSON
            raise SpeechlabError(
                f"{self.name}: {self._url}: {what} ({model}) failed: {_message(exc)}"
            ) from None
        except (OSError, RuntimeError, ValueError) as exc:  # the HTTP client's own, mid-stream
            raise SpeechlabError(
                f"{self.name}: {self._url}: {what} ({model}) failed: {type(exc).__name__}: {exc}"
            ) from None

    @classmethod
    def connect(cls, source: str | None, device: str, options: dict[str, Any], task: str) -> Any:
        """Check that the endpoint serves ``options["model"]`` and learn what it is."""
        model = options.get("model")
        if not model:
            raise SpeechlabError(
                f"{cls.name}: name the served model with --speech-option={cls.name}.model=NAME"
            )
        url = (source or cls.default_source).rstrip("/")
        client = _client(cls.name, url, options)
        probe = cls(client, url, ModelIdentity("", model, url, "", device, "", {"model": model}))
        served = probe._call("GET /models", lambda: [m.id for m in client.models.list()])
        if model not in served:
            raise SpeechlabError(
                f"{cls.name}: {url} does not serve {model!r} (it serves {', '.join(served) or 'nothing'})"
            )
        status = probe._status(model)
        behind = status.get("identity") or {}
        identity = ModelIdentity(
            engine=f"openai-api {behind.get('engine') or status.get('engine') or 'unknown server'}",
            model_id=f"{model} ({behind['model_id']})" if behind.get("model_id") else model,
            source=url,
            revision=str(status.get("revision") or "unknown"),
            device=f"endpoint:{behind.get('device') or 'unknown'}",
            compute_type=str(behind.get("compute_type") or "unknown"),
            options={
                **{k: v for k, v in options.items() if k != "api_key_env"},
                "task": task,
                "latency": "client-side: HTTP round trip, queue included",
                "served_options": behind.get("options"),
            },
            packages={"openai": version("openai")},
        )
        return cls(client, url, identity)

    def _status(self, model: str) -> dict[str, Any]:
        """``speechlab serve``'s ``/models/{id}/status``; {} from a server without it."""
        import openai

        root = self._url.removesuffix("/v1")
        try:
            status = self._client.get(f"{root}/models/{model}/status", cast_to=object)
        except (openai.APIStatusError, openai.APIError):
            return {}
        return status if isinstance(status, dict) else {}


class OpenAIApiEngine(_Endpoint):
    """Speech-to-text through ``POST /v1/audio/transcriptions``."""

    name: ClassVar[str] = "openai_api"
    tasks: ClassVar[tuple[str, ...]] = ("asr",)
    sample_rate: ClassVar[int] = 16000
    default_options: ClassVar[dict[str, Any]] = dict(BASE_OPTIONS)

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> OpenAIApiEngine:
        engine: OpenAIApiEngine = cls.connect(source, device, options, "asr")
        return engine

    def transcribe(self, audio: np.ndarray, language: str | None) -> str:
        upload = ("audio.wav", encode_audio(audio, self.sample_rate), "audio/wav")
        extra = {"language": language} if language else {}
        model = self._identity.options["model"]
        result = self._call(
            "POST /audio/transcriptions",
            lambda: self._client.audio.transcriptions.create(
                model=model, file=upload, response_format="json", **extra
            ),
        )
        return str(result.text).strip()


class OpenAIApiSpeechEngine(_Endpoint):
    """Text-to-speech through ``POST /v1/audio/speech``, read as a stream (time to first audio)."""

    name: ClassVar[str] = "openai_api_tts"
    tasks: ClassVar[tuple[str, ...]] = ("tts",)
    sample_rate: ClassVar[int] = 0  # no speech input
    output_sample_rate: ClassVar[int] = PCM_RATE
    default_options: ClassVar[dict[str, Any]] = {**BASE_OPTIONS, "voice": "alloy", "speed": 1.0}

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> OpenAIApiSpeechEngine:
        engine: OpenAIApiSpeechEngine = cls.connect(source, device, options, "tts")
        return engine

    def stream(self, text: str, language: str | None) -> Iterator[np.ndarray]:
        """The audio as the endpoint sends it: each network chunk becomes samples at once."""
        opts = self._identity.options
        speech = self._client.audio.speech.with_streaming_response
        with self._errors("POST /audio/speech"):
            with speech.create(
                model=opts["model"],
                voice=opts["voice"],
                input=text,
                response_format="pcm",
                speed=float(opts["speed"]),
            ) as response:
                carry = b""
                for data in response.iter_bytes():
                    data = carry + data
                    cut = len(data) - len(data) % 2
                    carry = data[cut:]
                    if cut:
                        yield np.frombuffer(data[:cut], "<i2").astype(np.float32) / 32768.0

    def synthesize(self, text: str, language: str | None) -> np.ndarray:
        chunks = list(self.stream(text, language))
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
