"""ASGI middleware in front of every HTTP inference route, in this order: the body is read
in full (``body``: 413 over the limit, 408 when it stalls, bytes from a budget), then a slot
is taken (``admission``: 429 when full, 503 while draining), then the route runs with
request metrics, its decoded audio drawn from a budget of seconds, and cancellation when the
client disconnects (the engine stops working for nobody). Errors are in the route's own
shape: OpenAI's for the OpenAI routes, KServe's ``{"error": ...}`` for v1 and v2."""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from . import body as bodies
from . import metrics
from .admission import Admission, Draining, Overloaded
from .audio import AudioError
from .budgets import Budget
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
    """Filled in while a request runs: the task it turned out to be, and the seconds of
    decoded audio it holds."""

    task: str = ""
    audio: Budget | None = None
    audio_held: float = 0.0
    stopping: asyncio.Event | None = None

    def release_audio(self) -> None:
        if self.audio is not None and self.audio_held:
            self.audio.release(self.audio_held)
        self.audio_held = 0.0


AUDIO_STEP_SECONDS = 60.0  # decoded audio is taken from the budget a minute at a time
CURRENT: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "voxtral_request", default=None
)


def set_task(task: str) -> None:
    info = CURRENT.get()
    if info is not None and not info.task:
        info.task = task


async def take_audio(info: RequestInfo | None, held: float, decoded: float, param: str) -> float:
    """For an input of a request that holds ``held`` seconds of decoded audio and has
    decoded ``decoded``: take more from the replica's budget (at least AUDIO_STEP_SECONDS,
    so that the budget is not asked at every block) and return what the input holds now;
    or refuse it, 413 when the request's inputs alone pass the whole budget, 429 when
    others hold too much of it now."""
    if info is None or info.audio is None:
        return decoded
    budget = info.audio
    if info.audio_held - held + decoded > budget.total:  # the request's inputs together
        raise AudioError(
            f"{param}: the request's audio is longer than this server decodes for one "
            f"request ({budget.total:.0f} s, --max-decoded-audio-seconds): send shorter "
            "audio, or its inputs in several requests",
            code="audio_too_long",
            status=413,
        )
    more = min(max(AUDIO_STEP_SECONDS, decoded - held), budget.total - info.audio_held)
    if not budget.try_reserve(more):
        metrics.REJECTED.labels(reason="audio_budget").inc()
        raise AudioError(
            f"server busy: the requests running hold {budget.used:.0f} s of decoded audio, "
            f"its limit (--max-decoded-audio-seconds {budget.total:.0f}): retry after a "
            "moment",
            code="overloaded",
            status=429,
        )
    info.audio_held += more
    return held + more


def trim_audio(info: RequestInfo | None, reserved: float, actual: float) -> None:
    """Give back what a request reserved beyond the audio it decoded to."""
    if info is None or info.audio is None or actual >= reserved:
        return
    info.audio.release(reserved - actual)
    info.audio_held -= reserved - actual


def stopping() -> asyncio.Event | None:
    """Set when the server stops before the current request's stream has ended."""
    info = CURRENT.get()
    return info.stopping if info is not None else None


def classify(method: str, path: str) -> tuple[str, str] | None:
    if method != "POST":
        return None
    for pattern, endpoint, task in ROUTES:
        if pattern.match(path):
            return endpoint, task
    return None


@dataclass(frozen=True)
class BodyLimits:
    """The largest body of each endpoint (bytes) and how long a body may pause."""

    sizes: Mapping[str, int]
    what: Mapping[str, str]
    idle_timeout: float


class Gate:
    def __init__(
        self,
        app: ASGIApp,
        admission: Admission,
        limits: BodyLimits,
        body_budget: Budget,
        audio_budget: Budget,
        frontend: str = "0",
    ):
        self.app = app
        self.frontend = frontend
        self.admission = admission
        self.limits = limits
        self.body_budget = body_budget
        self.audio_budget = audio_budget

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
        info = RequestInfo(task=task, audio=self.audio_budget, stopping=self.admission.stopping)
        token = CURRENT.set(info)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body: bodies.Body | None = None
        try:
            body = await bodies.read(
                receive,
                headers,
                self.limits.sizes[endpoint],
                self.limits.what[endpoint],
                self.limits.idle_timeout,
                self.body_budget,
            )
            async with self.admission.slot():
                replayed = bodies.replay(body, receive)
                if await _cancel_on_disconnect(self.app, scope, replayed, tracked_send):
                    status["code"] = 499  # client closed the request (nginx's convention)
        except bodies.BodyError as exc:
            metrics.REJECTED.labels(reason=exc.reason).inc()
            extra = {"connection": "close"} | ({"retry-after": "1"} if exc.status == 429 else {})
            await reply(send, endpoint, exc.status, exc.message, exc.code, extra)
            status["code"] = exc.status
        except bodies.ClientGone:
            status["code"] = 499
        except Overloaded as exc:
            await reply(send, endpoint, 429, str(exc), "overloaded", {"retry-after": "1"})
            status["code"] = 429
        except Draining as exc:
            await reply(send, endpoint, 503, str(exc), "draining", {"retry-after": "1"})
            status["code"] = 503
        finally:
            info.release_audio()
            if body is not None:
                self.body_budget.release(body.held)
            CURRENT.reset(token)
            metrics.REQUESTS.labels(endpoint=endpoint, code=str(status["code"])).inc()
            metrics.FRONTEND_REQUESTS.labels(frontend=self.frontend, endpoint=endpoint).inc()
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


def kserve_error(message: str) -> dict[str, Any]:
    """KServe's v1 and v2 (Open Inference Protocol) error body."""
    return {"error": message}


async def reply(
    send: Send, endpoint: str, status: int, message: str, code: str, headers: dict[str, str]
) -> None:
    shaped = (
        error_body(status, message, code, None)
        if endpoint.startswith("openai")
        else kserve_error(message)
    )
    data = json.dumps(shaped).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
    ]
    raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": data})
