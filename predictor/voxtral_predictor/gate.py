"""ASGI middleware in front of every HTTP inference route: admission (429 when full, 503
while draining), request metrics, and cancellation when the client disconnects (so the
engine stops working for nobody and the slot frees at once)."""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from . import metrics
from .admission import Admission, Draining, Overloaded
from .errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# (path pattern, endpoint label, task label when the route fixes it)
ROUTES = (
    (re.compile(r"^(/openai)?/v1/audio/transcriptions$"), "openai_transcriptions", "transcribe"),
    (re.compile(r"^(/openai)?/v1/audio/translations$"), "openai_translations", "translate"),
    (re.compile(r"^(/openai)?/v1/chat/completions$"), "openai_chat", "chat"),
    (re.compile(r"^/v1/models/[^/]+:predict$"), "v1_predict", ""),
    (re.compile(r"^/v2/models/[^/]+(/versions/[^/]+)?/infer$"), "v2_infer", ""),
)


@dataclass
class RequestInfo:
    """Filled in while a request runs: the task it turned out to be."""

    task: str = ""


CURRENT: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "voxtral_request", default=None
)


def set_task(task: str) -> None:
    info = CURRENT.get()
    if info is not None and not info.task:
        info.task = task


def classify(method: str, path: str) -> tuple[str, str] | None:
    if method != "POST":
        return None
    for pattern, endpoint, task in ROUTES:
        if pattern.match(path):
            return endpoint, task
    return None


class Gate:
    def __init__(self, app: ASGIApp, admission: Admission):
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            classify(scope.get("method", ""), scope.get("path", ""))
            if scope["type"] == "http"
            else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        endpoint, task = route
        status = {"code": 500}

        async def tracked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.perf_counter()
        info = RequestInfo(task=task)
        token = CURRENT.set(info)
        try:
            async with self.admission.slot():
                if await _cancel_on_disconnect(self.app, scope, receive, tracked_send):
                    status["code"] = 499  # client closed the request (nginx's convention)
        except Overloaded as exc:
            await _reply(send, 429, str(exc), "overloaded", {"retry-after": str(exc.retry_after)})
            status["code"] = 429
        except Draining as exc:
            await _reply(send, 503, str(exc), "draining", {"retry-after": "1"})
            status["code"] = 503
        finally:
            CURRENT.reset(token)
            metrics.REQUESTS.labels(endpoint=endpoint, code=str(status["code"])).inc()
            if status["code"] < 300:
                metrics.REQUEST_DURATION.labels(
                    endpoint=endpoint, task=info.task or "unknown"
                ).observe(time.perf_counter() - started)


async def _cancel_on_disconnect(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> bool:
    """Run the app; if the client goes away before the response is complete, cancel it
    (vLLM's serving code aborts its engine requests on cancellation). True if it did."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    done = asyncio.Event()
    handler = asyncio.current_task()

    async def pump() -> None:
        while True:
            message = await receive()
            await inbox.put(message)
            if message["type"] == "http.disconnect":
                if not done.is_set() and handler is not None:
                    handler.cancel()
                return

    async def tracked(message: Message) -> None:
        await send(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    reader = asyncio.create_task(pump())
    try:
        await app(scope, inbox.get, tracked)
        return False
    except asyncio.CancelledError:
        if done.is_set() or not reader.done():
            raise  # cancelled for another reason than the client leaving
        if handler is not None:
            handler.uncancel()
        metrics.REJECTED.labels(reason="client_disconnected").inc()
        return True
    finally:
        done.set()
        reader.cancel()


async def _reply(send: Send, status: int, message: str, code: str, headers: dict[str, str]) -> None:
    import json

    body = json.dumps(error_body(status, message, code, None)).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
