"""What the frontend processes of one replica share: the counts behind its limits (requests
running and queued, bytes of bodies, seconds of decoded audio), how many frontends are warm,
and whether the replica is draining. One frontend keeps them in its own memory; several
keep them in shared memory that the supervisor created (``frontends.py``), so that
``--max-concurrency``, ``--max-queue`` and the budgets stay limits of the whole replica.

Every operation is a short critical section, never a wait: a frontend that cannot take
what it asks for is told so at once."""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from typing import Any

RUNNING, QUEUED, BODY_BYTES, AUDIO_SECONDS, WARM, DRAINING = range(6)
CELLS = 6


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

    def get(self, cell: int) -> float:
        return float(self._cells[cell])

    def try_add(self, cell: int, amount: float, limit: float, unless: int | None = None) -> bool:
        """Add ``amount`` if the cell stays within ``limit`` (and cell ``unless`` is 0)."""
        if self._lock is None:
            return self._try_add(cell, amount, limit, unless)
        with self._lock:
            return self._try_add(cell, amount, limit, unless)

    def _try_add(self, cell: int, amount: float, limit: float, unless: int | None) -> bool:
        if self._cells[cell] + amount > limit:
            return False
        if unless is not None and self._cells[unless] > 0:
            return False
        self._cells[cell] += amount
        return True

    def add(self, cell: int, amount: float) -> None:
        """Add (or, negative, take away; never below 0)."""
        if self._lock is None:
            self._cells[cell] = max(0.0, self._cells[cell] + amount)
            return
        with self._lock:
            self._cells[cell] = max(0.0, self._cells[cell] + amount)

    def move(self, source: int, target: int, limit: float) -> bool:
        """One from ``source`` to ``target`` if ``target`` stays within ``limit``."""
        if self._lock is None:
            return self._move(source, target, limit)
        with self._lock:
            return self._move(source, target, limit)

    def _move(self, source: int, target: int, limit: float) -> bool:
        if self._cells[target] + 1 > limit or self._cells[source] < 1:
            return False
        self._cells[source] -= 1
        self._cells[target] += 1
        return True


@dataclass(frozen=True)
class Replica:
    """This frontend's place in its replica."""

    frontends: int = 1
    index: int = 0
    tally: Tally | None = None
    supervisor: int | None = None  # the pid of the process that started the frontends

    def __post_init__(self) -> None:
        if self.tally is None:
            object.__setattr__(self, "tally", Tally(shared=self.frontends > 1))

    @property
    def counts(self) -> Tally:
        assert self.tally is not None
        return self.tally

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
