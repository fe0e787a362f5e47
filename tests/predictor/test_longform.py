"""Long-form audio through the real predictor (tiny model, real vLLM engine): chunked at
pauses, timestamps, subtitles, streaming, hours-long files, limits, cancellation."""

from __future__ import annotations

import base64
import io
import itertools
import json

import httpx
import numpy as np
import pytest
import srt
import webvtt

from tests.conftest import Predictor
from tests.predictor.audiofiles import encode
from tests.predictor.helpers import busy, scrape, value, wait_for
from tests.predictor.helpers import transcribe as post_audio
from tests.predictor.recordings import bursts, speech_like
from voxtral_predictor.subtitles import MAX_CUE_SECONDS

TOKENS = "3"


def flac(pcm: np.ndarray) -> bytes:
    return encode(pcm, "flac")


@pytest.fixture(scope="module")
def recording() -> tuple[bytes, list[tuple[float, float]]]:
    pcm, gaps = speech_like(180.0, seed=3)  # 3 minutes
    return flac(pcm), gaps


def transcribe(
    server: Predictor, audio: bytes, timeout: float = 300, **data: str
) -> httpx.Response:
    fields = {"max_completion_tokens": TOKENS, **data}
    return post_audio(server, audio, "long.flac", timeout, **fields)


def test_verbose_json_segments_cut_in_silences(predictor: Predictor, recording) -> None:  # type: ignore[no-untyped-def]
    audio, gaps = recording
    r = transcribe(predictor, audio, response_format="verbose_json", language="en")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["duration"] == pytest.approx(180.0, abs=0.05) and body["language"] == "english"
    segments = body["segments"]
    assert len(segments) >= 6 and [s["id"] for s in segments] == list(range(len(segments)))
    assert segments[0]["start"] == 0.0 and segments[-1]["end"] == pytest.approx(180.0, abs=0.05)
    for a, b in itertools.pairwise(segments):
        assert b["start"] == a["end"]  # no gap, no overlap (a pause was always found)
        assert any(g0 - 0.02 <= a["end"] <= g1 + 0.02 for g0, g1 in gaps), a
        assert a["end"] - a["start"] <= 30.0
    assert all(s["text"] for s in segments)
    assert body["text"] == " ".join(s["text"] for s in segments)


def test_srt_and_vtt(predictor: Predictor, recording) -> None:  # type: ignore[no-untyped-def]
    audio, _ = recording
    r = transcribe(predictor, audio, response_format="srt")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    subs = list(srt.parse(r.text))
    assert len(subs) >= 6 and subs[0].start.total_seconds() == 0.0
    assert all(a.end == b.start for a, b in itertools.pairwise(subs))
    r = transcribe(predictor, audio, response_format="vtt")
    assert r.status_code == 200 and r.text.startswith("WEBVTT")
    captions = list(webvtt.from_buffer(io.StringIO(r.text)))
    assert len(captions) == len(subs) and captions[-1].end.startswith("00:03:00")


def test_streaming_emits_segments_in_order(predictor: Predictor, recording) -> None:  # type: ignore[no-untyped-def]
    audio, _ = recording
    with httpx.stream(
        "POST",
        f"{predictor.openai_base}/audio/transcriptions",
        files={"file": ("long.flac", audio)},
        data={
            "model": "voxtral",
            "max_completion_tokens": TOKENS,
            "stream": "true",
            "stream_include_usage": "true",
        },  # stream options apply to the whole, not chunks
        timeout=300,
    ) as r:
        assert r.status_code == 200
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    *deltas, done = [json.loads(e) for e in events[:-1]]
    assert {d["type"] for d in deltas} == {"transcript.text.delta"}
    segments = [d["segment"] for d in deltas]
    assert [s["id"] for s in segments] == list(range(len(segments))) and len(segments) >= 6
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(segments))
    assert done["type"] == "transcript.text.done"
    assert done["text"] == "".join(d["delta"] for d in deltas)
    assert done["text"].split() == " ".join(s["text"] for s in segments).split()
    usage = done["usage"]  # every chunk's tokens, summed
    assert (
        usage["output_tokens"] >= len(segments) and usage["input_tokens"] > usage["output_tokens"]
    )
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_chunking_modes(predictor: Predictor) -> None:
    short = flac(bursts([(0.5, 8.0)], 10.0))
    native = transcribe(predictor, short, response_format="verbose_json", chunking="never").json()
    assert [(s["start"], s["end"]) for s in native["segments"]] == [(0.0, 10.0)]
    chunked = transcribe(predictor, short, chunking="always").json()
    assert chunked["text"] and chunked["usage"]["seconds"] == 10
    r = transcribe(predictor, short, chunking="sometimes")
    assert r.status_code == 400 and "auto, always, never" in r.json()["error"]["message"]
    # a bad engine field is a 400 before any chunk runs, streamed or not, silent or not
    silent = flac(bursts([], 40.0))
    for audio, stream in ((short, "true"), (silent, "false")):
        r = transcribe(predictor, audio, chunking="always", stream=stream, temperature="hot")
        assert r.status_code == 400, r.text
        assert r.json()["error"]["param"] == "temperature"


def test_two_hour_recording_is_answered(predictor: Predictor) -> None:
    spans = [(600.0 * k + 5.0, 600.0 * k + 25.0) for k in range(12)]  # a burst every 10 min
    audio = flac(bursts(spans, 7200.0))
    r = transcribe(predictor, audio, response_format="verbose_json", timeout=600)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["duration"] == 7200.0
    spoken = [s for s in body["segments"] if s["text"]]
    # silent chunks need no engine work and stay empty; every burst was heard
    assert len(body["segments"]) > 200 and 12 <= len(spoken) <= 24
    assert all(any(s["start"] < b and a < s["end"] for a, b in spans) for s in spoken)
    assert all(any(s["start"] <= a < s["end"] for s in spoken) for a, _ in spans)
    assert body["segments"][-1]["end"] == 7200.0


def test_long_recordings_over_the_limit_say_so(limited: Predictor) -> None:
    audio = flac(bursts([(0.0, 29.0)], 30.0))
    r = httpx.post(
        f"{limited.openai_base}/audio/transcriptions",
        files={"file": ("a.flac", audio)},
        data={"model": "voxtral"},
    )
    assert r.status_code == 400
    assert "30.0 s" in r.json()["error"]["message"] and "20 s" in r.json()["error"]["message"]
    r = httpx.post(
        f"{limited.openai_base}/audio/transcriptions",
        files={"file": ("a.flac", audio)},
        data={"model": "voxtral", "chunking": "never"},
    )
    assert r.status_code == 400 and "5 s" in r.json()["error"]["message"]


def test_v1_and_v2_return_segments(predictor: Predictor, recording) -> None:  # type: ignore[no-untyped-def]
    audio, _ = recording
    b64 = base64.b64encode(audio).decode()
    r = httpx.post(
        f"{predictor.http}/v1/models/voxtral:predict",
        timeout=300,
        json={
            "instances": [
                {
                    "audio": {"b64": b64},
                    "response_format": "verbose_json",
                    "max_completion_tokens": 3,
                }
            ]
        },
    )
    assert r.status_code == 200, r.text
    prediction = r.json()["predictions"][0]
    assert len(prediction["segments"]) >= 6 and prediction["audio_seconds"] == pytest.approx(
        180.0, abs=0.05
    )
    r = httpx.post(
        f"{predictor.http}/v2/models/voxtral/infer",
        timeout=300,
        json={
            "inputs": [{"name": "audio", "datatype": "BYTES", "shape": [1], "data": [b64]}],
            "parameters": {"response_format": "verbose_json", "max_completion_tokens": 3},
        },
    )
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o["data"] for o in r.json()["outputs"]}
    assert len(json.loads(outputs["segments"][0])) >= 6 and outputs["text"][0]


@pytest.mark.parametrize("stream", [False, True])
def test_cancelled_client_aborts_every_chunk(predictor: Predictor, stream: bool) -> None:
    """5 minutes, ~12 chunks, all in the engine at once; the client leaves (streamed: as
    soon as the stream has started): every chunk's engine request is aborted, and the
    slot and the decoded audio are given back."""
    pcm, _ = speech_like(300.0, seed=5)
    running = ("vllm:num_requests_running", {"engine": "0", "model_name": "voxtral"})
    tokens = ("vllm:generation_tokens_total", {"engine": "0", "model_name": "voxtral"})
    before = value(scrape(predictor), tokens[0], **tokens[1])
    if stream:
        with httpx.stream(
            "POST",
            f"{predictor.openai_base}/audio/transcriptions",
            files={"file": ("long.flac", flac(pcm))},
            data={"model": "voxtral", "max_completion_tokens": "3000", "stream": "true"},
            timeout=60,
        ) as r:
            assert r.status_code == 200
            wait_for(lambda: value(scrape(predictor), running[0], **running[1]) > 1)
    else:
        with pytest.raises(httpx.ReadTimeout):
            transcribe(predictor, flac(pcm), timeout=2.0, max_completion_tokens="3000")
    wait_for(lambda: busy(predictor, 0, 0), timeout=15)
    wait_for(lambda: value(scrape(predictor), running[0], **running[1]) == 0, timeout=15)
    assert value(scrape(predictor), "voxtral_decoded_audio_seconds_held") == 0
    generated = value(scrape(predictor), tokens[0], **tokens[1]) - before
    assert generated < 12 * 3000 / 4  # far from what the chunks would have generated


def test_subtitles_of_an_unbroken_tone_do_not_overlap(predictor: Predictor) -> None:
    """40 s without a pause: a hard cut at 30 s, and the next chunk starts 1 s early. Its
    segment starts where the first ended (what it repeats of the overlap is dropped), and
    cues never overlap, nor last longer than subtitles do."""
    audio = flac(bursts([(0.0, 40.0)], 40.0))
    r = transcribe(predictor, audio, response_format="verbose_json")
    assert r.status_code == 200, r.text
    segments = r.json()["segments"]
    assert [(s["start"], s["end"]) for s in segments] == [(0.0, 30.0), (30.0, 40.0)]
    r = transcribe(predictor, audio, response_format="srt", max_completion_tokens="40")
    assert r.status_code == 200, r.text
    subs = list(srt.parse(r.text))
    assert subs and subs[-1].end.total_seconds() <= 40.0
    for a, b in itertools.pairwise(subs):
        assert a.end <= b.start, (a, b)
    assert all(
        (s.end - s.start).total_seconds() <= MAX_CUE_SECONDS + 1e-3 or " " not in s.content
        for s in subs
    )


def engine_requests(server: Predictor) -> float:
    """Requests vLLM has finished, whatever their reason."""
    samples = scrape(server).items()
    return sum(v for (name, _), v in samples if name == "vllm:request_success_total")


def test_a_quiet_recording_is_transcribed(predictor: Predictor) -> None:
    """Speech at -60 dBFS, 70 s, cut in its pauses: every chunk reaches the engine (none is
    taken for silence). What the random model says of it is no measure: it may be empty."""
    pcm = bursts([(0.0, 24.0), (25.0, 50.0), (51.0, 70.0)], 70.0)
    quiet = (pcm.astype(np.float32) * (0.0014 / 0.3)).astype(np.int16)
    before = engine_requests(predictor)
    r = transcribe(predictor, flac(quiet), response_format="verbose_json")
    assert r.status_code == 200, r.text
    segments = r.json()["segments"]
    assert engine_requests(predictor) - before == 3
    assert [(s["start"], s["end"]) for s in segments] == [(0.0, 24.5), (24.5, 50.5), (50.5, 70.0)]
