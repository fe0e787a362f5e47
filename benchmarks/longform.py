"""Long-form transcription on the tiny CPU engine, in one run:
  1. a 20-minute recording, native single pass vs chunked in parallel (wall time, ratio);
  2. 8 concurrent 10-minute recordings, chunked vs native (total throughput);
  3. peak memory of decoding and planning a 4-hour file (in a fresh process).
Output length is fixed at 2.5 tokens per second of audio on both sides (random weights
never stop on their own): the native pass gets the whole budget, each chunk its share.

    .venv/bin/python benchmarks/longform.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from common import arguments, python, start_predictor

from tests.predictor.audiofiles import encode
from tests.predictor.recordings import speech_like
from voxtral_predictor.tiny_model import write_checkpoint

TOKENS_PER_SECOND = 2.5
CHUNK_SECONDS = 30.0


def flac(seconds: float, seed: int) -> bytes:
    return encode(speech_like(seconds, seed=seed)[0], "flac")


async def transcribe(
    client: httpx.AsyncClient, base: str, audio: bytes, seconds: float, chunked: bool
) -> float:
    tokens = TOKENS_PER_SECOND * (CHUNK_SECONDS if chunked else seconds)
    started = time.perf_counter()
    r = await client.post(
        f"{base}/v1/audio/transcriptions",
        files={"file": ("rec.flac", audio)},
        data={
            "model": "voxtral",
            "max_completion_tokens": str(int(tokens)),
            "chunking": "always" if chunked else "never",
        },
    )
    r.raise_for_status()
    return time.perf_counter() - started


async def speed(base: str) -> None:
    twenty = flac(1200.0, seed=11)
    tens = [flac(600.0, seed=20 + i) for i in range(8)]
    async with httpx.AsyncClient(timeout=3600) as client:
        await transcribe(client, base, flac(60.0, 1), 60.0, True)  # warm both paths
        await transcribe(client, base, flac(60.0, 1), 60.0, False)
        native = await transcribe(client, base, twenty, 1200.0, False)
        chunked = await transcribe(client, base, twenty, 1200.0, True)
        print(
            f"20-minute recording: native single pass {native:.1f} s, chunked {chunked:.1f} s, "
            f"speed-up {native / chunked:.2f}x (RTFx {1200 / native:.0f} vs {1200 / chunked:.0f})"
        )
        for chunked_mode in (False, True):
            t = time.perf_counter()
            await asyncio.gather(*(transcribe(client, base, a, 600.0, chunked_mode) for a in tens))
            wall = time.perf_counter() - t
            name = "chunked" if chunked_mode else "native "
            print(
                f"8 concurrent 10-minute recordings, {name}: {wall:.1f} s, "
                f"{8 * 600 / wall:.0f} audio seconds per second"
            )


MEMORY_PROBE = textwrap.dedent("""
    import sys, tracemalloc
    from pathlib import Path
    from voxtral_predictor.audio import decode
    from voxtral_predictor.longform import Policy, split

    def hwm():  # peak resident set size since the last reset, MiB
        line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
        return int(line.split()[1]) / 1024

    data = Path(sys.argv[1]).read_bytes()
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (inherited from fork)
    base = hwm()
    tracemalloc.start()
    clip = decode(data, 4 * 3600 + 60)
    chunks = split(clip.pcm, Policy())
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    print(f"{clip.duration / 3600:.2f} h, {len(data) / 2**20:.0f} MiB FLAC upload, "
          f"{len(chunks)} chunks: decode + plan allocate at peak {traced:.0f} MiB "
          f"(tracemalloc), resident set grows by {hwm() - base:.0f} MiB; the 16 kHz int16 "
          f"PCM itself is {clip.pcm.nbytes / 2**20:.0f} MiB")
""")


def memory(workdir: Path) -> None:
    path = workdir / "four-hours.flac"
    path.write_bytes(flac(4 * 3600.0, seed=4))
    out = subprocess.run(
        [python(), "-c", MEMORY_PROBE, str(path)], capture_output=True, text=True, check=True
    )
    print("4-hour file:", out.stdout.strip())


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        memory(workdir)
        if args.skip_speed:
            return
        model = args.model or str(write_checkpoint(workdir / "tiny"))
        server, _ = start_predictor(model, workdir)
        try:
            asyncio.run(speed(server.base))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
