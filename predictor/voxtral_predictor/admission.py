"""Backpressure and drain: at most ``max_concurrency`` requests run, at most ``max_queue``
wait in order for a slot, the rest are refused at once. A request that got in (running
or queued) is never dropped; drain stops new admissions and waits for the admitted.

The counts and the line are the replica's (``replica.Tally``): a waiting request holds a
numbered ticket and slots go to tickets in order, whichever frontend holds them, so that
with several frontends the first to wait is still the first served. A finishing request
hands its slot to the next ticket at once when it is its own frontend's; a frontend whose
ticket another frontend served wakes it within POLL_SECONDS."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from . import metrics
from .replica import NOW, QUEUED, RUNNING, Tally

POLL_SECONDS = 0.005
# The bound until the engine reports its batch size (--max-concurrency unset): no request
# runs before then, they are answered 503 while the model loads.
MOST_CONCURRENCY = 4096


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
    def __init__(self, max_concurrency: int | None, max_queue: int, counts: Tally | None = None):
        """``max_concurrency`` None: the engine's batch size, given once it has started."""
        if (max_concurrency is not None and max_concurrency < 1) or max_queue < 0:
            raise ValueError("--max-concurrency must be >= 1 and --max-queue >= 0")
        self.max_concurrency = max_concurrency or MOST_CONCURRENCY
        self.max_queue = max_queue
        self.counts = counts or Tally()
        self.running = 0  # this frontend's
        self.draining = False
        self._line: dict[int, asyncio.Future[None]] = {}  # this frontend's tickets
        self._abandoned: set[int] = set()  # tickets whose clients left before their turn
        self._watcher: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        # Set when the drain has waited --drain-timeout: streams still running end with an
        # error event (transcript_events.until_stopped) before the server stops.
        self.stopping = asyncio.Event()

    @property
    def queued(self) -> int:
        return len(self._line)

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
        ticket = self.counts.admit(self.max_concurrency, self.max_queue)
        if ticket == NOW:
            self._admitted()
            metrics.QUEUE_WAIT.observe(0.0)
            return
        if ticket is None:
            metrics.REJECTED.labels(reason="queue_full").inc()
            raise Overloaded(int(self.counts.get(RUNNING)), int(self.counts.get(QUEUED)))
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._line[ticket] = waiter
        metrics.QUEUED.inc()
        self._watch_line()
        queued_at = time.monotonic()
        try:
            await waiter  # a finishing request hands its slot over, in ticket order
            metrics.QUEUE_WAIT.observe(time.monotonic() - queued_at)
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the slot arrived as the client left: pass it on
            elif self._line.pop(ticket, None) is not None:  # else its turn was taken
                if self.counts.give_up(ticket):
                    self._pass_on()  # its turn had come: the slot goes to the next
                else:
                    self._abandoned.add(ticket)  # passed on when its turn comes
            raise
        finally:
            metrics.QUEUED.dec()

    def _admitted(self) -> None:
        self.running += 1
        self._idle.clear()

    def _release(self) -> None:
        self.running -= 1
        if self.running == 0:
            self._idle.set()
        self._pass_on()

    def _pass_on(self) -> None:
        """A slot this frontend held is free: it goes to the replica's next ticket (its
        request admitted here if the ticket is this frontend's, by the ticket's frontend
        otherwise)."""
        while (ticket := self.counts.leave()) is not None:
            if ticket in self._abandoned:
                self._abandoned.discard(ticket)  # nobody holds it any more: the next
            elif ticket not in self._line or self._take_turn(ticket):
                return

    def _take_turn(self, ticket: int) -> bool:
        """The ticket's turn has come: admit its request. False when its client has just
        left (cancelled, not yet resumed): the slot is still to pass on."""
        waiter = self._line.pop(ticket)
        self.counts.add(QUEUED, -1)
        if waiter.done():
            return False
        self._admitted()
        waiter.set_result(None)
        return True

    def _watch_line(self) -> None:
        """With several frontends: this frontend's tickets whose turn another frontend
        gave are woken within POLL_SECONDS."""
        if self.counts.shared and (self._watcher is None or self._watcher.done()):
            self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while self._line or self._abandoned:
            for ticket in sorted(self._abandoned):
                # (a pass-on of an earlier one may have skipped it already)
                if ticket in self._abandoned and self.counts.granted(ticket):
                    self._abandoned.discard(ticket)
                    self._pass_on()
            for ticket in sorted(self._line):
                if ticket not in self._line:
                    continue
                if not self.counts.granted(ticket):
                    break
                if not self._take_turn(ticket):
                    self._pass_on()
            await asyncio.sleep(POLL_SECONDS)

    async def drain(self, timeout: float) -> bool:
        """Refuse new requests; wait up to ``timeout`` s for admitted ones. True if idle."""
        self.draining = True
        deadline = time.monotonic() + timeout
        # (tickets whose clients left are still this frontend's to pass on when served)
        while self.running or self._line or self._abandoned:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._idle.is_set():  # nothing running here; a ticket waits for its turn
                await asyncio.sleep(min(POLL_SECONDS, remaining))
                continue
            try:
                await asyncio.wait_for(self._idle.wait(), remaining)
            except TimeoutError:
                return False
        return True
