"""What the frontend processes of one replica share: the counts behind its limits (requests
running and queued, bytes of bodies, seconds of decoded audio), how many frontends are warm,
and whether the replica is draining. One frontend keeps them in its own memory; several
keep them in shared memory that the supervisor created (``frontends.py``), so that
``--max-concurrency``, ``--max-queue`` and the budgets stay limits of the whole replica.

Every operation is a short critical section, never a wait: a frontend that cannot take
what it asks for is told so at once."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

RUNNING, QUEUED, BODY_BYTES, AUDIO_SECONDS, WARM, DRAINING, NEXT_TICKET, SERVED = range(8)
CELLS = 8
NOW = -1  # Tally.admit: a slot at once


class Tally:
    """Numbers that several processes change atomically."""

    def __init__(self, shared: bool = False):
        self.shared = shared
        if shared:
            context = multiprocessing.get_context("spawn")
            self._cells: Any = context.RawArray("d", CELLS)
            self._lock: Any = context.Lock()
        else:
            self._cells = [0.0] * CELLS
            self._lock = None

    def __getstate__(self) -> dict[str, Any]:
        if not self.shared:
            raise TypeError("a frontend's own Tally stays in its process")
        return self.__dict__

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Any]:
        if self._lock is None:
            yield self._cells
            return
        with self._lock:
            yield self._cells

    def get(self, cell: int) -> float:
        return float(self._cells[cell])

    def try_add(self, cell: int, amount: float, limit: float) -> bool:
        """Add ``amount`` if the cell stays within ``limit``."""
        with self._locked() as cells:
            if cells[cell] + amount > limit:
                return False
            cells[cell] += amount
            return True

    def add(self, cell: int, amount: float) -> None:
        """Add (or, negative, take away; never below 0)."""
        with self._locked() as cells:
            cells[cell] = max(0.0, cells[cell] + amount)

    # The replica's line of requests waiting for a slot: numbered tickets, served in order
    # whichever frontend holds them. RUNNING stays at its limit while anyone is in line.

    def admit(self, limit: int, queue_limit: int) -> int | None:
        """In one step: NOW when a slot is free and nobody is in line before us; else a
        ticket in the line; None when ``queue_limit`` requests already wait."""
        with self._locked() as cells:
            if cells[RUNNING] < limit and cells[NEXT_TICKET] <= cells[SERVED]:
                cells[RUNNING] += 1
                return NOW
            if cells[QUEUED] >= queue_limit:
                return None
            cells[QUEUED] += 1
            cells[NEXT_TICKET] += 1
            return int(cells[NEXT_TICKET]) - 1

    def leave(self) -> int | None:
        """A slot is free: the ticket it now belongs to, or None (nobody in line)."""
        with self._locked() as cells:
            if cells[NEXT_TICKET] > cells[SERVED]:
                cells[SERVED] += 1
                return int(cells[SERVED]) - 1
            cells[RUNNING] = max(0.0, cells[RUNNING] - 1)
            return None

    def granted(self, ticket: int) -> bool:
        return ticket < float(self._cells[SERVED])

    def give_up(self, ticket: int) -> bool:
        """A ticket's holder leaves the line: True if its turn had already come (it holds
        a slot, to pass on)."""
        with self._locked() as cells:
            cells[QUEUED] = max(0.0, cells[QUEUED] - 1)
            return ticket < float(cells[SERVED])


@dataclass(frozen=True)
class Replica:
    """This frontend's place in its replica."""

    frontends: int = 1
    index: int = 0
    counts: Tally = field(default_factory=Tally)  # shared when there are several frontends
    supervisor: int | None = None  # the pid of the process that started the frontends

    def warmed_up(self) -> None:
        self.counts.add(WARM, 1)

    def all_warm(self) -> bool:
        """Ready means every frontend can answer: a probe reaches any of them."""
        return self.counts.get(WARM) >= self.frontends

    def drain(self) -> None:
        self.counts.try_add(DRAINING, 1, 1)

    def orphaned(self) -> bool:
        return self.supervisor is not None and os.getppid() != self.supervisor

    @property
    def draining(self) -> bool:
        return self.counts.get(DRAINING) > 0
