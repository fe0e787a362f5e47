"""Audio decoding for a request: in a worker thread (decoding is CPU work the event loop
must not wait on), drawing the decoded seconds from the replica's budget as they come
(``gate.hold_audio``: a file's header may lie, a small FLAC can hold hours of silence),
and stopped at its next block when the request goes away. The request keeps its slot until
the thread has really ended, so that a client who leaves does not leave work behind that
nothing counts."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

from . import gate, metrics
from .audio import AudioError, Cancelled, Clip, decode
from .errors import ApiError

STEP_SECONDS = 60.0  # decoded audio is reserved a minute at a time
POLL_SECONDS = 0.25


class _Hold:
    """Called from the decoding thread with the seconds decoded so far: reserves more
    from the budget (on the event loop) when they pass what is held."""

    def __init__(
        self,
        info: gate.RequestInfo | None,
        loop: asyncio.AbstractEventLoop,
        stop: threading.Event,
        param: str,
    ):
        self.info = info
        self.loop = loop
        self.stop = stop
        self.param = param
        self.reserved = 0.0

    def __call__(self, decoded: float) -> None:
        while decoded > self.reserved:
            future = asyncio.run_coroutine_threadsafe(
                gate.hold_audio(self.info, STEP_SECONDS, self.param), self.loop
            )
            while True:
                try:
                    future.result(timeout=POLL_SECONDS)
                    break
                except concurrent.futures.TimeoutError:
                    if self.stop.is_set():
                        if not future.cancel():
                            future.result()  # it got its seconds meanwhile: they count
                        raise Cancelled() from None
            self.reserved += STEP_SECONDS


async def decode_audio(data: bytes, max_seconds: float, param: str = "file") -> Clip:
    """Decode ``data`` for the current request (400s for bad audio, named by ``param``)."""
    info = gate.CURRENT.get()
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    hold = _Hold(info, loop, stop, param)
    work = loop.run_in_executor(None, decode, data, max_seconds, stop, hold)
    try:
        clip = await asyncio.shield(work)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.wait([work])  # the thread stops at its next block; then let go
        raise
    except AudioError as exc:
        raise ApiError.from_audio(exc, param) from exc
    gate.trim_audio(info, hold.reserved, clip.duration)
    hold.reserved = min(hold.reserved, clip.duration)
    metrics.observe_decode(clip.decode_seconds, clip.duration)
    return clip
