"""Several frontend processes on one engine core (``--api-servers N``): the supervisor.

The supervisor (the pod's main process) binds the HTTP port once, makes the replica's
shared counts (``replica.Tally``), and has vLLM's launcher start the engine core and N
frontends, wired as ``vllm serve --api-server-count N`` wires its API servers. Every
frontend is a whole KServe model server (``server.Predictor``) with its own engine client:
HTTP on the shared socket, gRPC on the same port (SO_REUSEPORT), metrics in Prometheus'
multiprocess mode. No process sits in the request path.

The supervisor then only watches: SIGTERM is passed to every frontend, which drains; once
they have exited, the engine core stops. A frontend that exits unasked, or an engine core
that dies, stops the replica with exit code 1, so that Kubernetes restarts the pod."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing import connection
from types import FrameType
from typing import Any

from . import metrics, sizing
from . import vllm_adapter as vllm
from .options import Options
from .replica import Replica, Tally

log = logging.getLogger(__name__)
WATCH_SECONDS = 0.5
DRAIN_MARGIN_SECONDS = 15.0  # past --drain-timeout, a frontend that has not exited is killed


def usable_cpus() -> float:
    """CPUs this process may use: its affinity, and its cgroup's quota (a pod's limit)."""
    cpus = float(len(os.sched_getaffinity(0)))
    try:
        with open("/sys/fs/cgroup/cpu.max") as cpu_max:
            quota = sizing.cgroup_cpus(cpu_max.read())
    except OSError:
        quota = None
    return min(cpus, quota) if quota else cpus


def api_servers(options: Options, gpus: int) -> int:
    if options.api_servers is not None:
        return options.api_servers
    return sizing.default_api_servers(gpus, usable_cpus())


@dataclass(frozen=True)
class Handed:
    """What every frontend gets from the supervisor (at spawn)."""

    options: Options
    tally: Tally
    frontends: int
    supervisor: int


def serve_frontend(
    listen_address: str, sock: socket.socket, handed: Handed, client: vllm.EngineClient
) -> None:
    """A frontend process: one Predictor on the shared socket, its engine client connected
    to the supervisor's engine core."""
    from . import server
    from .__main__ import configure_logging
    from .runtime import Runtime

    configure_logging()
    index = int(client["client_index"])
    replica = Replica(handed.frontends, index, handed.tally, handed.supervisor)
    log.info("frontend %d of %d serving %s", index, handed.frontends, listen_address)
    sys.exit(server.run(Runtime(handed.options, client), handed.options, replica, sock))


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound, not yet listening: every frontend listens on it and accepts from it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(
            f"voxtral-predictor: cannot listen on {host}:{port} ({exc.strerror}): another "
            "process holds the port, or the address is not this machine's; choose another "
            "--http-port or --host"
        ) from exc
    sock.set_inheritable(True)
    return sock


class Supervisor:
    def __init__(self, options: Options, frontends: int):
        self.options = options
        self.frontends = frontends
        self.stop_requested = False
        self.starting = True

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("%s: stopping the replica", signal.Signals(signum).name)
        self.stop_requested = True
        if self.starting:
            raise SystemExit(0)  # nothing admitted yet: stop the start at once

    def run(self) -> int:
        from .runtime import engine_cli

        sock = listening_socket(self.options.host, self.options.http_port)  # or a clear exit
        # Before vLLM's launcher spawns anything: every process writes its metrics there.
        metrics_dir = tempfile.mkdtemp(prefix="voxtral-metrics-")
        os.environ[metrics.MULTIPROCESS_DIR] = metrics_dir
        # This process has asked CUDA for its GPUs: the engine core must not be forked.
        os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            ns = vllm.parse_engine_args(engine_cli(self.options))
            handed = Handed(self.options, Tally(shared=True), self.frontends, os.getpid())
            log.info("starting the engine core and %d frontends", self.frontends)
            with vllm.launch_replica(ns, self.frontends, serve_frontend, handed, sock) as replica:
                self.starting = False
                if self.stop_requested:
                    return self._stop(replica.frontends, 0)
                return self._watch(replica)
        except SystemExit as exc:
            return int(exc.code or 0) if self.stop_requested else 1
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)

    def _watch(self, replica: vllm.Replica) -> int:
        frontends: dict[Any, Any] = {p.sentinel: p for p in replica.frontends}
        engines: dict[Any, Any] = {p.sentinel: p for p in replica.engines}
        code = 0
        while frontends:
            if self.stop_requested:
                return self._stop(list(frontends.values()), code)
            for sentinel in connection.wait([*frontends, *engines], timeout=WATCH_SECONDS):
                if sentinel in engines:
                    log.error("the engine core died: stopping the replica so that it restarts")
                    return 1  # frontends are stopped on the way out; they cannot serve
                process = frontends.pop(sentinel)
                process.join()  # it has ended: its exit code
                log.error(
                    "frontend %s exited with %s: stopping the replica so that it restarts",
                    process.name,
                    process.exitcode,
                )
                code, self.stop_requested = 1, True
        return code

    def _stop(self, frontends: list[Any], code: int) -> int:
        """Every frontend drains (SIGTERM); the engine core stops once they have exited."""
        for process in frontends:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.options.drain_timeout + DRAIN_MARGIN_SECONDS
        for process in frontends:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                log.error("frontend %s did not stop in time: killing it", process.name)
                process.kill()
                process.join()
            if process.exitcode != 0:
                code = 1
        return code
