"""Pools that requests draw from beside the slots of ``admission``: bytes of request bodies
held in memory, and seconds of decoded audio. A request takes what it needs when the pool
has it, or is refused (it is admitted by its size, not only by its count); nothing ever
waits on a pool, so that two requests that each hold part of it cannot wait on each other.
Given back when the request has really finished with it."""

from __future__ import annotations

from prometheus_client import Gauge


class Budget:
    def __init__(self, total: float, gauge: Gauge | None = None):
        if total <= 0:
            raise ValueError("a budget must be positive")
        self.total = total
        self.used = 0.0
        self._gauge = gauge

    def try_reserve(self, amount: float) -> bool:
        """Take ``amount`` if the pool has it now."""
        if self.used + amount > self.total:
            return False
        self._set(self.used + amount)
        return True

    def release(self, amount: float) -> None:
        self._set(max(0.0, self.used - amount))

    def _set(self, used: float) -> None:
        self.used = used
        if self._gauge is not None:
            self._gauge.set(used)
