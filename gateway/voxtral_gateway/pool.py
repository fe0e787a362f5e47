"""The replicas of each service and the routing decision: among the ready replicas, the one
with the least outstanding work (the gateway's own count of in-flight requests, each
weighted by its seconds of audio), ties broken at random."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .upstreams import Upstream


@dataclass(eq=False)
class Replica:
    upstream: Upstream
    listed: bool = True  # ready in its EndpointSlice (always, for replicas given as flags)
    healthy: bool = False  # its last readiness check passed and its last answer was no 503
    in_flight: int = 0
    work: float = 0.0  # seconds of audio of the requests in flight

    @property
    def ready(self) -> bool:
        return self.listed and self.healthy

    @property
    def key(self) -> str:
        return self.upstream.key


class Pools:
    def __init__(self, upstreams: Iterable[Upstream] = ()):
        self._services: dict[str, dict[str, Replica]] = {}
        # served names published by several namespaces: routed nowhere (names.py says why)
        self.conflicts: dict[str, list[str]] = {}
        # told when replicas may have turned ready (hold.py releases waiting requests)
        self.listeners: list[Callable[[], None]] = []
        for upstream in upstreams:
            self._services.setdefault(upstream.service, {})[upstream.key] = Replica(upstream)

    def sync(self, service: str, listed: Iterable[tuple[Upstream, bool]]) -> None:
        """The replicas of ``service`` are now ``listed`` (upstream, ready in its slice);
        those already known keep their counts and health."""
        current = self._services.setdefault(service, {})
        wanted = {upstream.key: (upstream, ready) for upstream, ready in listed}
        for key in [k for k in current if k not in wanted]:
            del current[key]
        for key, (upstream, ready) in wanted.items():
            # a new replica ready in its slice passed its readiness probe: routable at once
            replica = current.setdefault(key, Replica(upstream, healthy=ready))
            replica.listed = ready
        self.changed()

    def changed(self) -> None:
        for listener in self.listeners:
            listener()

    def drop(self, service: str) -> None:
        self._services.pop(service, None)

    def services(self) -> list[str]:
        return sorted(self._services)

    def replicas(self, service: str | None = None) -> list[Replica]:
        if service is not None:
            return list(self._services.get(service, {}).values())
        return [r for group in self._services.values() for r in group.values()]

    def ready(self, service: str) -> list[Replica]:
        return [r for r in self.replicas(service) if r.ready]

    def pick(
        self,
        service: str,
        exclude: Iterable[Replica] = (),
        where: Callable[[Replica], bool] | None = None,
    ) -> Replica | None:
        """The ready replica (of those ``where`` accepts) with the least outstanding work,
        or None."""
        skipped = set(map(id, exclude))
        candidates = [
            r for r in self.ready(service) if id(r) not in skipped and (where is None or where(r))
        ]
        if not candidates:
            return None
        least = min(r.work for r in candidates)
        return random.choice([r for r in candidates if r.work == least])

    @staticmethod
    @contextmanager
    def lease(replica: Replica, weight: float) -> Iterator[Replica]:
        """Count a request's work on ``replica`` for as long as it runs."""
        replica.in_flight += 1
        replica.work += weight
        try:
            yield replica
        finally:
            replica.in_flight -= 1
            replica.work = max(0.0, replica.work - weight)
