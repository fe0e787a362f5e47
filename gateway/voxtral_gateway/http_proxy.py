"""The HTTP side: a raw ASGI app. Requests the gateway answers itself (its health, the
services it routes to, metrics) and the rest: read the body (bounded), find the service it
names, send it to a ready replica with the least outstanding work, stream the answer back.
A 429 or 503 from a replica is sent once more to another replica when there is one (the
body is held, so it can be replayed; nothing has been sent to the client yet). A client
that leaves stops its upstream request (the connection to the replica is closed, so the
predictor aborts the work)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx

from . import metrics, names
from .hold import Expired, Full, Hold
from .keys import KeyFile, over_limit
from .pool import Pools, Replica
from .weight import audio_seconds

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Hop-by-hop headers (RFC 9110 7.6.1) and those httpx sets itself.
HOP = {
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
    b"trailer", b"transfer-encoding", b"upgrade", b"host", b"content-length",
}  # fmt: skip
RESPONSE_HOP = HOP - {b"content-length"}
RETRY_STATUSES = {429, 503}
RETRY_AFTER = "5"
CODES = {400: "model_required", 404: "model_not_found", 409: "model_name_ambiguous"}


# Open without a key: the probes of the gateway itself and of its clients, and metrics.
OPEN_PATHS = ("/healthz", "/v2/health/", "/metrics")
KEY_REQUIRED = "a valid API key is required: send it as `Authorization: Bearer <key>`"


def conflict(name: str, namespaces: list[str]) -> str:
    return (
        f"model {name!r} is served by VoxtralServices in namespaces {namespaces}: give each "
        "its own spec.model.servedName"
    )


class TooLarge(Exception):
    pass


class HttpGateway:
    def __init__(
        self,
        pools: Pools,
        client: httpx.AsyncClient,
        max_body_mb: float,
        keys: KeyFile | None = None,
        hold: Hold | None = None,
    ):
        self.pools = pools
        self.hold = hold
        self.client = client
        self.keys = keys
        self.max_body_mb = max_body_mb
        self.max_body = int(max_body_mb * (1 << 20))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        headers = dict(scope["headers"])
        key = None
        if self.keys is not None and not path.startswith(OPEN_PATHS):
            key = self.keys.current().identify(headers.get(b"authorization", b"").decode("latin-1"))
            if key is None:
                metrics.REJECTED.labels("unauthorized", "").inc()
                await _error(send, path, 401, KEY_REQUIRED, "invalid_api_key")
                return
        local = self._local(method, path)
        if local is not None:
            await _respond(send, *local)
            return
        try:
            body = await _read_body(receive, self.max_body)
        except TooLarge:
            message = f"request body over {self.max_body_mb:g} MiB (--max-body-mb): send less audio"
            await _error(send, path, 413, message, code="request_too_large")
            return
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        service, problem = self._service(path, content_type, body)
        if service is None:
            status, message = problem
            await _error(send, path, status, message, code=CODES[status])
            metrics.REQUESTS.labels("", "http", str(status)).inc()
            return
        weight = audio_seconds(body)
        limited = over_limit(self.keys, key, weight) if key and self.keys else None
        if limited is not None:
            wait, message = limited
            await _error(send, path, 429, message, "rate_limit_exceeded", str(wait))
            return
        metrics.IN_FLIGHT.labels(service).inc()
        try:
            status = await self._forward(scope, receive, send, service, body, weight)
        finally:
            metrics.IN_FLIGHT.labels(service).dec()
        metrics.REQUESTS.labels(service, "http", str(status)).inc()

    def _local(self, method: str, path: str) -> tuple[int, bytes, str] | None:
        """What the gateway answers itself: (status, body, content type), or None."""
        if method != "GET":
            return None
        if path in ("/healthz", "/v2/health/live"):
            return 200, b'{"live":true}', "application/json"
        if path == "/v2/health/ready":
            ready = any(r.ready for r in self.pools.replicas())
            return (
                (200 if ready else 503),
                json.dumps({"ready": ready}).encode(),
                "application/json",
            )
        if path == "/metrics":
            return 200, metrics.exposition(), "text/plain; version=0.0.4"
        if path in ("/v1/models", "/openai/v1/models"):
            cards = [
                {"id": s, "object": "model", "owned_by": "voxtral"} for s in self.pools.services()
            ]
            return 200, json.dumps({"object": "list", "data": cards}).encode(), "application/json"
        return None

    def _service(
        self, path: str, content_type: str, body: bytes
    ) -> tuple[str | None, tuple[int, str]]:
        served = self.pools.services()
        name = names.from_path(path)
        if name is None and names.is_openai(path):
            name = names.from_body(content_type, body)
        if name is None:
            if len(served) == 1:
                return served[0], (200, "")
            return None, (400, f"the request names no model: set `model` to one of {served}")
        if name in self.pools.conflicts:
            return None, (409, conflict(name, self.pools.conflicts[name]))
        if name not in served:
            return None, (404, f"model {name!r} is not served here; served: {served}")
        return name, (200, "")

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, service: str, body: bytes, weight: float
    ) -> int:
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP]
        left = asyncio.ensure_future(_wait_disconnect(receive))
        tried: list[Replica] = []
        try:
            while True:
                replica = self.pools.pick(service, exclude=tried)
                if replica is None and not tried and self.hold is not None:
                    refused = await _wait_held(self.hold, service, left)
                    if refused is None:
                        continue  # a replica turned ready
                    if refused == CLIENT_LEFT:
                        return 499
                    await _error(send, scope["path"], 503, refused, "no_ready_replica", RETRY_AFTER)
                    return 503
                if replica is None:
                    message = f"no ready replica of {service!r}: retry in a few seconds"
                    await _error(send, scope["path"], 503, message, "no_ready_replica", RETRY_AFTER)
                    return 503
                tried.append(replica)
                with self.pools.lease(replica, weight):
                    metrics.ROUTED.labels(service, replica.key).inc()
                    started = time.perf_counter()
                    request = self.client.build_request(
                        scope["method"], replica.upstream.http + target.decode("latin-1"),
                        headers=headers, content=body,
                    )  # fmt: skip
                    sent = asyncio.ensure_future(self.client.send(request, stream=True))
                    await asyncio.wait({sent, left}, return_when=asyncio.FIRST_COMPLETED)
                    if not sent.done():  # the client left: so does the upstream request
                        sent.cancel()
                        with contextlib.suppress(BaseException):
                            await sent
                        return 499
                    try:
                        response = sent.result()
                    except httpx.HTTPError as exc:
                        replica.healthy = False  # until its health check says otherwise
                        if len(tried) == 1 and self.pools.pick(service, exclude=tried):
                            metrics.RETRIES.labels(service).inc()
                            continue
                        message = (
                            f"replica of {service!r} did not answer ({type(exc).__name__}): retry"
                        )
                        await _error(
                            send, scope["path"], 502, message, "replica_unreachable", RETRY_AFTER
                        )
                        return 502
                    status = response.status_code
                    if status == 503:
                        replica.healthy = False  # loading or draining
                    if (
                        status in RETRY_STATUSES
                        and len(tried) == 1
                        and self.pools.pick(service, exclude=tried) is not None
                    ):
                        await response.aclose()
                        metrics.RETRIES.labels(service).inc()
                        continue
                    await _relay(response, send, left)
                    metrics.UPSTREAM_SECONDS.labels(service).observe(time.perf_counter() - started)
                    return status
        finally:
            left.cancel()


CLIENT_LEFT = "the client left"


async def _wait_held(hold: Hold, service: str, left: asyncio.Future[None]) -> str | None:
    """Wait for a ready replica of ``service``: None once there is one, else why not."""
    waiting = asyncio.ensure_future(hold.until_ready(service))
    await asyncio.wait({waiting, left}, return_when=asyncio.FIRST_COMPLETED)
    if not waiting.done():
        waiting.cancel()
        with contextlib.suppress(BaseException):
            await waiting
        return CLIENT_LEFT
    error = waiting.exception()
    if error is None:
        return None
    if isinstance(error, Full | Expired):
        return held_refusal(error, hold, service)
    raise error


def held_refusal(error: Full | Expired, hold: Hold, service: str) -> str:
    """What to tell a client whose wait for a replica ended without one."""
    if isinstance(error, Full):
        return (
            f"the gateway already holds {hold.max_held} requests for {service!r} (--max-held) "
            "until a replica starts: retry in a few seconds"
        )
    return f"no replica of {service!r} turned ready within {hold.seconds:g} s: retry later"


async def _read_body(receive: Receive, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge()
        parts.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(parts)


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _relay(response: httpx.Response, send: Send, left: asyncio.Future[None]) -> None:
    try:
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in RESPONSE_HOP]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        async for chunk in response.aiter_raw():
            if left.done():
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await response.aclose()


async def _respond(
    send: Send, status: int, body: bytes, content_type: str, retry_after: str | None = None
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if retry_after:
        headers.append((b"retry-after", retry_after.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(
    send: Send, path: str, status: int, message: str, code: str, retry_after: str | None = None
) -> None:
    """OpenAI's error shape on OpenAI routes, KServe's ({"error": ...}) elsewhere."""
    if names.is_openai(path):
        kind = "invalid_request_error" if status < 500 else "server_error"
        error = {"message": message, "type": kind, "param": None, "code": code}
        payload: dict[str, Any] = {"error": error}
    else:
        payload = {"error": message}
    await _respond(send, status, json.dumps(payload).encode(), "application/json", retry_after)
