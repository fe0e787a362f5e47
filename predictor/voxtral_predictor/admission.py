"""Backpressure and drain: at most ``max_concurrency`` requests run, at most ``max_queue``
wait in order for a slot, the rest are refused at once. A request that got in (running
or queued) is never dropped; drain stops new admissions and waits for the admitted.

The counts are the replica's (``replica.Tally``): with several frontends, a finishing
request hands its slot to the next in its own frontend's line, and a frontend whose line
waits while another frontend freed a slot takes it within POLL_SECONDS."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from . import metrics
from .replica import QUEUED, RUNNING, Tally

POLL_SECONDS = 0.005


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
    def __init__(self, max_concurrency: int, max_queue: int, counts: Tally | None = None):
        if max_concurrency < 1 or max_queue < 0:
            raise ValueError("--max-concurrency must be >= 1 and --max-queue >= 0")
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self.counts = counts or Tally()
        self.running = 0  # this frontend's
        self.draining = False
        self._poller: asyncio.Task[None] | None = None
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
        if self.counts.try_add(RUNNING, 1, self.max_concurrency, unless=QUEUED):
            self.running += 1
            self._idle.clear()
            metrics.QUEUE_WAIT.observe(0.0)
            return
        if not self.counts.try_add(QUEUED, 1, self.max_queue):
            metrics.REJECTED.labels(reason="queue_full").inc()
            raise Overloaded(int(self.counts.get(RUNNING)), int(self.counts.get(QUEUED)))
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        metrics.QUEUED.inc()
        self._poll_other_frontends()
        queued_at = time.monotonic()
        try:
            await waiter  # a finishing request hands its slot over
            metrics.QUEUE_WAIT.observe(time.monotonic() - queued_at)
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the slot arrived as the client left: pass it on
            elif waiter in self._waiters:  # else a release already took it out of the line
                self._waiters.remove(waiter)
                self.counts.add(QUEUED, -1)
            raise
        finally:
            metrics.QUEUED.dec()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            self.counts.add(QUEUED, -1)
            if not waiter.done():  # else cancelled: the next in line
                waiter.set_result(None)  # the slot moves to the next in line
                return
        self.running -= 1
        self.counts.add(RUNNING, -1)
        if self.running == 0:
            self._idle.set()

    def _poll_other_frontends(self) -> None:
        """Slots that other frontends free go back to the replica's count; a frontend
        with a line takes them from there."""
        if self.counts.shared and (self._poller is None or self._poller.done()):
            self._poller = asyncio.create_task(self._take_freed_slots())

    async def _take_freed_slots(self) -> None:
        while self._waiters:
            while self._waiters and self.counts.move(QUEUED, RUNNING, self.max_concurrency):
                waiter = self._waiters.popleft()
                if waiter.done():  # cancelled: its place in the line is given back
                    self.counts.add(RUNNING, -1)
                    continue
                self.running += 1
                self._idle.clear()
                waiter.set_result(None)
            await asyncio.sleep(POLL_SECONDS)

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
