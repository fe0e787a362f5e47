"""One gateway process: the HTTP app and the gRPC server on one event loop, replicas'
health polled; SIGTERM stops taking connections, lets requests in flight finish, exits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import uvicorn

from . import discovery, health
from .grpc_proxy import MESSAGE_LIMIT, GrpcGateway
from .hold import Hold
from .http_proxy import HttpGateway
from .keys import KeyFile
from .kube import Kube
from .options import Options
from .pool import Pools
from .report import Reporter

log = logging.getLogger(__name__)
GRACE_SECONDS = 30.0


class _HttpServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # serve() owns SIGTERM/SIGINT


async def serve(options: Options) -> int:
    pools = Pools(options.upstreams)
    hold = Hold(pools, options.max_held, options.hold_seconds)
    tasks: list[asyncio.Task[None]] = []
    if options.discover:
        kube = Kube(options.kube_api) if options.kube_api else Kube.in_cluster()
        catalog = discovery.Catalog(pools)
        reporter = Reporter(kube, catalog.owner, options.pod_name)
        hold.observers.append(reporter.held)
        tasks += [
            asyncio.create_task(discovery.watch(kube, catalog, list(options.namespaces))),
            asyncio.create_task(reporter.run()),
        ]
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(connect=5.0, read=None, write=60.0, pool=None),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=256),
    )
    await health.check_all(client, pools)  # route from the first request on
    tasks.append(asyncio.create_task(health.poll(client, pools, options.health_interval)))
    keys = KeyFile(Path(options.api_keys_file)) if options.api_keys_file else None
    app = HttpGateway(pools, client, options.max_body_mb, keys, hold)
    http = _HttpServer(
        uvicorn.Config(
            app,
            host=options.host,
            port=options.http_port,
            lifespan="off",
            log_config=None,
            access_log=options.access_log,
            timeout_keep_alive=65,
            timeout_graceful_shutdown=int(GRACE_SECONDS),
        )
    )
    passthrough = GrpcGateway(pools, keys, hold)
    rpc = grpc.aio.server(options=MESSAGE_LIMIT)
    rpc.add_generic_rpc_handlers((passthrough,))
    host = f"[{options.host}]" if ":" in options.host else options.host
    rpc.add_insecure_port(f"{host}:{options.grpc_port}")
    await rpc.start()

    loop = asyncio.get_running_loop()

    def stop(name: str) -> None:
        log.info("%s: stopping", name)
        http.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, signal.Signals(sig).name)
    log.info(
        "routing %s on http :%d and grpc :%d",
        ", ".join(f"{u.service} -> {u.http}" for u in options.upstreams)
        or f"the operator's services in {list(options.namespaces) or 'every namespace'}",
        options.http_port,
        options.grpc_port,
    )
    try:
        await http.serve()
    finally:
        await rpc.stop(grace=GRACE_SECONDS)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await passthrough.close()
        await client.aclose()
    return 0
