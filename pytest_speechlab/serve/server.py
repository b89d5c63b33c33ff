"""Running the application under uvicorn: logging, the listening socket, the exit status.

The socket is bound here (port 0 picks a free one, and the log says which), so the server never
races another process for its port. Without API keys it listens on loopback only unless told
otherwise: an open port with no key serves anyone who can reach it. SIGTERM and SIGINT stop it
gracefully: no new connections, in-flight requests finish (up to ``grace_s``), then the workers.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import signal
import socket
import sys
import time
from dataclasses import replace
from typing import Any

import uvicorn

from ..errors import SpeechlabError
from ..io.devices import keep_freed_memory
from .app import ServeConfig, create_app
from .security import Keys


class JsonLines(logging.Formatter):
    """One JSON object a line: our records carry JSON already; others (uvicorn's) are wrapped."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        try:
            data: Any = json.loads(message)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {"event": "log", "message": message}
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return json.dumps(
            {
                "time": f"{stamp}.{int(record.msecs):03d}Z",
                "level": record.levelname.lower(),
                "logger": record.name,
                **data,
            }
        )


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    for name in ("speechlab.serve", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SpeechlabError(f"--host {host} --port {port}: cannot listen ({exc.strerror})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


def serve(
    config: ServeConfig,
    keys: Keys,
    host: str,
    port: int,
    open_without_keys: bool,
    grace_s: float,
    forwarded_allow_ips: str | None = None,
) -> int:
    """Serve until stopped; 0 after a graceful stop, 2 when a model could not be served.

    Proxy headers (X-Forwarded-For) are believed only from ``forwarded_allow_ips``: otherwise any
    client could name itself anyone, for the rate limit and the log. On a loopback host only the
    loopback names are answered unless ``config.allowed_hosts`` says otherwise, so that a web page
    cannot reach the server through a DNS name it rebinds to 127.0.0.1."""
    if not keys and not _loopback(host) and not open_without_keys:
        raise SpeechlabError(
            f"--host {host}: no API keys are set, so the server listens on loopback only "
            "(set keys, or pass --no-auth to serve anyone who can reach it)"
        )
    if not config.allowed_hosts and _loopback(host):
        config = replace(config, allowed_hosts=LOOPBACK_HOSTS)
    setup_logging()
    keep_freed_memory()  # each request's buffers reused, not faulted in again
    failure: list[str] = []

    def fatal(message: str) -> None:
        failure.append(message)
        server.should_exit = True

    app = create_app(config, keys, on_fatal=fatal)
    sock = listen(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    uv = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=math.ceil(grace_s),
        timeout_keep_alive=30,
        server_header=False,
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=forwarded_allow_ips or "",
    )
    server = uvicorn.Server(uv)
    if not keys:
        url = f"http://{bound_host}:{bound_port}"
        served = ", ".join(e.name for e in app.state.server.served)
        warning = (
            f"speechlab serve: no API keys are set: anyone who can reach {url} may use {served} "
            "(set $SPEECHLAB_API_KEYS or --api-keys-file)"
        )
        print(warning, file=sys.stderr, flush=True)
        logging.getLogger("speechlab.serve").warning(json.dumps({"event": "open_server", "warning": warning}))
    logging.getLogger("speechlab.serve").info(
        json.dumps(
            {
                "event": "listening",
                "url": f"http://{bound_host}:{bound_port}",
                "auth": bool(keys),
                "serving": [e.name for e in app.state.server.served],
            }
        )
    )
    # uvicorn handles SIGTERM and SIGINT during the run and raises them again once it has stopped;
    # after a graceful stop that second delivery should end nothing, so the exit status is ours.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, frame: None)
    server.run(sockets=[sock])
    if failure:
        raise SpeechlabError(failure[0])
    return 0
