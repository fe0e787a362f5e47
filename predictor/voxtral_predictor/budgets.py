"""Pools that requests draw from beside the slots of ``admission``: bytes of request bodies
held in memory, and seconds of decoded audio. A request takes what it needs when the pool
has it, or is refused (it is admitted by its size, not only by its count); nothing ever
waits on a pool, so that two requests that each hold part of it cannot wait on each other.
Given back when the request has really finished with it. A pool is the replica's: with
several frontends, its count lives in the replica's shared Tally."""

from __future__ import annotations

from prometheus_client import Gauge

from .replica import Tally


class Budget:
    def __init__(
        self, total: float, gauge: Gauge | None = None, counts: Tally | None = None, cell: int = 0
    ):
        if total <= 0:
            raise ValueError("a budget must be positive")
        self.total = total
        self._gauge = gauge  # what this frontend holds; summed over the frontends
        self._counts = counts or Tally()
        self._cell = cell

    @property
    def used(self) -> float:
        return self._counts.get(self._cell)

    def try_reserve(self, amount: float) -> bool:
        """Take ``amount`` if the pool has it now."""
        if not self._counts.try_add(self._cell, amount, self.total):
            return False
        if self._gauge is not None:
            self._gauge.inc(amount)
        return True

    def release(self, amount: float) -> None:
        self._counts.add(self._cell, -amount)
        if self._gauge is not None:
            self._gauge.dec(amount)
