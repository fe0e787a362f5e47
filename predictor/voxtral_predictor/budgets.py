"""Pools that requests draw from beside the slots of ``admission``: bytes of request bodies
held in memory, and seconds of decoded audio. A request reserves what it needs and waits
while the pool is short (it is admitted by its size, not only by its count); what can never
fit is refused at once. Released when the request has really finished with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import Gauge


class TooBig(Exception):
    """More than the whole pool: no wait would help."""

    def __init__(self, amount: float, total: float):
        super().__init__(f"{amount:g} is more than the whole budget of {total:g}")
        self.amount = amount
        self.total = total


class Budget:
    def __init__(self, total: float, gauge: Gauge | None = None):
        if total <= 0:
            raise ValueError("a budget must be positive")
        self.total = total
        self.used = 0.0
        self._gauge = gauge
        self._waiters: list[asyncio.Future[None]] = []

    async def reserve(self, amount: float) -> None:
        """Take ``amount`` from the pool, waiting while it is short (a small request may
        pass a large one that waits)."""
        if amount > self.total:
            raise TooBig(amount, self.total)
        while self.used + amount > self.total:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self._set(self.used + amount)

    def try_reserve(self, amount: float) -> bool:
        """Take ``amount`` if the pool has it now."""
        if self.used + amount > self.total:
            return False
        self._set(self.used + amount)
        return True

    def release(self, amount: float) -> None:
        self._set(max(0.0, self.used - amount))
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:  # each looks again whether it fits now
            if not waiter.done():
                waiter.set_result(None)

    def _set(self, used: float) -> None:
        self.used = used
        if self._gauge is not None:
            self._gauge.set(used)

    @asynccontextmanager
    async def held(self, amount: float) -> AsyncIterator[None]:
        await self.reserve(amount)
        try:
            yield
        finally:
            self.release(amount)
