"""Shared pieces of the benchmarks: start servers, drive load, summarize latencies."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, with the checkpoint option they all take."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="checkpoint (default: generate the tiny model)")
    return parser


def round_arguments(parser: argparse.ArgumentParser, requests: int, per: str, rounds: int) -> None:
    """The options of a load driven in interleaved rounds of short clips."""
    parser.add_argument("--requests", type=int, default=requests, help=f"requests per {per}")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length")
    parser.add_argument("--tokens", type=int, default=16, help="output tokens per request")


def distinct_clips(count: int, seconds: float, seed: int = 0) -> list[bytes]:
    """``count`` different WAV recordings of ``seconds`` (16 kHz mono): a tone at its own
    pitch under its own noise, so that no request is served from vLLM's multimodal cache
    (a repeated clip is, and would flatter any figure)."""
    from voxtral_predictor.audio import tone, wav_bytes

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        clip = tone(seconds, frequency=200.0 + 0.37 * i + float(rng.uniform(0, 0.3)))
        clip = clip + rng.normal(0, 0.01, clip.size).astype(np.float32)
        out.append(wav_bytes(clip))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start(
    name: str,
    cmd: Sequence[str],
    port: int,
    ready_path: str,
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
) -> Server:
    log = workdir / f"{name}.log"
    environ = os.environ | {"PYTHONUNBUFFERED": "1"} | (env or {})
    proc = subprocess.Popen(list(cmd), env=environ, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(base + ready_path, timeout=2).status_code == 200:
                return Server(name, proc, base, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"{name} not ready after {timeout} s")


@dataclass
class Round:
    wall: float
    latencies: list[float]
    errors: int

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall


async def drive(send: Callable[[], Awaitable[bool]], requests: int, concurrency: int) -> Round:
    """Send ``requests`` calls with at most ``concurrency`` in flight."""
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[None] = asyncio.Queue()
    for _ in range(requests):
        queue.put_nowait(None)

    async def worker() -> None:
        nonlocal errors
        while not queue.empty():
            queue.get_nowait()
            t = time.perf_counter()
            ok = await send()
            if ok:
                latencies.append(time.perf_counter() - t)
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Round(time.perf_counter() - started, latencies, errors)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def spread(values: Sequence[float]) -> str:
    return f"median {statistics.median(values):.3f} (min {min(values):.3f}, max {max(values):.3f})"


def python() -> str:
    return sys.executable


def start_predictor(model: str, workdir: Path, *flags: str) -> tuple[Server, int]:
    """voxtral-predictor on 127.0.0.1 with free ports, access log off; (server, grpc port)."""
    port, grpc_port = free_port(), free_port()
    cmd = [
        python(), "-m", "voxtral_predictor", "--model", model, "--host", "127.0.0.1",
        "--http-port", str(port), "--grpc-port", str(grpc_port), "--access-log", "false",
        *flags,
    ]  # fmt: skip
    env = {"VLLM_CACHE_ROOT": str(workdir / "cache")}
    return start("predictor", cmd, port, "/v2/health/ready", workdir, env), grpc_port


def v2_grpc_request(audio: bytes, tokens: int, chunking: str | None = None) -> Any:
    """A KServe v2 gRPC ModelInfer request, one recording as a BYTES input, made by
    KServe's own client types."""
    from kserve import InferInput, InferRequest

    parameters: dict[str, int | str] = {"max_completion_tokens": tokens}
    if chunking:
        parameters["chunking"] = chunking
    recording = InferInput("audio", [1], "BYTES", data=[audio])
    return InferRequest(
        model_name="voxtral", infer_inputs=[recording], parameters=parameters
    ).to_grpc()
