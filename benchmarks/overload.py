"""Overload: offer 3x the configured concurrency for 30 s (closed-loop clients sending
back to back) and count what happened: accepted requests must all complete with 200,
the rest must be 429 and fast, and no 5xx.

    .venv/bin/python benchmarks/overload.py [--concurrency 4] [--queue 4] [--seconds 30]
"""

from __future__ import annotations

import asyncio
import collections
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import arguments, percentile, start_predictor

from voxtral_predictor.audio import tone, wav_bytes
from voxtral_predictor.tiny_model import write_checkpoint


async def offer(base: str, clients: int, seconds: float, tokens: int) -> None:
    audio = wav_bytes(tone(5.0))
    codes: collections.Counter[int] = collections.Counter()
    ok_latency: list[float] = []
    reject_latency: list[float] = []
    deadline = time.monotonic() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            t = time.perf_counter()
            r = await http.post(
                f"{base}/v1/audio/transcriptions",
                files={"file": ("clip.wav", audio, "audio/wav")},
                data={"model": "voxtral", "max_completion_tokens": str(tokens)},
            )
            elapsed = time.perf_counter() - t
            codes[r.status_code] += 1
            if r.status_code == 200:
                ok_latency.append(elapsed)
            elif r.status_code == 429:
                reject_latency.append(elapsed)
                await asyncio.sleep(float(r.headers.get("retry-after", "1")) * 0.1)

    limits = httpx.Limits(max_connections=clients * 2)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    errors = sum(n for code, n in codes.items() if code >= 500)
    other = sum(n for code, n in codes.items() if code not in (200, 429) and code < 500)
    print(
        f"{clients} clients for {seconds:g} s: accepted {codes[200]} (all 200; p50 "
        f"{1000 * percentile(ok_latency, 50):.0f} ms, "
        f"p99 {1000 * percentile(ok_latency, 99):.0f} ms), "
        f"rejected {codes[429]} (429; p50 {1000 * percentile(reject_latency, 50):.1f} ms, "
        f"p99 {1000 * percentile(reject_latency, 99):.1f} ms), 5xx {errors}, other {other}"
    )


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--concurrency", type=int, default=4, help="--max-concurrency")
    parser.add_argument("--queue", type=int, default=4, help="--max-queue")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--tokens", type=int, default=64, help="output tokens per request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model = args.model or str(write_checkpoint(workdir / "tiny"))
        server, _ = start_predictor(
            model, workdir, "--max-model-len", "4096",
            "--max-concurrency", str(args.concurrency), "--max-queue", str(args.queue),
        )  # fmt: skip
        try:
            asyncio.run(offer(server.base, 3 * args.concurrency, args.seconds, args.tokens))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
