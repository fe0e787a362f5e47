"""Audio decoding for a request: in a worker thread (decoding is CPU work the event loop
must not wait on), drawing the decoded seconds from the replica's budget as they come
(``gate.hold_audio``: a file's header may lie, a small FLAC can hold hours of silence),
and stopped at its next block when the request goes away. The request keeps its slot until
the thread has really ended, so that a client who leaves does not leave work behind that
nothing counts."""

from __future__ import annotations

import asyncio
import threading

from . import gate, metrics
from .audio import AudioError, Clip, decode
from .errors import ApiError


class _Hold:
    """Called from the decoding thread with the seconds decoded so far: takes more from
    the replica's budget (on the event loop) when they pass what is held. Never waits:
    a budget that is short refuses the request (429), one that the request alone would
    pass refuses it for good (413), so that requests never hold part of the budget while
    waiting for the rest (two of them could wait on each other forever)."""

    def __init__(self, info: gate.RequestInfo | None, loop: asyncio.AbstractEventLoop, param: str):
        self.info = info
        self.loop = loop
        self.param = param
        self.reserved = 0.0

    def __call__(self, decoded: float) -> None:
        if decoded > self.reserved:
            future = asyncio.run_coroutine_threadsafe(
                gate.take_audio(self.info, self.reserved, decoded, self.param), self.loop
            )
            self.reserved = future.result()


async def decode_audio(data: bytes, max_seconds: float, param: str = "file") -> Clip:
    """Decode ``data`` for the current request (400s for bad audio, named by ``param``)."""
    info = gate.CURRENT.get()
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    hold = _Hold(info, loop, param)
    work = loop.run_in_executor(None, decode, data, max_seconds, stop, hold)
    try:
        clip = await asyncio.shield(work)
    except asyncio.CancelledError:
        stop.set()
        while not work.done():  # the thread stops at its next block; then let go
            try:
                await asyncio.wait([work])
            except asyncio.CancelledError:
                continue  # cancelled again: still wait for the thread
        raise
    except AudioError as exc:
        raise ApiError.from_audio(exc, param) from exc
    gate.trim_audio(info, hold.reserved, clip.duration)
    hold.reserved = min(hold.reserved, clip.duration)
    metrics.observe_decode(clip.decode_seconds, clip.duration)
    return clip
