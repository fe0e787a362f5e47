"""Health of every replica: its /v2/health/ready, polled (between two EndpointSlice updates
too). A replica that does not answer, or answers anything but 200 (loading, draining), gets
no new requests until it answers 200 again."""

from __future__ import annotations

import asyncio
import logging

import httpx

from . import metrics
from .pool import Pools, Replica

log = logging.getLogger(__name__)


async def check(client: httpx.AsyncClient, replica: Replica) -> bool:
    try:
        response = await client.get(f"{replica.upstream.http}/v2/health/ready", timeout=2.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def check_all(client: httpx.AsyncClient, pools: Pools) -> None:
    replicas = pools.replicas()
    states = await asyncio.gather(*(check(client, r) for r in replicas))
    for replica, ready in zip(replicas, states, strict=True):
        if ready != replica.healthy:
            log.info(
                "%s %s: %s",
                replica.upstream.service,
                replica.key,
                "ready" if ready else "not ready",
            )
        replica.healthy = ready
    for service in pools.services():
        metrics.READY_REPLICAS.labels(service).set(len(pools.ready(service)))
    pools.changed()


async def poll(client: httpx.AsyncClient, pools: Pools, interval: float) -> None:
    while True:
        await check_all(client, pools)
        await asyncio.sleep(interval)
