"""Every bad input a client can send gets a precise status code and an OpenAI-shaped
error saying what was wrong and what to do; the server survives all of them."""

from __future__ import annotations

import base64

import httpx

from tests.conftest import Predictor
from tests.predictor.audiofiles import encode, wav
from voxtral_predictor.audio import tone


def transcribe(predictor: Predictor, files: dict | None = None, **data: str) -> httpx.Response:
    return httpx.post(
        f"{predictor.openai_base}/audio/transcriptions",
        files=files if files is not None else {"file": ("clip.wav", wav())},
        data={"model": "voxtral", "max_completion_tokens": "4", **data},
        timeout=60,
    )


def error(r: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    assert body["code"] == code
    assert "Traceback" not in body["message"]
    return body


def test_missing_file_field_is_named(predictor: Predictor) -> None:
    body = error(transcribe(predictor, files={"audio": ("clip.wav", wav())}), 400, "missing_file")
    assert "'file'" in body["message"] and body["param"] == "file"


def test_bytes_that_are_not_audio(predictor: Predictor) -> None:
    body = error(
        transcribe(predictor, files={"file": ("clip.wav", b"RIFF not really a wav" * 50)}),
        400,
        "invalid_audio",
    )
    assert "wav, flac, mp3" in body["message"]


def test_empty_file(predictor: Predictor) -> None:
    error(transcribe(predictor, files={"file": ("clip.wav", b"")}), 400, "empty_audio")


def test_zero_length_audio(predictor: Predictor) -> None:
    body = error(
        transcribe(predictor, files={"file": ("clip.wav", encode(tone(0.0), "wav"))}),
        400,
        "empty_audio",
    )
    assert "zero length" in body["message"]


def test_unknown_response_format_lists_allowed(predictor: Predictor) -> None:
    body = error(transcribe(predictor, response_format="yaml"), 400, "invalid_response_format")
    assert "json, text, verbose_json, srt, vtt" in body["message"]
    assert body["param"] == "response_format"


def test_unknown_language_lists_allowed(predictor: Predictor) -> None:
    body = error(transcribe(predictor, language="tlh"), 400, "unsupported_language")
    assert "en, es, fr" in body["message"] and body["param"] == "language"


def test_unknown_model_is_404(predictor: Predictor) -> None:
    body = error(transcribe(predictor, model="whisper-1"), 404, "model_not_found")
    assert "'voxtral'" in body["message"]


def test_chat_unknown_model_is_404(predictor: Predictor) -> None:
    r = httpx.post(
        f"{predictor.openai_base}/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
    )
    error(r, 404, "model_not_found")


def test_system_prompt_rejected(predictor: Predictor) -> None:
    r = httpx.post(
        f"{predictor.openai_base}/chat/completions",
        json={
            "model": "voxtral",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
            ],
        },
    )
    body = error(r, 400, "system_prompt_unsupported")
    assert "system prompts" in body["message"] and body["param"] == "messages[0]"


def test_chat_audio_that_is_not_audio(predictor: Predictor) -> None:
    part = {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(b"garbage" * 100).decode(), "format": "wav"},
    }
    r = httpx.post(
        f"{predictor.openai_base}/chat/completions",
        json={"model": "voxtral", "messages": [{"role": "user", "content": [part]}]},
    )
    body = error(r, 400, "invalid_audio")
    assert body["param"] == "messages[0].content[0].input_audio"


def test_chat_audio_not_base64(predictor: Predictor) -> None:
    part = {"type": "input_audio", "input_audio": {"data": "%%%not base64%%%", "format": "wav"}}
    r = httpx.post(
        f"{predictor.openai_base}/chat/completions",
        json={"model": "voxtral", "messages": [{"role": "user", "content": [part]}]},
    )
    assert "base64" in error(r, 400, "invalid_audio")["message"]


def test_chat_body_not_json(predictor: Predictor) -> None:
    r = httpx.post(
        f"{predictor.openai_base}/chat/completions",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    error(r, 400, "invalid_json")


def test_chat_too_many_audios(predictor: Predictor) -> None:
    part = {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(wav(0.5)).decode(), "format": "wav"},
    }
    r = httpx.post(
        f"{predictor.openai_base}/chat/completions",
        json={"model": "voxtral", "messages": [{"role": "user", "content": [part] * 6}]},
    )
    assert "at most 5" in error(r, 400, "too_many_audios")["message"]


def test_server_survived(predictor: Predictor) -> None:
    assert predictor.proc.poll() is None
    assert httpx.get(f"{predictor.http}/v2/health/ready").status_code == 200
