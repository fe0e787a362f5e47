"""A request's body, read in full before the request takes an admission slot: a slow or
stalled upload holds no slot (it is answered 408 once it stalls, or once it trickles below
MIN_BYTES_PER_SECOND), an upload over the limit is answered 413 as soon as it crosses it
(whether or not it declared its length), and the bytes held in memory by bodies come out
of one budget. The budget never makes a body wait (bodies that each hold part of it while
waiting for the rest could wait on each other forever): a body that does not fit now is
refused with 429, one that could never fit with 413."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from .budgets import Budget

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
MiB = 1 << 20
MIN_BYTES_PER_SECOND = 16 * 1024  # after the first --body-timeout seconds (128 kbit/s)


class BodyError(Exception):
    """The body cannot be taken: ``status`` (408, 413, 429) and a message that says why."""

    def __init__(self, status: int, message: str, code: str, reason: str = ""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.reason = reason or code  # the label of voxtral_requests_rejected_total


class ClientGone(Exception):
    """The client disconnected before its body arrived."""


@dataclass
class Body:
    """The chunks as they came (replayed one by one: no second copy of the whole) and
    the bytes they hold in the budget."""

    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    held: int = 0


def too_large(size: float, limit: int, what: str) -> BodyError:
    return BodyError(
        413,
        f"the request body is over this server's limit of {limit / MiB:.3g} MiB ({what}; "
        f"{size / MiB:.3g} MiB or more were sent): send a compressed format (flac, mp3, "
        "opus) or a shorter recording",
        "file_too_large",
    )


def _hold(budget: Budget, body: Body, upto: int, what: str) -> None:
    """Have ``body`` hold ``upto`` bytes of the budget, or refuse it."""
    more = upto - body.held
    if more <= 0:
        return
    if upto > budget.total:
        raise too_large(upto, int(budget.total), "--max-buffered-mb, the bodies held at once")
    if not budget.try_reserve(more):
        raise BodyError(
            429,
            f"server busy: request bodies being read hold {budget.used / MiB:.3g} MiB, its "
            f"limit (--max-buffered-mb {budget.total / MiB:.3g}): retry after a moment",
            "overloaded",
            "body_budget",
        )
    body.held = upto


def _stalled(idle_timeout: float, size: int, elapsed: float) -> BodyError:
    if elapsed < idle_timeout:
        why = f"nothing arrived for {idle_timeout:g} s (the server's --body-timeout)"
    else:
        why = (
            f"it arrived at {size / max(elapsed, 1e-9) / 1024:.3g} KiB/s, under the "
            f"{MIN_BYTES_PER_SECOND // 1024} KiB/s a body must keep after --body-timeout"
        )
    return BodyError(
        408,
        f"the request body stalled: {why}, after {size} bytes: send the whole body without pausing",
        "body_timeout",
    )


async def read(
    receive: Receive,
    headers: dict[str, str],
    limit: int,
    what: str,
    idle_timeout: float,
    budget: Budget,
) -> Body:
    """Read the whole body: at most ``limit`` bytes, no pause longer than ``idle_timeout``
    and, once ``idle_timeout`` has passed, at least MIN_BYTES_PER_SECOND on average. A
    declared length is taken from ``budget`` before anything is read; an undeclared one
    as it comes. On failure the budget gets back what was taken."""
    declared = headers.get("content-length")
    body = Body()
    try:
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                raise too_large(int(declared), limit, what)
            _hold(budget, body, int(declared), what)
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            wait = idle_timeout
            if elapsed >= idle_timeout:  # from now on, keep the minimum rate too
                wait = min(wait, max(0.0, (body.size + 1) / MIN_BYTES_PER_SECOND - elapsed))
            try:
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError:
                raise _stalled(idle_timeout, body.size, time.monotonic() - started) from None
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = bytes(message.get("body", b""))
            if body.size + len(chunk) > limit:
                raise too_large(body.size + len(chunk), limit, what)
            if chunk:
                _hold(budget, body, max(body.held, body.size + len(chunk)), what)
                body.chunks.append(chunk)
                body.size += len(chunk)
            if not message.get("more_body", False):
                return body
    except BaseException:
        budget.release(body.held)
        raise


def replay(body: Body, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body read before, then the client's own
    messages (its disconnect)."""
    pending = list(body.chunks) or [b""]

    async def replayed() -> Message:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        return await receive()

    return replayed
