"""Which optional APIs (`apis`) the cluster serves, asked of discovery and remembered.

A served API is remembered for `ttl` seconds (CRDs are rarely removed; a create that finds
it gone forgets it at once); a missing one is asked again at each reconcile that needs it,
so KEDA or the Prometheus Operator installed later is noticed at the next reconcile of the
service (its next change, a child's event, or the periodic resync).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Final

from voxtral_operator.cluster.kube import Kube
from voxtral_operator.cluster.optional_apis import Api

TTL_SECONDS: Final = 300.0


class Discovery:
    def __init__(
        self, kube: Kube, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._kube = kube
        self._ttl = ttl
        self._clock = clock
        self._seen: dict[str, float] = {}  # key -> when it was last found served

    async def served(self, api: Api) -> bool:
        seen = self._seen.get(api.key)
        if seen is not None and self._clock() - seen < self._ttl:
            return True
        found = await self._kube.served(api.group, api.version, api.plural)
        if found:
            self._seen[api.key] = self._clock()
        else:
            self._seen.pop(api.key, None)
        return found

    async def lookup(self, wanted: Iterable[Api]) -> dict[str, bool]:
        return {api.key: await self.served(api) for api in wanted}

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)
