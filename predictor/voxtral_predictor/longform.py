"""Long-form audio: split a recording at quiet points into chunks that fit Voxtral's 30 s
encoder window, transcribe the chunks concurrently (vLLM batches them), stitch them in
order as timestamped segments.

The planner is pure (levels in, chunks out). Chunks are slices of the one decoded PCM
buffer: a chunk's WAV exists only while its engine request runs, and at most
``concurrency`` of them at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from .audio import SAMPLE_RATE, Pcm, pcm_wav
from .subtitles import TIMESTAMPED, Segment
from .tasks import all_or_nothing

FRAME_SECONDS = 0.02
FRAME = int(SAMPLE_RATE * FRAME_SECONDS)  # 320 samples
DYNAMIC_RANGE_DB = 35.0  # this far below the loud parts is a pause...
NOISE_MARGIN_DB = 6.0  # ...or this close above the recording's own quiet parts...
LEAST_DIP_DB = 10.0  # ...but never closer than this to the loud parts
SKIP_BELOW_DB = -85.0  # 1-2 LSB of 16-bit audio: a chunk quieter throughout holds nothing
LEVEL_BLOCK = 600 * SAMPLE_RATE  # levels are computed 10 minutes at a time

Levels = npt.NDArray[np.float32]
T = TypeVar("T")
Engine = Callable[[bytes], Awaitable[T]]


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


def quiet_threshold(frame_levels: Levels) -> float:
    """The level under which a frame is a pause, relative to the recording's own levels:
    its noise floor (10th percentile) and its loud parts (95th percentile of the frames
    that stand out of the floor), so a recording spoken at -60 dBFS has pauses too. A
    recording with nothing standing out (one steady tone, or all silence) has none."""
    floor = float(np.percentile(frame_levels, 10))
    active = frame_levels[frame_levels > floor + NOISE_MARGIN_DB]
    if active.size == 0:
        return floor - NOISE_MARGIN_DB
    loud = float(np.percentile(active, 95))
    return min(max(floor + NOISE_MARGIN_DB, loud - DYNAMIC_RANGE_DB), loud - LEAST_DIP_DB)


def quiet_mask(frame_levels: Levels) -> npt.NDArray[np.bool_]:
    if frame_levels.size == 0:
        return np.zeros(0, dtype=bool)
    return frame_levels < quiet_threshold(frame_levels)


def silent_mask(frame_levels: Levels) -> npt.NDArray[np.bool_]:
    """Frames with nothing to hear: below SKIP_BELOW_DB and quiet for the recording (or
    the whole recording is below it). Only chunks silent throughout are skipped, so quiet
    speech always reaches the engine."""
    if frame_levels.size == 0:
        return np.zeros(0, dtype=bool)
    below = frame_levels < SKIP_BELOW_DB
    if below.all():
        return below
    return below & (frame_levels < quiet_threshold(frame_levels))


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


def plan(
    total: int,
    quiet: npt.NDArray[np.bool_],
    policy: Policy,
    silent: npt.NDArray[np.bool_] | None = None,
) -> list[Chunk]:
    """Chunks covering samples [0, total): pure, given the frames' quiet mask (where to
    cut) and silent mask (what to skip; the quiet mask when not given)."""
    silent = quiet if silent is None else silent
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
            silent=bool(silent[a:b].all()),
            hard_cut=hard,
        )
        for i, (a, b, hard) in enumerate(bounds)
    ]


def split(pcm: Pcm, policy: Policy) -> list[Chunk]:
    frame_levels = levels(pcm)
    return plan(len(pcm), quiet_mask(frame_levels), policy, silent_mask(frame_levels))


def should_chunk(chunking: str, fmt: str, duration: float, policy: Policy) -> bool:
    """auto: one native request when the audio fits one window and no timestamps are
    asked; chunked otherwise. always / never: as they say."""
    if chunking == "never":
        return False
    if chunking == "always":
        return True
    return duration > policy.target or fmt in TIMESTAMPED


async def _run(pcm: Pcm, chunk: Chunk, engine: Engine[T], slots: asyncio.Semaphore) -> T | None:
    if chunk.silent:
        return None  # nothing to hear: no engine work
    async with slots:
        return await engine(pcm_wav(pcm[chunk.start : chunk.end]))


async def run_all(
    pcm: Pcm, chunks: Sequence[Chunk], engine: Engine[T], concurrency: int
) -> list[T | None]:
    """Every chunk, at most ``concurrency`` in the engine at once; results in order (None
    for a silent chunk). Cancelling the caller cancels (and so aborts) every chunk."""
    slots = asyncio.Semaphore(concurrency)
    return await all_or_nothing(_run(pcm, c, engine, slots) for c in chunks)


async def in_order(
    pcm: Pcm, chunks: Sequence[Chunk], engine: Engine[T], concurrency: int
) -> AsyncIterator[tuple[Chunk, T | None]]:
    """Each chunk's result in timeline order, as soon as it and all its predecessors are
    done (a later chunk that finishes first waits)."""
    slots = asyncio.Semaphore(concurrency)
    tasks = [asyncio.ensure_future(_run(pcm, c, engine, slots)) for c in chunks]
    try:
        for chunk, task in zip(chunks, tasks, strict=True):
            yield chunk, await task
    finally:
        for task in tasks:
            task.cancel()


class Stitcher:
    """Chunks' texts into segments on the original timeline. After a hard cut the next
    chunk began ``overlap`` s early and may repeat the words of that second: they are
    dropped, and its segment starts where the previous one ended (cues never overlap)."""

    def __init__(self) -> None:
        self._previous: Chunk | None = None
        self._previous_text = ""

    def segment(self, chunk: Chunk, text: str) -> Segment:
        text = text.strip()
        start = chunk.start_s
        previous = self._previous
        if previous is not None and previous.hard_cut:
            start = max(start, previous.end_s)
            text = without_repeat(self._previous_text, text)
        self._previous, self._previous_text = chunk, text
        return Segment(chunk.index, start, chunk.end_s, text)


def stitch(chunks: Sequence[Chunk], texts: Sequence[str]) -> list[Segment]:
    stitcher = Stitcher()
    return [stitcher.segment(c, t) for c, t in zip(chunks, texts, strict=True)]


def _word(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def without_repeat(before: str, text: str, most: int = 12) -> str:
    """``text`` without its first words when they repeat the last words of ``before``
    (compared without case and punctuation; the longest such run, at most ``most``)."""
    tail = [_word(w) for w in before.split()][-most:]
    words = text.split()
    head = [_word(w) for w in words[:most]]
    for size in range(min(len(tail), len(head)), 0, -1):
        if tail[-size:] == head[:size] and any(head[:size]):
            return " ".join(words[size:])
    return text
