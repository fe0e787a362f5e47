"""The chunk planner and the subtitle formats: pure, on synthetic recordings with
silences at known times."""

from __future__ import annotations

import asyncio
import io
import itertools
import json

import numpy as np
import pytest
import srt
import webvtt

from tests.predictor.recordings import bursts, speech_like
from voxtral_predictor import longform
from voxtral_predictor.audio import SAMPLE_RATE, to_pcm, tone
from voxtral_predictor.longform import Policy, split
from voxtral_predictor.subtitles import Segment, render

POLICY = Policy(target=30.0, search=6.0, overlap=1.0)


def inside(t: float, gaps: list[tuple[float, float]]) -> bool:
    return any(a - 0.02 <= t <= b + 0.02 for a, b in gaps)


def test_every_cut_falls_in_a_silence_gap() -> None:
    pcm, gaps = speech_like(180.0)
    chunks = split(pcm, POLICY)
    assert len(chunks) >= 6
    for chunk in chunks[:-1]:
        assert not chunk.hard_cut
        assert inside(chunk.end_s, gaps), (chunk, gaps)
    assert all(c.end_s - c.start_s <= POLICY.target + 1e-9 for c in chunks)


def test_chunks_cover_the_timeline_without_gap_or_overlap() -> None:
    pcm, _ = speech_like(180.0, seed=7)
    chunks = split(pcm, POLICY)
    assert chunks[0].start == 0 and chunks[-1].end == len(pcm)
    for a, b in itertools.pairwise(chunks):
        assert b.start == a.end


def test_no_pause_means_a_hard_cut_with_overlap() -> None:
    pcm = to_pcm(tone(95.0))  # one unbroken tone: nowhere quiet to cut
    chunks = split(pcm, POLICY)
    assert [c.hard_cut for c in chunks] == [True, True, True, False]
    for a, b in itertools.pairwise(chunks):
        assert a.end_s - a.start_s == pytest.approx(30.0)
        assert a.end - b.start == int(POLICY.overlap * SAMPLE_RATE)  # the configured overlap
    assert chunks[-1].end == len(pcm)


def test_faint_noise_is_still_a_pause() -> None:
    pcm = bursts([(0.0, 27.0), (28.0, 60.0)], 60.0, noise=0.001)
    chunks = split(pcm, POLICY)
    assert not chunks[0].hard_cut and 27.0 <= chunks[0].end_s <= 28.0


def test_silent_chunks_are_marked() -> None:
    pcm = bursts([(1.0, 5.0)], 100.0)
    chunks = split(pcm, POLICY)
    assert not chunks[0].silent and all(c.silent for c in chunks[1:])


def test_should_chunk() -> None:
    assert not longform.should_chunk("auto", "json", 30.0, POLICY)
    assert longform.should_chunk("auto", "json", 30.1, POLICY)
    assert longform.should_chunk("auto", "srt", 3.0, POLICY)
    assert longform.should_chunk("always", "json", 3.0, POLICY)
    assert not longform.should_chunk("never", "verbose_json", 3000.0, POLICY)


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="search < target"):
        Policy(target=30, search=40)


SEGMENTS = [
    Segment(0, 0.0, 29.5, "Hello there."),
    Segment(1, 29.5, 61.25, ""),
    Segment(2, 61.25, 3725.5, "Good bye."),
]


def test_srt_parses_with_a_real_parser() -> None:
    body = render("srt", "transcribe", "en", 3725.5, SEGMENTS)["text"]
    subs = list(srt.parse(body))
    assert [s.content for s in subs] == ["Hello there.", "Good bye."]  # no empty cue
    assert subs[1].start.total_seconds() == 61.25 and subs[1].end.total_seconds() == 3725.5
    assert "01:02:05,500" in body


def test_vtt_parses_with_a_real_parser() -> None:
    body = render("vtt", "transcribe", "en", 3725.5, SEGMENTS)["text"]
    captions = list(webvtt.from_buffer(io.StringIO(body)))
    assert [c.text for c in captions] == ["Hello there.", "Good bye."]
    assert captions[1].start == "00:01:01.250" and captions[1].end == "01:02:05.500"


def test_verbose_json_shape() -> None:
    body = render("verbose_json", "translate", None, 3725.5, SEGMENTS)
    assert body["text"] == "Hello there. Good bye." and body["duration"] == 3725.5
    assert body["segments"][1] == {"id": 1, "start": 29.5, "end": 61.25, "text": ""}
    json.dumps(body)


async def test_stream_keeps_timeline_order_when_chunks_finish_out_of_order() -> None:
    """The engine here is a stand-in that finishes later chunks FIRST: the real engine's
    completion order cannot be forced, and the ordering logic is what is tested."""
    pcm, _ = speech_like(150.0)
    chunks = split(pcm, POLICY)
    finished: list[int] = []

    async def engine(wav: bytes) -> str:
        index = next(c.index for c in chunks if c.end - c.start == (len(wav) - 44) // 2)
        await asyncio.sleep(0.05 * (len(chunks) - index))  # the last chunk is fastest
        finished.append(index)
        return f"chunk {index}"

    events = [e async for e in longform.stream(pcm, chunks, engine, 16, "voxtral", "id")]
    assert finished != sorted(finished)  # they really finished out of order
    assert events[-1] == "data: [DONE]\n\n"
    segments = [json.loads(e[6:])["segment"] for e in events[:-1]]
    assert [s["id"] for s in segments] == list(range(len(chunks)))
    assert [s["text"] for s in segments] == [f"chunk {i}" for i in range(len(chunks))]


async def test_at_most_concurrency_chunks_in_the_engine() -> None:
    """Stand-in engine that counts concurrent calls (the bound is ours, not vLLM's)."""
    pcm = to_pcm(np.tile(tone(1.0), 300))  # 5 minutes, no pauses: 11 chunks
    chunks = split(pcm, POLICY)
    running = peak = 0

    async def engine(wav: bytes) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return "x"

    segments = await longform.transcribe(pcm, chunks, engine, concurrency=3)
    assert peak == 3 and len(segments) == len(chunks)
