"""API keys (optional): who may call through the gateway, and how many seconds of audio a
minute each may send. Keys come from a JSON file, mounted from a Secret:

    {"team-a": {"key": "sk-...", "audioSecondsPerMinute": 3600}, "batch": {"key": "sk-..."}}

A key is sent as `Authorization: Bearer <key>` (gRPC: `authorization` metadata) and compared
as a SHA-256 digest in constant time. Its limit is a bucket of `audioSecondsPerMinute`
seconds that refills continuously: a request is let through while the bucket is above zero
and takes its seconds of audio from it (a long recording may take it below zero; the next
requests wait until it has refilled), else 429 with the seconds to wait. The file is read
again when it changes (a Secret's update reaches the pod's volume within a minute)."""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import metrics

RELOAD_SECONDS = 5.0


@dataclass
class Key:
    name: str
    digest: bytes
    per_minute: float | None  # seconds of audio; None: no limit
    tokens: float = field(default=0.0)
    updated: float = field(default=0.0)


def parse(text: str, source: str) -> list[Key]:
    """The keys of a keys file; ValueError says what is wrong and where."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{source}: not JSON ({exc})") from exc
    if not isinstance(document, dict) or not document:
        raise ValueError(
            f'{source}: expected {{"NAME": {{"key": "...", "audioSecondsPerMinute": N}}}}'
        )
    keys = []
    for name, entry in document.items():
        secret = entry.get("key") if isinstance(entry, dict) else None
        if not isinstance(secret, str) or len(secret) < 8:
            raise ValueError(f"{source}: {name!r} needs a `key` of at least 8 characters")
        limit = entry.get("audioSecondsPerMinute")
        if limit is not None and (not isinstance(limit, int | float) or limit <= 0):
            raise ValueError(f"{source}: {name!r}: audioSecondsPerMinute must be a positive number")
        digest = hashlib.sha256(secret.encode()).digest()
        keys.append(Key(name, digest, float(limit) if limit is not None else None))
    return keys


class KeyRing:
    def __init__(self, keys: list[Key], clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._keys = keys
        for key in keys:
            key.tokens, key.updated = key.per_minute or 0.0, clock()

    def identify(self, authorization: str | None) -> Key | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        digest = hashlib.sha256(token.strip().encode()).digest()
        found = None
        for key in self._keys:
            if secrets.compare_digest(digest, key.digest):
                found = key
        return found

    def charge(self, key: Key, seconds: float) -> int | None:
        """Take ``seconds`` of audio from the key's bucket: None when let through, else the
        whole seconds to wait before it is above zero again."""
        if key.per_minute is None:
            return None
        now = self.clock()
        rate = key.per_minute / 60.0
        key.tokens = min(key.per_minute, key.tokens + (now - key.updated) * rate)
        key.updated = now
        if key.tokens <= 0:
            return max(1, math.ceil(-key.tokens / rate + 1e-9))
        key.tokens -= seconds
        return None

    def replace(self, keys: list[Key]) -> None:
        """New keys from the file; a key that stays keeps its bucket."""
        old = {(k.name, k.digest): k for k in self._keys}
        for key in keys:
            kept = old.get((key.name, key.digest))
            if kept is not None and kept.per_minute == key.per_minute:
                key.tokens, key.updated = kept.tokens, kept.updated
            else:
                key.tokens, key.updated = key.per_minute or 0.0, self.clock()
        self._keys = keys


class KeyFile:
    """A KeyRing read from ``path``, read again when the file changes."""

    def __init__(self, path: Path):
        self.path = path
        self._seen = path.stat().st_mtime_ns
        self.ring = KeyRing(parse(path.read_text(), str(path)))
        self._checked = time.monotonic()

    def current(self) -> KeyRing:
        now = time.monotonic()
        if now - self._checked >= RELOAD_SECONDS:
            self._checked = now
            try:
                seen = self.path.stat().st_mtime_ns
                if seen != self._seen:
                    self.ring.replace(parse(self.path.read_text(), str(self.path)))
                    self._seen = seen
            except (OSError, ValueError):
                pass  # keep the keys in force until the file is whole again
        return self.ring


def over_limit(keys: KeyFile, key: Key, seconds: float) -> tuple[int, str] | None:
    """Charge ``key`` for ``seconds`` of audio: None when it may go on, else (seconds to
    wait, what to tell the client); counted in voxtral_gateway_rejected_total."""
    wait = keys.current().charge(key, seconds)
    if wait is None:
        return None
    metrics.REJECTED.labels("rate_limited", key.name).inc()
    limit = f"{key.per_minute:g}" if key.per_minute is not None else "unlimited"
    return (
        wait,
        f"API key {key.name!r} is over its {limit} seconds of audio a minute: retry in {wait} s",
    )
