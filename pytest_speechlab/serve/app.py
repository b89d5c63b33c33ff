"""The HTTP application: OpenAI's audio endpoints and the operations endpoints, on FastAPI.

``create_app`` builds one server from a ``ServeConfig``: the registry's models with an allowed
status (production unless told otherwise) are served through their own adapters, source,
revision and options; every other registered model is refused with its status named. Bad input
of any kind is an OpenAI-style JSON error with a one-line message; no answer ever carries a
traceback, and a fault in one request leaves the others and the server running.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..engines import Engine
from ..engines.base import Segment
from ..errors import SpeechlabError
from ..io.audio import audio_info, decode_audio
from ..store.registry import Entry, load_registry
from . import responses
from .guards import MAX_JSON_BYTES, audio_refusal, evidence_refusal, json_refusal, parse_json, public_source
from .pool import InferenceTimeout, Pool, QueueFull
from .prometheus import Metrics
from .security import Keys, RateLimiter, rate

log = logging.getLogger("speechlab.serve")
ENDPOINTS = ("/v1/audio/transcriptions", "/v1/audio/speech", "/v1/models", "/health", "/ready", "/metrics")
LANGUAGE = re.compile(r"[a-z]{2,3}")
DRAIN_LIMIT = 64 * 2**20  # an oversized upload is read and dropped up to this, so the client sees the 413


@dataclass(frozen=True)
class ServeConfig:
    registry: Path
    allow: tuple[str, ...] = ("production",)
    models: tuple[str, ...] = ()  # serve only these registry models; () serves every allowed one
    device: str = "auto"
    workers: int = 1  # inference threads per model
    queue_size: int = 8  # requests that may wait per model beyond those running
    threads: int | None = None  # engine threads per worker; None: the cores available / workers
    memory_mb: float | None = None  # budget for loaded models; None: keep every model loaded
    timeout_s: float = 120.0
    max_upload_mb: float = 25.0
    max_audio_s: float = 600.0
    max_input_chars: int = 4096
    rate: str | None = None  # per key (or per client address without keys), e.g. "120/minute"
    rate_storage: str = "memory://"
    allowed_hosts: tuple[str, ...] = ()  # Host headers answered; () allows any (see run.serve)
    allow_identity_change: bool = False  # serve a model loaded unlike its promotion (logged)
    adapters: dict[str, type[Engine]] = field(default_factory=dict)


class ApiError(Exception):
    """A refused request: HTTP status, one-line message, metric reason and extra headers."""

    def __init__(self, status: int, message: str, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.reason, self.headers = status, message, reason, headers or {}


def error_body(status: int, message: str, code: str) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class RequestLog:
    """Outermost middleware: a request id, one structured access-log line per request, the HTTP
    metrics, and a JSON 500 (never a traceback) for anything a handler did not expect."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if re.fullmatch(r"[\w.-]{1,64}", given) else uuid.uuid4().hex[:16]
        state = scope.setdefault("state", {})
        state.update(request_id=rid, model="-", caller="-")
        status = 0
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        self.metrics.in_flight.inc()
        error = None
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # the last line of defence: one line in the log, a JSON 500 out
            error = f"{type(exc).__name__}: {exc}"
            if not status:
                body = error_body(500, f"internal error (request {rid})", "internal_error")
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": json.dumps(body).encode()})
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - start
            endpoint = _endpoint(scope["path"])
            self.metrics.requests.labels(state["model"], endpoint, str(status or 500)).inc()
            if status == 200:
                self.metrics.latency.labels(state["model"], endpoint).observe(elapsed)
            record = {
                "event": "request",
                "request_id": rid,
                "method": scope["method"],
                "path": scope["path"],
                "status": status or 500,
                "ms": round(elapsed * 1000, 1),
                "model": state["model"],
                "caller": state["caller"],
                "client": (scope.get("client") or ("-",))[0],
            }
            if error or state.get("error"):
                record["error"] = error or state["error"]
            log.info(json.dumps(record))


def _endpoint(path: str) -> str:
    """The metric label of a path: the route, never the raw path (whose values are unbounded)."""
    if path in ENDPOINTS:
        return path
    return "/models/{id}/status" if path.startswith("/models/") else "other"


class Server:
    """The state behind the endpoints: registry entries, pool, keys, limits, metrics."""

    def __init__(self, config: ServeConfig, keys: Keys) -> None:
        self.config = config
        self.keys = keys
        self.registry = load_registry(config.registry)
        if not config.registry.is_file():
            raise SpeechlabError(f"{config.registry}: no registry here (pass --registry PATH)")
        for name in config.models:
            entry = self.registry.get(name)
            if entry.status not in config.allow:
                raise SpeechlabError(
                    f"--model {name}: it is {entry.status}; allowed: {', '.join(config.allow)}"
                )
        wanted = set(config.models or self.registry.models)
        self.served = [
            e for e in self.registry.models.values() if e.status in config.allow and e.name in wanted
        ]
        # an earned status without the promotion that earned it (written by hand) is not served
        self.refused = {e.name: r for e in self.served if (r := evidence_refusal(e))}
        for name, reason in self.refused.items():
            if name in config.models:
                raise SpeechlabError(reason)
            log.warning(json.dumps({"event": "model_refused", "model": name, "reason": reason}))
        self.served = [e for e in self.served if e.name not in self.refused]
        if not self.served:
            raise SpeechlabError(
                f"{config.registry}: no model is {' or '.join(config.allow)}; nothing to serve"
            )
        self.metrics = Metrics()
        self.limiter = RateLimiter(
            rate(config.rate, "--rate-limit") if config.rate else None, config.rate_storage
        )
        self.pool = Pool(
            self.served,
            device=config.device,
            workers=config.workers,
            queue_size=config.queue_size,
            memory_mb=config.memory_mb,
            threads=config.threads,
            adapters=config.adapters,
            on_change=self.metrics.slot_changed,
            allow_identity_change=config.allow_identity_change,
        )
        self.ready = False
        self.max_bytes = int(config.max_upload_mb * 2**20)

    # --- who may ask, and for what ---

    def authorize(self, request: Request) -> None:
        """Check the bearer key (when keys are set) and count the caller's request rate."""
        item = None
        if self.keys:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            key = self.keys.identify(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
            if key is None:  # counted against the client's address: guessing keys is rate limited
                address = request.client.host if request.client else "-"
                self.limit(address, None)
                what = "no API key" if not token.strip() else "invalid API key"
                raise ApiError(401, f"{what}: send 'Authorization: Bearer KEY'", "unauthorized")
            caller, item = key.name, key.rate
        else:
            caller = request.client.host if request.client else "-"
        request.state.caller = caller
        self.limit(caller, item)

    def limit(self, caller: str, item: Any) -> None:
        """Count one request of ``caller``; 429 past its rate."""
        wait = self.limiter.wait(caller, item)
        if wait is not None:
            raise ApiError(
                429,
                f"rate limit of {item or self.limiter.default} exceeded for {caller}; retry in {wait} s",
                "rate_limited",
                {"Retry-After": str(wait)},
            )

    def model(self, request: Request, name: str, task: str) -> Entry:
        """The served entry ``name``, refused with its status when the server does not serve it."""
        if not name:
            raise ApiError(400, "model: required (see GET /v1/models)", "bad_request")
        entry = self.registry.models.get(name)
        if entry is None:
            raise ApiError(404, f"model {name!r} does not exist (see GET /v1/models)", "unknown_model")
        request.state.model = name
        if name in self.refused:
            raise ApiError(403, f"model {name!r} is not served: {self.refused[name]}", "model_status")
        if entry not in self.served and entry.status in self.config.allow:  # left out by --model
            served = ", ".join(e.name for e in self.served)
            raise ApiError(
                404, f"model {name!r} is not served here (this server serves {served})", "unknown_model"
            )
        if entry not in self.served:
            allowed = " or ".join(self.config.allow)
            raise ApiError(
                403,
                f"model {name!r} is {entry.status}; this server serves {allowed} models only",
                "model_status",
            )
        if task not in self.pool.slots[name].cls.tasks:
            does = "speech-to-text" if task == "asr" else "text-to-speech"
            raise ApiError(400, f"model {name!r} does not do {does}", "bad_request")
        return entry

    # --- reading requests ---

    async def body(self, request: Request) -> AsyncGenerator[bytes, None]:
        """The request body, refused with 413 once it passes the upload limit (checked against
        Content-Length before anything is read). The rest of an oversized body is read and
        dropped, up to a bound, so that a client still sending sees the 413 rather than a reset."""
        length = request.headers.get("content-length", "")
        received = 0
        stream = request.stream()
        if length.isdigit() and int(length) > self.max_bytes:
            received = int(length)
        else:
            async for chunk in stream:
                received += len(chunk)
                if received > self.max_bytes:
                    break
                yield chunk
            else:
                return
        if received <= DRAIN_LIMIT:
            async for chunk in stream:
                received += len(chunk)
                if received > DRAIN_LIMIT:
                    break
        raise ApiError(
            413, f"upload of {received}+ bytes is over the {self.max_bytes} byte limit", "too_large"
        )

    async def form(self, request: Request) -> FormData:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise ApiError(400, "expected a multipart/form-data body with a 'file' part", "bad_request")
        parser = MultiPartParser(request.headers, self.body(request), max_files=1, max_fields=32)
        try:
            return await parser.parse()
        except MultiPartException as exc:
            raise ApiError(400, f"malformed multipart body: {exc.message}", "bad_request") from None

    async def json_body(self, request: Request) -> dict[str, Any]:
        """A small JSON object: declared as JSON and short enough before anything is read, read
        only up to the JSON limit, and parsed with every malformation a 400."""
        refused = json_refusal(
            request.headers.get("content-type", ""), request.headers.get("content-length", "")
        )
        if refused:
            raise ApiError(
                refused[0], refused[1], "unsupported_media_type" if refused[0] == 415 else "too_large"
            )
        data = b""
        async for chunk in self.body(request):
            data += chunk
            if len(data) > MAX_JSON_BYTES:
                break
        body = parse_json(data)
        if isinstance(body, str):
            raise ApiError(413 if "over the" in body else 400, f"body: {body}", "bad_request")
        return body

    # --- running models ---

    async def infer(self, request: Request, name: str, work: Callable[[Engine], Any]) -> Any:
        try:
            return await self.pool.run(name, work, self.config.timeout_s)
        except Exception as exc:
            raise inference_error(request, name, exc) from None


def inference_error(request: Request, name: str, exc: Exception) -> ApiError:
    """The answer to a request whose inference did not happen or failed: an upload refused in the
    worker keeps its own answer (4xx); an engine's failure is logged with the request id, and the
    client is given the id, not the engine's text (which may say more about the server than it
    should)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, QueueFull):
        return ApiError(
            503,
            f"model {name!r} is busy (queue full); retry in {exc.retry_after} s",
            "queue_full",
            {"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, InferenceTimeout):
        return ApiError(504, str(exc), "timeout")
    rid = getattr(request.state, "request_id", "-")
    request.state.engine_error = f"{type(exc).__name__}: {exc}"  # in the access log's line, not the answer
    return ApiError(500, f"model {name!r} failed on this request (request {rid})", "engine_error")


def _field(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ApiError(400, f"{name}: expected a text field, got a file", "bad_request")
    return value.strip()


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool):
        raise ApiError(400, f"{name}: expected a number, got {value!r}", "bad_request")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        raise ApiError(400, f"{name}: expected a number, got {shown}", "bad_request") from None
    if not low <= number <= high or math.isnan(number):
        raise ApiError(400, f"{name}: {number:g} is outside {low:g}..{high:g}", "bad_request")
    return number


def _created(entry: Entry) -> int:
    when = entry.history[0].get("when") if entry.history else None
    try:
        return int(datetime.fromisoformat(str(when).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _speed_kw(cls: type[Engine], speed: float, name: str) -> dict[str, float]:
    if speed == 1.0:
        return {}
    method = getattr(cls, "stream", None) or getattr(cls, "synthesize", None)
    if method is None or "speed" not in inspect.signature(method).parameters:
        raise ApiError(400, f"speed: model {name!r} speaks at one speed only (1.0)", "bad_request")
    return {"speed": speed}


def create_app(config: ServeConfig, keys: Keys, on_fatal: Callable[[str], None] | None = None) -> FastAPI:
    """The application; models load in the background after start (``/ready`` says when), and a
    model that cannot be loaded or whose weights differ from the registry's revision stops the
    server through ``on_fatal`` with a one-line reason."""
    server = Server(config, keys)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def load() -> None:
            try:
                await asyncio.to_thread(server.pool.load_all)
            except Exception as exc:
                message = str(exc) if isinstance(exc, SpeechlabError) else f"{type(exc).__name__}: {exc}"
                log.error(json.dumps({"event": "load_failed", "error": message}))
                (on_fatal or (lambda m: None))(message)
                return
            server.ready = True
            log.info(
                json.dumps({"event": "ready", "models": server.pool.loaded, "threads": server.pool.threads})
            )

        task = asyncio.create_task(load())
        yield
        task.cancel()
        await asyncio.to_thread(server.pool.close)

    app = FastAPI(title="speechlab serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = server
    if config.allowed_hosts:  # a wrong Host header gets a 400 (DNS rebinding; see run.serve)
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(config.allowed_hosts))
    app.add_middleware(RequestLog, metrics=server.metrics)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        server.metrics.rejections.labels(exc.reason).inc()
        # an engine's failure is logged in its own words; the client got the request id
        request.state.error = getattr(request.state, "engine_error", None) or exc.message
        return JSONResponse(error_body(exc.status, exc.message, exc.reason), exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return JSONResponse(error_body(exc.status_code, message, f"http_{exc.status_code}"), exc.status_code)

    @app.exception_handler(ClientDisconnect)
    async def disconnected(request: Request, exc: ClientDisconnect) -> Response:
        server.metrics.rejections.labels("client_disconnect").inc()
        request.state.error = "client disconnected before the request was complete"
        return Response(status_code=499)  # nobody is listening; the access log records it

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        body = {
            "ready": server.ready,
            "models": server.pool.loaded,
            "serving": [e.name for e in server.served],
        }
        return JSONResponse(body, 200 if server.ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(server.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        server.authorize(request)
        data = [
            {
                "id": e.name,
                "object": "model",
                "created": _created(e),
                "owned_by": "speechlab",
                "status": e.status,
                "capabilities": list(server.pool.slots[e.name].cls.tasks),
            }
            for e in server.served
        ]
        return {"object": "list", "data": data}

    @app.get("/models/{name}/status")
    async def status(request: Request, name: str) -> dict[str, Any]:
        server.authorize(request)
        entry = server.registry.models.get(name)
        if entry is None or entry not in server.served:  # what is not served is not this server's to show
            raise ApiError(404, f"model {name!r} is not served here", "unknown_model")
        request.state.model = name
        promotions = [h for h in entry.history if h.get("to") in ("candidate", "production")]
        last = promotions[-1] if promotions else None
        slot = server.pool.slots.get(name)
        engine = slot.engine if slot else None
        return {
            "id": name,
            "status": entry.status,
            "served": slot is not None,
            "engine": entry.engine,
            "source": public_source(entry.source),
            "revision": entry.revision,
            "options": slot.options if slot else entry.options,
            "loaded": engine is not None,
            "identity": {**engine.identity.__dict__, "source": public_source(engine.identity.source)}
            if engine
            else None,
            "last_promotion": {k: last.get(k) for k in ("to", "when", "commit", "metrics", "results_sha256")}
            if last
            else None,
        }

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Response:
        server.authorize(request)
        form = await server.form(request)
        try:
            return await _transcribe(server, request, form)
        finally:
            await form.close()

    @app.post("/v1/audio/speech")
    async def speech(request: Request) -> Response:
        server.authorize(request)
        return await _speak(server, request, await server.json_body(request))

    return app


async def _transcribe(server: Server, request: Request, form: FormData) -> Response:
    entry = server.model(request, _field(form, "model"), "asr")
    slot = server.pool.slots[entry.name]
    fmt = _field(form, "response_format", "json")
    if fmt not in responses.TRANSCRIPT_FORMATS:
        raise ApiError(
            400,
            f"response_format: {fmt!r} is not one of {', '.join(responses.TRANSCRIPT_FORMATS)}",
            "bad_request",
        )
    language = _field(form, "language") or None
    if language is not None and not LANGUAGE.fullmatch(language):
        raise ApiError(400, f"language: {language!r} is not an ISO-639-1 code such as 'en'", "bad_request")
    fixed = float(slot.options.get("temperature", 0.0) or 0.0)
    if _field(form, "temperature") and _number(_field(form, "temperature"), "temperature", 0, 1) != fixed:
        raise ApiError(
            400,
            f"temperature: model {entry.name!r} decodes at {fixed:g}, the temperature its "
            "promotion was gated at",
            "bad_request",
        )
    if _field(form, "prompt"):
        raise ApiError(400, "prompt: not supported (the served decoding is the gated one)", "bad_request")
    grains = set(form.getlist("timestamp_granularities[]") + form.getlist("timestamp_granularities"))
    if grains - {"word", "segment"}:
        raise ApiError(400, "timestamp_granularities: use word and/or segment", "bad_request")
    words = "word" in grains
    if words and fmt != "verbose_json":
        raise ApiError(
            400, "timestamp_granularities: word timings need response_format verbose_json", "bad_request"
        )
    timed = fmt in ("verbose_json", "srt", "vtt")
    has_segments = hasattr(slot.cls, "transcribe_segments")
    if words and not has_segments:
        raise ApiError(
            400, f"timestamp_granularities: model {entry.name!r} gives no word timings", "bad_request"
        )
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(400, "file: required (the audio, as a multipart file part)", "bad_request")
    name = upload.filename or "file"
    data = await upload.read()
    try:
        info = audio_info(data, name)
    except SpeechlabError as exc:
        raise ApiError(400, str(exc), "bad_audio") from None
    refused = audio_refusal(info, server.config.max_audio_s)
    if refused:
        raise ApiError(refused[0], f"{name}: {refused[1]}", "too_long" if refused[0] == 413 else "bad_audio")

    def work(engine: Engine) -> tuple[str, list[Segment], float, float]:
        # decoded here, in the model's queue slot: admission bounds how many decode at once
        try:
            audio = decode_audio(data, slot.cls.sample_rate, name)
        except SpeechlabError as exc:
            raise ApiError(400, str(exc), "bad_audio") from None
        duration = len(audio) / slot.cls.sample_rate
        start = time.perf_counter()
        if timed and has_segments:
            segments = engine.transcribe_segments(audio, language, words)  # type: ignore[attr-defined]
            text = " ".join(s.text for s in segments if s.text)
        else:
            text = engine.transcribe(audio, language)
            segments = [Segment(text, 0.0, round(duration, 3))]
        return text, segments, time.perf_counter() - start, duration

    text, segments, spent, duration = await server.infer(request, entry.name, work)
    server.metrics.rtf.labels(entry.name, "/v1/audio/transcriptions").observe(spent / max(duration, 1e-9))
    if fmt == "json":
        return JSONResponse({"text": text})
    if fmt == "text":
        return PlainTextResponse(text + "\n")
    if fmt in ("srt", "vtt"):
        return PlainTextResponse(responses.subtitles(segments, fmt), media_type=f"text/{fmt}")
    used = language or str(slot.options.get("language") or "")
    return JSONResponse(responses.verbose(text, segments, used, duration, fixed, words))


async def _speak(server: Server, request: Request, body: dict[str, Any]) -> Response:
    entry = server.model(request, str(body.get("model") or "").strip(), "tts")
    slot = server.pool.slots[entry.name]
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "input: required, the text to speak", "bad_request")
    if len(text) > server.config.max_input_chars:
        raise ApiError(
            413,
            f"input: {len(text)} characters is over the {server.config.max_input_chars} character limit",
            "too_long",
        )
    fmt = str(body.get("response_format") or "wav")
    if fmt not in responses.SPEECH_FORMATS:
        raise ApiError(
            400,
            f"response_format: {fmt!r} is not one of {', '.join(responses.SPEECH_FORMATS)}",
            "bad_request",
        )
    if body.get("stream_format", "audio") != "audio":
        raise ApiError(400, "stream_format: only 'audio' (the audio bytes, streamed)", "bad_request")
    speed = _speed_kw(slot.cls, _number(body.get("speed", 1.0), "speed", 0.25, 4.0), entry.name)
    language = str(body.get("language") or "") or None

    def work(engine: Engine) -> Iterator[np.ndarray]:
        stream = getattr(engine, "stream", None)
        if stream is not None:
            yield from stream(text, language, **speed)
        else:
            yield engine.synthesize(text, language, **speed)  # type: ignore[attr-defined]

    start = time.perf_counter()
    chunks = server.pool.stream(entry.name, work, server.config.timeout_s)
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = np.zeros(0, np.float32)
    except Exception as exc:
        raise inference_error(request, entry.name, exc) from None
    server.metrics.first_audio.labels(entry.name).observe(time.perf_counter() - start)
    engine = slot.engine  # loaded now: it made the first chunk
    encoder = responses.SpeechEncoder(fmt, int(getattr(engine, "output_sample_rate", 0)))

    async def audio() -> AsyncIterator[bytes]:
        produced = len(first)
        try:
            yield encoder.chunk(first)
            async for chunk in chunks:
                produced += len(chunk)
                yield encoder.chunk(chunk)
            yield encoder.end()
        finally:
            await chunks.aclose()
        spent = time.perf_counter() - start
        server.metrics.rtf.labels(entry.name, "/v1/audio/speech").observe(
            spent / max(produced / encoder.rate, 1e-9)
        )

    headers = {"X-Sample-Rate": str(encoder.out_rate)}
    if not encoder.streams:
        data = b"".join([part async for part in audio()])
        return Response(data, media_type=responses.SPEECH_FORMATS[fmt], headers=headers)
    return StreamingResponse(audio(), media_type=responses.SPEECH_FORMATS[fmt], headers=headers)
