"""Shared fixtures: one real predictor (tiny random-weight Voxtral on vLLM's CPU engine)
started once per test session and reused by every predictor test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from voxtral_predictor.tiny_model import write_checkpoint

START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Predictor:
    proc: subprocess.Popen[bytes]
    http: str
    grpc: str
    log: Path
    # (seconds since start, /v2/health/live status, /v2/health/ready status, successes
    # counted by vLLM at that moment) while the server came up
    startup: list[tuple[float, int, int, float]] = field(default_factory=list)

    @property
    def openai_base(self) -> str:
        return f"{self.http}/v1"


def vllm_success_count(metrics_text: str) -> float:
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("vllm:request_success_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def start_predictor(
    model: Path, workdir: Path, *extra: str, env: dict[str, str] | None = None
) -> Predictor:
    http_port, grpc_port = free_port(), free_port()
    log = workdir / f"predictor-{http_port}.log"
    environ = (
        os.environ
        | {
            "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
            "VLLM_CACHE_ROOT": str(workdir / "vllm-cache"),
            "PYTHONUNBUFFERED": "1",
        }
        | (env or {})
    )
    cmd = [
        sys.executable, "-m", "voxtral_predictor", "--model", str(model),
        "--host", "127.0.0.1", "--http-port", str(http_port), "--grpc-port", str(grpc_port),
        "--max-model-len", "4096", "--kv-cache-memory-bytes", str(128 << 20), *extra,
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=environ, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = Predictor(proc, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", log)
    started = time.monotonic()
    while time.monotonic() - started < START_TIMEOUT_S:
        if proc.poll() is not None:
            raise RuntimeError(f"predictor exited {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            live = httpx.get(f"{server.http}/v2/health/live", timeout=2).status_code
            ready = httpx.get(f"{server.http}/v2/health/ready", timeout=2).status_code
            done = vllm_success_count(httpx.get(f"{server.http}/metrics", timeout=2).text)
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        server.startup.append((time.monotonic() - started, live, ready, done))
        if ready == 200:
            return server
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"predictor not ready in {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


def stop_predictor(server: Predictor) -> int:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
    return server.proc.returncode


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("tiny-voxtral"))


@pytest.fixture(scope="session")
def predictor(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Predictor]:
    server = start_predictor(tiny_model, tmp_path_factory.mktemp("predictor"))
    yield server
    stop_predictor(server)


@pytest.fixture(scope="session")
def narrow(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Predictor]:
    """One request at a time, one queued; a body may pause 2 s."""
    server = start_predictor(
        tiny_model, tmp_path_factory.mktemp("narrow"),
        "--max-concurrency", "1", "--max-queue", "1", "--body-timeout", "2", "--warmup", "false",
    )  # fmt: skip
    yield server
    stop_predictor(server)
