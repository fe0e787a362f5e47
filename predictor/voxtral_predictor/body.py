"""A request's body, read in full before the request takes an admission slot: a slow or
stalled upload holds no slot (it is answered 408 once it stalls), an upload over the limit
is answered 413 as soon as it crosses it (whether or not it declared its length), and the
bytes held in memory by bodies being read come out of one budget, so that many large
uploads at once slow down (their sockets are not read) instead of filling the memory."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from .budgets import Budget, TooBig

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
MiB = 1 << 20


class BodyError(Exception):
    """The body cannot be taken: ``status`` (408, 413) and a message that says why."""

    def __init__(self, status: int, message: str, code: str):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class ClientGone(Exception):
    """The client disconnected before its body arrived."""


@dataclass
class Body:
    """The chunks as they came (replayed one by one: no second copy of the whole) and
    the bytes they hold in the budget."""

    chunks: list[bytes] = field(default_factory=list)
    size: int = 0


def too_large(size: float, limit: int, what: str) -> BodyError:
    return BodyError(
        413,
        f"the request body is over this server's limit of {limit / MiB:.3g} MiB ({what}; "
        f"{size / MiB:.3g} MiB or more were sent): send a compressed format (flac, mp3, "
        "opus) or a shorter recording",
        "file_too_large",
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
    between chunks, each chunk taken from ``budget`` (waiting while it is short: the
    socket is then not read, which slows the client down). On failure the budget gets
    back what was taken."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared), limit, what)
    body = Body()
    try:
        while True:
            try:
                message = await asyncio.wait_for(receive(), idle_timeout)
            except TimeoutError:
                raise BodyError(
                    408,
                    f"the request body stalled: nothing arrived for {idle_timeout:g} s (the "
                    "server's --body-timeout) after "
                    f"{body.size} bytes: send the whole body without pausing",
                    "body_timeout",
                ) from None
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = bytes(message.get("body", b""))
            if body.size + len(chunk) > limit:
                raise too_large(body.size + len(chunk), limit, what)
            if chunk:
                try:
                    await budget.reserve(len(chunk))
                except TooBig:
                    raise too_large(body.size + len(chunk), int(budget.total), what) from None
                body.chunks.append(chunk)
                body.size += len(chunk)
            if not message.get("more_body", False):
                return body
    except BaseException:
        budget.release(body.size)
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
