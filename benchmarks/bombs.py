"""Hostile clients against the predictor, measured: memory and admission under
decompression bombs and stalled uploads (issue 14). With ``--before DIR`` (a checkout of
an older revision) the same attacks run against that revision's predictor too, one after
the other on the same machine, so the two can be compared.

    git worktree add /tmp/before 3f5b043
    .venv/bin/python benchmarks/bombs.py --before /tmp/before

Attacks, each against a fresh predictor (--max-concurrency 2 --max-queue 1):
  abandoned  six 362 KB FLAC files of 4 hours of 8 kHz silence, each client gone after 0.5 s
  instances  one KServe v1 request with four of them (1.9 MB)
  stalled    three uploads that send their headers and stop; ten ordinary requests meanwhile
Reported: the API process's peak RSS above its idle level, what the clients got, and
voxtral_requests_in_flight one second after the abandoned clients left.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil
import soundfile

sys.path.insert(0, str(Path(__file__).parent))
from common import arguments, start_predictor

from voxtral_predictor.audio import tone, wav_bytes
from voxtral_predictor.tiny_model import write_checkpoint

MiB = 1 << 20


def four_hours_of_silence() -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, np.zeros(4 * 3600 * 8000, np.int16), 8000, format="FLAC")
    return buf.getvalue()


@dataclass
class Peak:
    """The process's RSS, sampled every 20 ms in a thread."""

    pid: int
    idle: int = 0
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Peak:
        process = psutil.Process(self.pid)
        self.idle = self.peak = process.memory_info().rss

        def sample() -> None:
            while not self._stop.wait(0.02):
                self.peak = max(self.peak, process.memory_info().rss)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def added_mb(self) -> float:
        return (self.peak - self.idle) / MiB


def in_flight(base: str) -> float:
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith("voxtral_requests_in_flight "):
            return float(line.split()[1])
    return float("nan")


async def abandoned(base: str, bomb: bytes) -> str:
    async with httpx.AsyncClient(timeout=0.5) as http:

        async def one() -> str:
            try:
                r = await http.post(
                    f"{base}/v1/audio/transcriptions",
                    files={"file": ("a.flac", bomb)},
                    data={"model": "voxtral", "max_completion_tokens": "2"},
                )
                return str(r.status_code)
            except httpx.TimeoutException:
                return "gave up"

        answers = await asyncio.gather(*(one() for _ in range(6)))
    await asyncio.sleep(1.0)
    return f"clients: {sorted(answers)}; in flight 1 s later: {in_flight(base):g}"


async def instances(base: str, bomb: bytes) -> str:
    b64 = base64.b64encode(bomb).decode()
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=600) as http:
        r = await http.post(
            f"{base}/v1/models/voxtral:predict",
            json={"instances": [{"audio": {"b64": b64}, "max_completion_tokens": 2}] * 4},
        )
    return f"{r.status_code} in {time.perf_counter() - started:.1f} s: {r.text[:120]}"


async def stalled(base: str, bomb: bytes) -> str:
    port = int(base.rsplit(":", 1)[1])
    sockets = []
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(
            b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n"
        )
        sockets.append(sock)
    await asyncio.sleep(0.5)
    codes = []
    async with httpx.AsyncClient(timeout=60) as http:
        for _ in range(10):
            r = await http.post(
                f"{base}/v1/audio/transcriptions",
                files={"file": ("a.wav", wav_bytes(tone(1.0)))},
                data={"model": "voxtral", "max_completion_tokens": "2"},
            )
            codes.append(r.status_code)
    for sock in sockets:
        sock.close()
    return f"ordinary requests while 3 uploads stall: {sorted(codes)}"


ATTACKS = {"abandoned": abandoned, "instances": instances, "stalled": stalled}


def run_side(name: str, source: str | None, model: str, workdir: Path, bomb: bytes) -> None:
    for attack, run in ATTACKS.items():
        env_path = os.environ.get("PYTHONPATH", "")
        if source:
            os.environ["PYTHONPATH"] = f"{source}/predictor" + (f":{env_path}" if env_path else "")
        try:
            server, _ = start_predictor(
                model, workdir, "--max-concurrency", "2", "--max-queue", "1", "--warmup", "false"
            )
        finally:
            os.environ["PYTHONPATH"] = env_path
        try:
            time.sleep(2.0)  # settle after start
            with Peak(server.proc.pid) as peak:
                outcome = asyncio.run(run(server.base, bomb))
                time.sleep(3.0)
            print(f"{name:<7} {attack:<10} RSS +{peak.added_mb:7.0f} MiB peak  {outcome}")
        finally:
            server.stop()


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--before", help="a checkout of the revision to compare with")
    args = parser.parse_args()
    bomb = four_hours_of_silence()
    print(f"bomb: {len(bomb) / 1000:.0f} KB of FLAC, 4 h of audio (460 MB as 16 kHz PCM)")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model = args.model or str(write_checkpoint(workdir / "tiny"))
        if args.before:
            run_side("before", args.before, model, workdir, bomb)
        run_side("now", None, model, workdir, bomb)


if __name__ == "__main__":
    main()
