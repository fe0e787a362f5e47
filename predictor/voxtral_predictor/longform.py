"""Long-form audio: split a recording at quiet points into chunks that fit Voxtral's 30 s
encoder window, transcribe the chunks concurrently (vLLM batches them), stitch them in
order as timestamped segments.

The planner is pure (levels in, chunks out). Chunks are slices of the one decoded PCM
buffer: a chunk's WAV exists only while its engine request runs, and at most
``concurrency`` of them at a time."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .audio import SAMPLE_RATE, Pcm, pcm_wav
from .subtitles import TIMESTAMPED, Segment
from .tasks import all_or_nothing

FRAME_SECONDS = 0.02
FRAME = int(SAMPLE_RATE * FRAME_SECONDS)  # 320 samples
SILENCE_FLOOR_DB = -55.0  # quieter than this is silence, whatever the recording
DYNAMIC_RANGE_DB = 35.0  # this far below the loud parts is a pause
LEVEL_BLOCK = 600 * SAMPLE_RATE  # levels are computed 10 minutes at a time

Levels = npt.NDArray[np.float32]
Engine = Callable[[bytes], Awaitable[str]]


@dataclass(frozen=True)
class Policy:
    """How to cut: chunks of at most ``target`` s, cut in the quietest pause of at least
    ``min_pause`` s within the last ``search`` s before the target; with no pause there,
    a hard cut at the target and the next chunk starts ``overlap`` s earlier."""

    target: float = 30.0
    search: float = 6.0
    overlap: float = 1.0
    min_pause: float = 0.3

    def __post_init__(self) -> None:
        if not 0 < self.search < self.target or not 0 <= self.overlap < self.target - self.search:
            raise ValueError(
                "chunking needs 0 < search < target and 0 <= overlap < target - search "
                f"(got target {self.target}, search {self.search}, overlap {self.overlap})"
            )


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # samples
    end: int
    silent: bool
    hard_cut: bool  # ends at a hard cut (the next chunk overlaps it)

    @property
    def start_s(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return self.end / SAMPLE_RATE


def levels(pcm: Pcm) -> Levels:
    """RMS level of each 20 ms frame, in dBFS, computed block by block (no float copy of
    the whole recording)."""
    frames = len(pcm) // FRAME + (1 if len(pcm) % FRAME else 0)
    out = np.empty(frames, dtype=np.float32)
    for block_start in range(0, len(pcm), LEVEL_BLOCK):
        block = pcm[block_start : block_start + LEVEL_BLOCK].astype(np.float32) / 32768.0
        pad = (-len(block)) % FRAME
        if pad:
            block = np.concatenate([block, np.zeros(pad, np.float32)])
        power = np.mean(block.reshape(-1, FRAME) ** 2, axis=1)
        first = block_start // FRAME
        out[first : first + len(power)] = 10 * np.log10(power + 1e-12)
    return out


def quiet_mask(frame_levels: Levels) -> npt.NDArray[np.bool_]:
    if frame_levels.size == 0:
        return np.zeros(0, dtype=bool)
    loud = float(np.percentile(frame_levels, 95))
    return frame_levels < max(SILENCE_FLOOR_DB, loud - DYNAMIC_RANGE_DB)


def _best_pause(quiet: npt.NDArray[np.bool_], lo: int, hi: int, min_frames: int) -> int | None:
    """Centre frame of the longest quiet run (the latest of equals) inside [lo, hi)."""
    window = quiet[lo:hi].astype(np.int8)
    if not window.any():
        return None
    edges = np.diff(np.concatenate([[0], window, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = ends - starts
    best = int(np.flatnonzero(lengths == lengths.max())[-1])
    if lengths[best] < min_frames:
        return None
    return lo + int((starts[best] + ends[best]) // 2)


def plan(total: int, quiet: npt.NDArray[np.bool_], policy: Policy) -> list[Chunk]:
    """Chunks covering samples [0, total): pure, given the frames' quiet mask."""
    target = int(policy.target / FRAME_SECONDS)
    search = int(policy.search / FRAME_SECONDS)
    overlap = int(policy.overlap / FRAME_SECONDS)
    min_pause = max(1, int(policy.min_pause / FRAME_SECONDS))
    n_frames = len(quiet)
    bounds: list[tuple[int, int, bool]] = []  # frames
    pos = 0
    while n_frames - pos > target:
        cut = _best_pause(quiet, pos + target - search, pos + target, min_pause)
        if cut is not None:
            bounds.append((pos, cut, False))
            pos = cut
        else:
            bounds.append((pos, pos + target, True))
            pos = pos + target - overlap
    bounds.append((pos, n_frames, False))
    return [
        Chunk(
            index=i,
            start=a * FRAME,
            end=min(b * FRAME, total),
            silent=bool(quiet[a:b].all()),
            hard_cut=hard,
        )
        for i, (a, b, hard) in enumerate(bounds)
    ]


def split(pcm: Pcm, policy: Policy) -> list[Chunk]:
    return plan(len(pcm), quiet_mask(levels(pcm)), policy)


def should_chunk(chunking: str, fmt: str, duration: float, policy: Policy) -> bool:
    """auto: one native request when the audio fits one window and no timestamps are
    asked; chunked otherwise. always / never: as they say."""
    if chunking == "never":
        return False
    if chunking == "always":
        return True
    return duration > policy.target or fmt in TIMESTAMPED


def _segment(chunk: Chunk, text: str) -> Segment:
    return Segment(chunk.index, chunk.start_s, chunk.end_s, text.strip())


async def _text(pcm: Pcm, chunk: Chunk, engine: Engine, slots: asyncio.Semaphore) -> str:
    if chunk.silent:
        return ""  # nothing to hear: no engine work
    async with slots:
        return await engine(pcm_wav(pcm[chunk.start : chunk.end]))


async def transcribe(
    pcm: Pcm, chunks: Sequence[Chunk], engine: Engine, concurrency: int
) -> list[Segment]:
    """Every chunk, at most ``concurrency`` in the engine at once; segments in order.
    Cancelling the caller cancels (and so aborts) every chunk still running."""
    slots = asyncio.Semaphore(concurrency)
    texts = await all_or_nothing(_text(pcm, c, engine, slots) for c in chunks)
    return [_segment(c, t) for c, t in zip(chunks, texts, strict=True)]


async def stream(
    pcm: Pcm,
    chunks: Sequence[Chunk],
    engine: Engine,
    concurrency: int,
    model: str,
    request_id: str,
) -> AsyncIterator[str]:
    """Server-sent events, one per segment in timeline order, as soon as it and all its
    predecessors are done (a later chunk that finishes first waits)."""
    slots = asyncio.Semaphore(concurrency)
    tasks = [asyncio.ensure_future(_text(pcm, c, engine, slots)) for c in chunks]
    created = int(time.time())
    spoken = False
    try:
        for chunk, task in zip(chunks, tasks, strict=True):
            try:
                segment = _segment(chunk, await task)
            except Exception as exc:  # the response has started: report in the stream
                error = {
                    "message": f"chunk {chunk.index} ({chunk.start_s:.1f}-"
                    f"{chunk.end_s:.1f} s) failed: {exc}",
                    "type": "server_error",
                    "param": None,
                    "code": getattr(exc, "code", "chunk_failed"),
                }
                yield f"data: {json.dumps({'error': error})}\n\n"
                break
            delta = (" " if spoken and segment.text else "") + segment.text
            spoken = spoken or bool(segment.text)
            event = {
                "id": request_id,
                "object": "transcription.chunk",
                "created": created,
                "model": model,
                "choices": [{"delta": {"content": delta}}],
                "segment": segment.as_dict(),
            }
            yield f"data: {json.dumps(event)}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        for task in tasks:
            task.cancel()
