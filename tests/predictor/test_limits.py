"""Size and duration limits: a second predictor with small limits, so the test needs no
large files. The limits are the same code paths as the 30/40-minute defaults."""

from __future__ import annotations

import base64

import httpx

from tests.conftest import Predictor
from tests.predictor.audiofiles import encode, wav
from voxtral_predictor.audio import tone


def post(server: Predictor, audio: bytes, name: str = "clip.wav") -> httpx.Response:
    return httpx.post(
        f"{server.openai_base}/audio/transcriptions",
        files={"file": (name, audio)},
        data={"model": "voxtral", "max_completion_tokens": "4"},
    )


def test_upload_over_size_limit_is_413(limited: Predictor) -> None:
    r = post(limited, wav(20.0))  # 640 kB of WAV > 0.5 MiB
    assert r.status_code == 413, r.text
    body = r.json()["error"]
    assert body["code"] == "file_too_large" and "limit of 0.5 MiB" in body["message"]


def test_audio_over_duration_limit_names_both(limited: Predictor) -> None:
    r = post(limited, encode(tone(8.0), "mp3"), "clip.mp3")  # small file, long audio
    assert r.status_code == 400, r.text
    body = r.json()["error"]
    assert body["code"] == "audio_too_long"
    assert "8.0 s" in body["message"] and "5 s" in body["message"]


def test_audio_under_the_limit_passes(limited: Predictor) -> None:
    assert post(limited, wav(4.0)).status_code == 200


def test_chat_audio_total_over_limit(limited: Predictor) -> None:
    part = {
        "type": "input_audio",
        "input_audio": {
            "data": base64.b64encode(encode(tone(4.0), "mp3")).decode(),
            "format": "mp3",
        },
    }
    r = httpx.post(
        f"{limited.openai_base}/chat/completions",
        json={
            "model": "voxtral",
            "max_tokens": 2,
            "messages": [{"role": "user", "content": [part, part]}],
        },
    )
    assert r.status_code == 400, r.text
    body = r.json()["error"]
    assert body["code"] == "audio_too_long" and "6 s" in body["message"]
