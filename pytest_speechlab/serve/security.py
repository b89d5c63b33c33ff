"""Who may call: API keys as bearer tokens, and a request rate per key.

Keys come from an environment variable (the keys themselves, comma separated) or a file of
their sha256 digests, one a line: ``sha256:HEX [NAME [RATE]]``, where RATE (``10/minute``)
overrides the server's rate for that key. A presented token is hashed and compared with every
stored digest in constant time, so neither the comparison nor the loop reveals how much of a
key was right. Rates are moving windows kept by the ``limits`` library, in memory by default or
in a shared store (``redis://...``) when several replicas must count together.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from limits import RateLimitItem, parse, storage, strategies

from ..errors import SpeechlabError

KEYS_ENV = "SPEECHLAB_API_KEYS"
DIGEST = re.compile(r"(?:sha256:)?([0-9a-f]{64})")


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def rate(spec: str, where: str) -> RateLimitItem:
    try:
        return parse(spec)
    except ValueError:
        raise SpeechlabError(f"{where}: {spec!r} is not a rate (e.g. 60/minute, 10/second)") from None


@dataclass(frozen=True)
class Key:
    name: str
    sha256: bytes
    rate: RateLimitItem | None = None  # None: the server's rate


@dataclass
class Keys:
    keys: list[Key] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def identify(self, token: str) -> Key | None:
        """The key ``token`` is, or None; every stored digest is compared, in constant time."""
        presented = digest(token)
        found = None
        for key in self.keys:
            if hmac.compare_digest(presented, key.sha256):
                found = key
        return found


def load_keys(file: Path | None = None, env: str = KEYS_ENV) -> Keys:
    """Keys from ``$SPEECHLAB_API_KEYS`` (plain keys) and ``file`` (digests)."""
    keys = [
        Key(f"env-{i + 1}", digest(k.strip()))
        for i, k in enumerate(os.environ.get(env, "").split(","))
        if k.strip()
    ]
    if file is None:
        return Keys(keys)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SpeechlabError(f"{file}: cannot read the key file ({exc.strerror})") from None
    for number, line in enumerate(lines, 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"{file}:{number}"
        found = DIGEST.fullmatch(fields[0].lower())
        if not found or len(fields) > 3:
            raise SpeechlabError(
                f"{where}: expected 'sha256:HEX [NAME [RATE]]' (the key's sha256, not the key)"
            )
        name = fields[1] if len(fields) > 1 else found.group(1)[:8]
        limit = rate(fields[2], where) if len(fields) > 2 else None
        keys.append(Key(name, bytes.fromhex(found.group(1)), limit))
    return Keys(keys)


class RateLimiter:
    """A moving window per caller; ``None`` rate means no limit."""

    def __init__(self, default: RateLimitItem | None, store: str = "memory://") -> None:
        self.default = default
        try:
            backend = storage.storage_from_string(store)
        except Exception as exc:  # the library raises several kinds for a bad URI or a missing driver
            raise SpeechlabError(f"--rate-limit-storage {store}: {exc}") from None
        self.limiter = strategies.MovingWindowRateLimiter(backend)

    def wait(self, caller: str, item: RateLimitItem | None = None) -> int | None:
        """Count one request of ``caller``; None when allowed, else seconds until it would be."""
        item = item or self.default
        if item is None or self.limiter.hit(item, caller):
            return None
        reset = self.limiter.get_window_stats(item, caller).reset_time
        return max(1, math.ceil(reset - time.time()))
