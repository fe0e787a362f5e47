"""Backpressure and drain: at most ``max_concurrency`` requests run, at most ``max_queue``
wait in order for a slot, the rest are refused at once. A request that got in (running
or queued) is never dropped; drain stops new admissions and waits for the admitted."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from . import metrics


class Overloaded(Exception):
    """Every slot is busy and the queue is full: the client should retry later."""

    def __init__(self, running: int, queued: int):
        super().__init__(
            f"server overloaded: {running} requests running and {queued} queued (the "
            "limits set by --max-concurrency and --max-queue); retry after a moment"
        )
        self.retry_after = 1


class Draining(Exception):
    """The server is shutting down and takes no new requests."""

    def __init__(self) -> None:
        super().__init__(
            "server is shutting down and takes no new requests: retry, another replica will answer"
        )


class Admission:
    def __init__(self, max_concurrency: int, max_queue: int):
        if max_concurrency < 1 or max_queue < 0:
            raise ValueError("--max-concurrency must be >= 1 and --max-queue >= 0")
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self.running = 0
        self.draining = False
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._idle = asyncio.Event()
        self._idle.set()
        # Set when the drain has waited --drain-timeout: streams still running end with an
        # error event (transcript_events.until_stopped) before the server stops.
        self.stopping = asyncio.Event()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the body of the ``async with``; may wait in the queue."""
        await self._acquire()
        metrics.IN_FLIGHT.inc()
        try:
            yield
        finally:
            metrics.IN_FLIGHT.dec()
            self._release()

    async def _acquire(self) -> None:
        if self.draining:
            metrics.REJECTED.labels(reason="draining").inc()
            raise Draining()
        if self.running < self.max_concurrency and not self._waiters:
            self.running += 1
            self._idle.clear()
            metrics.QUEUE_WAIT.observe(0.0)
            return
        if len(self._waiters) >= self.max_queue:
            metrics.REJECTED.labels(reason="queue_full").inc()
            raise Overloaded(self.running, len(self._waiters))
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        metrics.QUEUED.inc()
        queued_at = time.monotonic()
        try:
            await waiter  # a finishing request hands its slot over
            metrics.QUEUE_WAIT.observe(time.monotonic() - queued_at)
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the slot arrived as the client left: pass it on
            else:
                self._waiters.remove(waiter)
            raise
        finally:
            metrics.QUEUED.dec()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot moves to the next in line
                return
        self.running -= 1
        if self.running == 0:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Refuse new requests; wait up to ``timeout`` s for admitted ones. True if idle."""
        self.draining = True
        deadline = time.monotonic() + timeout
        while self.running or self._waiters:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._idle.wait(), remaining)
            except TimeoutError:
                return False
        return True
