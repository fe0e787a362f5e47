"""Requests for a service that has no ready replica (scaled to zero, or every replica
restarting) wait here rather than fail: at most ``max_held`` a service, each at most
``seconds``, all released in arrival order the moment a replica turns ready (an
EndpointSlice update or a passed health check). Beyond the bound, or past the time, the
client gets 503 with Retry-After; a client that leaves stops waiting."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from . import metrics
from .pool import Pools, Replica


class Full(Exception):
    """As many requests as allowed already wait for this service."""


class Expired(Exception):
    """No replica turned ready in time."""


class Hold:
    def __init__(self, pools: Pools, max_held: int, seconds: float):
        self.pools = pools
        self.max_held = max_held
        self.seconds = seconds
        self._lines: dict[str, deque[asyncio.Future[None]]] = {}
        self.observers: list[Callable[[str, int], None]] = []
        """Told (service, requests held) whenever the count of a service changes."""
        pools.listeners.append(self.wake)

    def _changed(self, service: str) -> None:
        for observer in self.observers:
            observer(service, len(self._lines.get(service) or ()))

    async def until_ready(
        self, service: str, where: Callable[[Replica], bool] | None = None
    ) -> None:
        """Return once ``service`` has a ready replica (at once if it has one)."""
        if self.pools.pick(service, where=where) is not None:
            return
        line = self._lines.setdefault(service, deque())
        if len(line) >= self.max_held:
            raise Full()
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line.append(turn)
        metrics.HELD.labels(service).inc()
        self._changed(service)
        try:
            await asyncio.wait_for(turn, self.seconds)
        except TimeoutError as exc:
            raise Expired() from exc
        finally:
            if turn in line:
                line.remove(turn)
            metrics.HELD.labels(service).dec()
            self._changed(service)

    def wake(self) -> None:
        """Release, in arrival order, what waits for a service that has a ready replica."""
        for service, line in self._lines.items():
            if line and self.pools.ready(service):
                while line:
                    turn = line.popleft()
                    if not turn.done():
                        turn.set_result(None)
                self._changed(service)
