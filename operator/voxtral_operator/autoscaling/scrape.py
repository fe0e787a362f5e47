"""Read the ready replicas' /metrics over HTTP (the one piece of the autoscaler that does
network I/O, and never with the API server's credentials: the client it is given carries
none). A replica that does not answer in time, answers an error, or answers text that is not
a Voxtral replica's /metrics is reported with the reason: missing, never zero."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Final

import httpx

from voxtral_operator.autoscaling.census import Replica
from voxtral_operator.autoscaling.signals import MetricsError, parse_signals
from voxtral_operator.autoscaling.step import Read

MAX_BYTES: Final = 4 << 20  # a replica's /metrics is ~100 kB; anything far larger is not one
CONCURRENCY: Final = 32


def client(timeout: float) -> httpx.AsyncClient:
    """A client for the replicas: no credentials, no redirects, no proxies from the env."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY),
    )


async def read_one(http: httpx.AsyncClient, url: str) -> Read:
    try:
        async with http.stream("GET", url) as response:
            if response.status_code != 200:
                return f"HTTP {response.status_code} from {url}"
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    return f"{url} sent more than {MAX_BYTES >> 20} MiB"
    except httpx.TimeoutException:
        return f"no answer from {url} within {http.timeout.read}s"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__} from {url}: {exc}"
    try:
        return parse_signals(body.decode("utf-8", errors="replace"))
    except MetricsError as exc:
        return f"{url}: {exc}"


async def read_all(
    http: httpx.AsyncClient, replicas: Iterable[Replica], port: int | None = None
) -> dict[str, Read]:
    """Each replica's signals (or why not), by pod name, read concurrently. `port` replaces
    the pods' own http port (VOXTRAL_OPERATOR_REPLICA_METRICS_PORT)."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(replica: Replica) -> tuple[str, Read]:
        async with gate:
            return replica.name, await read_one(http, replica.url(port))

    return dict(await asyncio.gather(*(one(r) for r in replicas)))
