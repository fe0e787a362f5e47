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
from voxtral_predictor.longform import Chunk, Policy, split, stitch, without_repeat
from voxtral_predictor.subtitles import (
    LINE_CHARS,
    MAX_CUE_CHARS,
    MAX_CUE_SECONDS,
    Segment,
    cues,
    render,
)

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


def test_only_digital_silence_is_skipped() -> None:
    """Tone bursts at -75 dBFS with digital silence between: no chunk is skipped, though
    the whole recording is far below the level of speech."""
    loud = bursts([(0.0, 27.0), (28.0, 56.0), (57.0, 80.0)], 80.0)
    faint = (loud.astype(np.float32) * (0.00025 / 0.3)).astype(np.int16)
    assert -80 < longform.levels(faint)[: 27 * 50].mean() < -74
    assert not any(c.silent for c in split(faint, POLICY))
    dither = np.random.default_rng(0).integers(-1, 2, 80 * SAMPLE_RATE).astype(np.int16)
    assert all(c.silent for c in split(dither, POLICY))  # +-1 LSB: nothing to hear


def test_a_quiet_recording_is_not_silence() -> None:
    """Speech at -60 dBFS (tone bursts of amplitude 0.0014): pauses are still found
    relative to the recording's own level, and no chunk is skipped as silent."""
    loud = bursts([(0.0, 27.0), (28.0, 56.0), (57.0, 80.0)], 80.0)
    quiet = (loud.astype(np.float32) * (0.0014 / 0.3)).astype(np.int16)
    level = 20 * np.log10(np.sqrt(np.mean((quiet[: 27 * SAMPLE_RATE] / 32768.0) ** 2)))
    assert -64 < level < -58
    chunks = split(quiet, POLICY)
    assert not any(c.silent for c in chunks)
    assert not chunks[0].hard_cut and 27.0 <= chunks[0].end_s <= 28.0


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
    Segment(0, 0.0, 6.5, "Hello there."),
    Segment(1, 6.5, 61.25, ""),
    Segment(2, 61.25, 3725.5, "Good bye."),
]


def test_srt_parses_with_a_real_parser() -> None:
    body = render("srt", "transcribe", "english", 3725.5, SEGMENTS[:2])["text"]
    subs = list(srt.parse(body))
    assert [s.content for s in subs] == ["Hello there."]  # no empty cue
    assert subs[0].end.total_seconds() == 6.5


def test_vtt_parses_with_a_real_parser() -> None:
    words = " ".join(f"word{i}" for i in range(40))
    body = render("vtt", "transcribe", "english", 20.0, [Segment(0, 3.0, 20.0, words)])["text"]
    captions = list(webvtt.from_buffer(io.StringIO(body)))
    assert " ".join(c.text.replace("\n", " ") for c in captions) == words
    assert captions[0].start == "00:00:03.000" and captions[-1].end == "00:00:20.000"


def test_long_segments_become_subtitle_sized_cues() -> None:
    """A 3664 s segment of 600 words: cues at most MAX_CUE_CHARS characters (or one word)
    and MAX_CUE_SECONDS long where the words allow, in order, never overlapping, covering
    the segment, every word once, in lines of at most LINE_CHARS."""
    words = [f"w{i:03d}" for i in range(600)]
    segment = Segment(0, 61.25, 3725.5, " ".join(words))
    out = cues([segment])
    assert len(out) == 600  # 3664 s / 7 s > 600 words: a cue per word
    assert out[0][0] == 61.25 and out[-1][1] == 3725.5
    for (a0, b0, _), (a1, _, _) in itertools.pairwise(out):
        assert a0 < b0 <= a1 + 1e-9
    assert " ".join(t for _, _, t in out) == segment.text
    text = " ".join(f"word{i}" for i in range(60))  # 469 characters in 20 s
    short = cues([Segment(0, 0.0, 20.0, text)])
    assert all(len(t) <= MAX_CUE_CHARS for _, _, t in short)
    assert all(b - a <= MAX_CUE_SECONDS + 1e-9 for a, b, _ in short)
    assert " ".join(t for _, _, t in short) == text
    body = render("srt", "transcribe", "english", 20.0, [Segment(0, 0.0, 20.0, text)])["text"]
    lines = [ln for sub in srt.parse(body) for ln in sub.content.split("\n")]
    assert all(len(ln) <= LINE_CHARS for ln in lines)


def test_verbose_json_has_openai_fields() -> None:
    from openai.types.audio import TranscriptionVerbose

    body = render("verbose_json", "translate", "english", 3725.5, SEGMENTS, temperature=0.2)
    parsed = TranscriptionVerbose.model_validate(body)  # openai-python's own type
    assert parsed.language == "english" and parsed.duration == 3725.5
    assert parsed.text == "Hello there. Good bye."
    assert parsed.segments is not None and parsed.segments[1].start == 6.5
    assert body["segments"][2]["seek"] == 6125 and body["segments"][2]["temperature"] == 0.2
    assert body["usage"] == {"type": "duration", "seconds": 3726}
    json.dumps(body)


def _chunk(index: int, start: float, end: float, hard_cut: bool) -> Chunk:
    rate = SAMPLE_RATE
    return Chunk(index, int(start * rate), int(end * rate), False, hard_cut)


def test_the_overlap_after_a_hard_cut_is_said_once() -> None:
    chunks = [_chunk(0, 0, 30, True), _chunk(1, 29, 40, False), _chunk(2, 40, 50, False)]
    texts = ["one two three four.", "Four. five six", "six seven"]
    segments = stitch(chunks, texts)
    assert [s.text for s in segments] == ["one two three four.", "five six", "six seven"]
    assert segments[1].start == 30.0  # starts where the previous one ended
    assert segments[2].start == 40.0  # after a cut in a pause nothing is dropped
    for a, b in itertools.pairwise(segments):
        assert a.end <= b.start


@pytest.mark.parametrize(
    ("before", "text", "expected"),
    [
        ("a b c", "c d", "d"),
        ("a b c", "b c d", "d"),
        ("the end, said she", "Said she: more", "more"),
        ("a b c", "d e", "d e"),
        ("", "d e", "d e"),
        ("a b", "a b", ""),
        ("x y", "y? z", "z"),
    ],
)
def test_without_repeat(before: str, text: str, expected: str) -> None:
    assert without_repeat(before, text) == expected


async def test_in_order_keeps_timeline_order_when_chunks_finish_out_of_order() -> None:
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

    results = [(c.index, text) async for c, text in longform.in_order(pcm, chunks, engine, 16)]
    assert finished != sorted(finished)  # they really finished out of order
    assert results == [(i, f"chunk {i}") for i in range(len(chunks))]


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

    results = await longform.run_all(pcm, chunks, engine, concurrency=3)
    assert peak == 3 and results == ["x"] * len(chunks)


async def test_silent_chunks_never_reach_the_engine() -> None:
    pcm = bursts([(1.0, 5.0)], 100.0)
    chunks = split(pcm, POLICY)
    calls = 0

    async def engine(wav: bytes) -> str:
        nonlocal calls
        calls += 1
        return "x"

    results = await longform.run_all(pcm, chunks, engine, concurrency=3)
    assert calls == 1 and results == ["x"] + [None] * (len(chunks) - 1)
