"""``--api-key``: vLLM's API-key check (vllm/entrypoints/serve/middleware/authenticate.py)
on this server's routes. A request to /v1/..., /v2/... or /openai/... needs
``Authorization: Bearer KEY`` with one of the keys (compared as SHA-256 digests in constant
time), else 401; OPTIONS and the health probes (/v2/health/..., which the kubelet calls
without a key) pass. gRPC: the ``authorization`` metadata, the same way, on every RPC but
ServerLive and ServerReady."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

from .errors import ApiError, shaped

GUARDED = ("/v1", "/v2", "/openai")
OPEN = ("/v2/health/",)
OPEN_RPCS = ("/ServerLive", "/ServerReady")
MESSAGE = "a valid API key is required: send it as `Authorization: Bearer <key>`"
RPC_MESSAGE = "a valid API key is required: send it as metadata `authorization: Bearer <key>`"


class Keys:
    def __init__(self, keys: Iterable[str]):
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys if k]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def accepts(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        digest = hashlib.sha256(token.strip().encode()).digest()
        matched = False
        for known in self._digests:
            matched |= secrets.compare_digest(digest, known)
        return matched


def parse_keys(value: str) -> Keys:
    """``--api-key`` / VOXTRAL_API_KEY: one key, or several separated by commas."""
    return Keys(k.strip() for k in value.split(","))


def guarded(path: str) -> bool:
    return path.startswith(GUARDED) and not path.startswith(OPEN)


def rpc_guarded(method: str) -> bool:
    return not method.endswith(OPEN_RPCS)


class ApiKeyMiddleware:
    """Pure ASGI: 401 (in the route's error shape) before anything else runs."""

    def __init__(self, app: Any, keys: Keys):
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") != "OPTIONS":
            path = scope["path"]
            headers = dict(scope.get("headers") or [])
            authorization = headers.get(b"authorization", b"").decode("latin-1") or None
            if guarded(path) and not self.keys.accepts(authorization):
                error = ApiError(
                    401, MESSAGE, "invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
                )
                await shaped(path, error)(scope, receive, send)
                return
        await self.app(scope, receive, send)
