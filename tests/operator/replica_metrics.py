"""Predictor replicas' /metrics for the operator's end-to-end tests, over real HTTP.

Each emulated pod gets its own loopback address (127.0.0.2, 127.0.0.3, ...: Linux routes the
whole 127.0.0.0/8 to the loopback interface) as its podIP, and one aiohttp server answers
GET /metrics on all of them at one port, with the Prometheus text exposition of the load the
test sets for that address. The text is written by prometheus_client, as on a real replica,
with the families and labels a predictor's /metrics carries (vLLM's `vllm:*` gauges labelled
engine and model_name, a vLLM histogram, our `voxtral_*` gauges and counters).

The operator reads `http://<podIP>:<port>/metrics` as in a cluster; only the port is the
test's (the operator setting VOXTRAL_OPERATOR_REPLICA_METRICS_PORT), since the predictor's
8080 may be taken on the machine that runs the tests.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any

import aiohttp.web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

ADDRESSES = tuple(f"127.0.0.{i}" for i in range(2, 10))


@dataclass
class Load:
    running: float = 0
    waiting: float = 0
    kv_cache: float = 0.0
    in_flight: float = 0
    queued: float = 0
    status: int = 200  # anything else: the replica answers that HTTP status
    hang: bool = False  # the replica never answers


def exposition(load: Load, model: str = "voxtral") -> bytes:
    """What a predictor replica's /metrics says under this load."""
    registry = CollectorRegistry()
    labels = {"engine": "0", "model_name": model}
    for name, value in (
        ("vllm:num_requests_running", load.running),
        ("vllm:num_requests_waiting", load.waiting),
        ("vllm:kv_cache_usage_perc", load.kv_cache),
    ):
        gauge = Gauge(name, name, list(labels), registry=registry)
        gauge.labels(**labels).set(value)
    ttft = Histogram(
        "vllm:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.",
        list(labels),
        registry=registry,
    )
    ttft.labels(**labels).observe(0.2)
    Gauge("voxtral_requests_in_flight", "in flight", registry=registry).set(load.in_flight)
    Gauge("voxtral_requests_queued", "queued", registry=registry).set(load.queued)
    requests = Counter("voxtral_requests", "requests", ["endpoint", "code"], registry=registry)
    requests.labels("/v1/audio/transcriptions", "200").inc(12)
    return generate_latest(registry)


def _free_port(addresses: tuple[str, ...]) -> int:
    """A port free on every address."""
    for _ in range(50):
        sockets = []
        try:
            first = socket.socket()
            first.bind((addresses[0], 0))
            sockets.append(first)
            port = int(first.getsockname()[1])
            for address in addresses[1:]:
                s = socket.socket()
                sockets.append(s)
                s.bind((address, port))
            return port
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no port free on all the loopback addresses")


class ReplicaMetrics:
    """The /metrics of up to len(ADDRESSES) replicas, one per loopback address."""

    def __init__(self) -> None:
        self.loads: dict[str, Load] = {ip: Load() for ip in ADDRESSES}
        self.reads: dict[str, int] = dict.fromkeys(ADDRESSES, 0)
        self.port = 0
        self._runner: aiohttp.web.AppRunner | None = None

    def set(self, ip: str, **load: Any) -> None:
        self.loads[ip] = Load(**load)

    async def _metrics(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        ip = sockname[0] if sockname else ""
        load = self.loads.get(ip, Load())
        self.reads[ip] = self.reads.get(ip, 0) + 1
        if load.hang:
            await asyncio.sleep(3600)
        if load.status != 200:
            return aiohttp.web.Response(status=load.status, text="engine dead")
        return aiohttp.web.Response(
            body=exposition(load), content_type="text/plain", charset="utf-8"
        )

    async def start(self) -> None:
        app = aiohttp.web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = aiohttp.web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        self.port = _free_port(ADDRESSES)
        for address in ADDRESSES:
            await aiohttp.web.TCPSite(self._runner, address, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
