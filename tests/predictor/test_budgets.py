"""Decompression bombs and memory amplification against the real predictor: a small file
of hours of audio, many inputs in one request, uploads abandoned mid-decode. Requests are
admitted by a budget of decoded audio as well as by count."""

from __future__ import annotations

import base64
import io
import threading
import time

import httpx
import numpy as np
import psutil
import pytest
import soundfile

from tests.conftest import Predictor
from tests.predictor.audiofiles import encode, wav
from tests.predictor.helpers import busy, scrape, value, wait_for
from tests.predictor.helpers import transcribe as post_audio
from tests.predictor.recordings import speech_like

HELD = "voxtral_decoded_audio_seconds_held"
DECODES = "voxtral_audio_decode_seconds_count"


@pytest.fixture(scope="module")
def four_hours_of_silence() -> bytes:
    """362 KB of FLAC that decodes to 4 hours (460 MB as 16 kHz int16 PCM)."""
    buf = io.BytesIO()
    soundfile.write(buf, np.zeros(4 * 3600 * 8000, np.int16), 8000, format="FLAC")
    return buf.getvalue()


def transcribe(server: Predictor, audio: bytes, **data: str) -> httpx.Response:
    return post_audio(server, audio, "a.flac", **{"max_completion_tokens": "2", **data})


def test_audio_longer_than_the_whole_budget_is_413(
    budgeted: Predictor, four_hours_of_silence: bytes
) -> None:
    r = transcribe(budgeted, four_hours_of_silence)
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "audio_too_long" and error["param"] == "file"
    assert "--max-decoded-audio-seconds" in error["message"] and "300 s" in error["message"]
    wait_for(lambda: value(scrape(budgeted), HELD) == 0)


def test_budget_in_use_is_429_then_served(budgeted: Predictor) -> None:
    """One request holds 200 s of the 300 s budget while its chunks run; a request of 150 s
    more is refused (429, retry) as it decodes, and served once the first is done."""
    pcm, _ = speech_like(200.0, seed=11)
    audio = encode(pcm.astype(np.float32) / 32768, "flac")
    first_out: list[httpx.Response] = []
    first = threading.Thread(
        target=lambda: first_out.append(transcribe(budgeted, audio, max_completion_tokens="1500"))
    )
    first.start()
    wait_for(lambda: value(scrape(budgeted), HELD) == pytest.approx(200.0, abs=0.1))
    silence = encode(np.zeros(150 * 16000, np.float32), "flac")
    before = value(scrape(budgeted), "voxtral_requests_rejected_total", reason="audio_budget")
    r = transcribe(budgeted, silence)
    assert first.is_alive()  # the refusal did not wait for the first request
    assert r.status_code == 429, r.text
    assert r.headers["retry-after"] == "1" and r.json()["error"]["code"] == "overloaded"
    assert "--max-decoded-audio-seconds 300" in r.json()["error"]["message"]
    after = value(scrape(budgeted), "voxtral_requests_rejected_total", reason="audio_budget")
    assert after - before == 1
    first.join()
    assert first_out[0].status_code == 200, first_out[0].text
    assert transcribe(budgeted, silence).status_code == 200
    wait_for(lambda: value(scrape(budgeted), HELD) == 0)


def test_inputs_per_request_are_capped(budgeted: Predictor) -> None:
    b64 = base64.b64encode(wav(1.0)).decode()
    r = httpx.post(
        f"{budgeted.http}/v1/models/voxtral:predict",
        json={"instances": [{"audio": {"b64": b64}}] * 3},
    )
    assert r.status_code == 400, r.text
    assert "3 instances" in r.json()["error"] and "at most 2 (--max-inputs)" in r.json()["error"]
    r = httpx.post(
        f"{budgeted.http}/v2/models/voxtral/infer",
        json={"inputs": [{"name": "audio", "datatype": "BYTES", "shape": [3], "data": [b64] * 3}]},
    )
    assert r.status_code == 400, r.text
    assert "3 audio elements" in r.json()["error"] and "(--max-inputs)" in r.json()["error"]
    r = httpx.post(
        f"{budgeted.http}/v1/models/voxtral:predict",
        json={"instances": [{"audio": {"b64": b64}, "max_completion_tokens": 2}] * 2},
    )
    assert r.status_code == 200, r.text


def test_a_request_of_several_inputs_over_the_budget_is_413(budgeted: Predictor) -> None:
    """Two inputs of 200 s each: neither passes the 300 s budget, together they do. No
    retry could help, so it is a 413 (not 429) on an idle server."""
    b64 = base64.b64encode(encode(np.zeros(200 * 16000, np.float32), "flac")).decode()
    r = httpx.post(
        f"{budgeted.http}/v1/models/voxtral:predict",
        json={"instances": [{"audio": {"b64": b64}}] * 2},
        timeout=60,
    )
    assert r.status_code == 413, r.text
    assert "the request's audio is longer" in r.json()["error"]
    wait_for(lambda: value(scrape(budgeted), HELD) == 0)


def _cpu_seconds(server: Predictor) -> float:
    times = psutil.Process(server.proc.pid).cpu_times()
    return float(times.user + times.system)


def test_an_abandoned_upload_stops_decoding(
    predictor: Predictor, four_hours_of_silence: bytes
) -> None:
    """The client leaves 0.3 s into the 4 hours' decoding (3-4 s of work here): the decode
    stops at its next block, and only then are the slot and the budget let go. Once the
    slot is free the process is idle: no decoding goes on that nothing counts."""
    decodes = value(scrape(predictor), DECODES)
    with pytest.raises(httpx.ReadTimeout):
        post_audio(predictor, four_hours_of_silence, "a.flac", timeout=0.3)
    wait_for(lambda: busy(predictor, 0, 0), timeout=10)
    before = _cpu_seconds(predictor)
    time.sleep(1.0)
    assert _cpu_seconds(predictor) - before < 0.5  # a decode left running takes ~1 s of CPU
    samples = scrape(predictor)
    assert value(samples, HELD) == 0
    assert value(samples, DECODES) == decodes  # no decode ran to its end
    assert value(samples, "voxtral_request_body_bytes_buffered") == 0
