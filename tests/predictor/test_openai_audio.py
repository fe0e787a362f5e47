"""Transcription and translation through the real predictor (tiny model, real vLLM CPU
engine), with the openai SDK and httpx. The model's words are random: assertions are on
structure, status codes and token counts."""

from __future__ import annotations

import json

import httpx
import pytest
from openai import OpenAI

from tests.conftest import Predictor
from tests.predictor.audiofiles import encode, wav
from voxtral_predictor.audio import tone

LIMIT = {"max_completion_tokens": 8}


@pytest.fixture(scope="module")
def client(predictor: Predictor) -> OpenAI:
    return OpenAI(base_url=predictor.openai_base, api_key="unused", max_retries=0)


@pytest.mark.parametrize("language", [None, "fr"])
def test_transcription_json(client: OpenAI, language: str | None) -> None:
    kwargs = {"language": language} if language else {}
    result = client.audio.transcriptions.create(
        model="voxtral", file=("clip.wav", wav()), extra_body=LIMIT, **kwargs
    )
    assert isinstance(result.text, str) and result.text
    assert result.usage is not None and result.usage.seconds == 2  # type: ignore[union-attr]


def test_transcription_text_is_plain_text(predictor: Predictor) -> None:
    r = httpx.post(
        f"{predictor.openai_base}/audio/transcriptions",
        files={"file": ("clip.wav", wav())},
        data={"model": "voxtral", "response_format": "text", **LIMIT},
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text and not r.text.startswith("{")


def test_text_format_through_sdk(client: OpenAI) -> None:
    text = client.audio.transcriptions.create(
        model="voxtral", file=("clip.wav", wav()), response_format="text", extra_body=LIMIT
    )
    assert isinstance(text, str) and text


def test_translation(client: OpenAI) -> None:
    result = client.audio.translations.create(
        model="voxtral", file=("clip.wav", wav()), extra_body=LIMIT
    )
    assert isinstance(result.text, str) and result.text


def test_kserve_prefix_serves_the_same_routes(predictor: Predictor) -> None:
    r = httpx.post(
        f"{predictor.http}/openai/v1/audio/transcriptions",
        files={"file": ("clip.wav", wav())},
        data={"model": "voxtral", **LIMIT},
    )
    assert r.status_code == 200 and r.json()["text"]


def sse_events(response: httpx.Response) -> list[str]:
    return [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]


def test_streaming_transcription(predictor: Predictor, client: OpenAI) -> None:
    """OpenAI's transcription stream (transcript.text.delta, then transcript.text.done with
    the token usage), which openai-python's stream loop reads."""
    stream = client.audio.transcriptions.create(
        model="voxtral",
        file=("clip.wav", wav()),
        stream=True,
        extra_body={"stream_include_usage": True, **LIMIT},
    )
    events = list(stream)
    assert [e.type for e in events[:-1]] == ["transcript.text.delta"] * (len(events) - 1)
    done = events[-1]
    assert done.type == "transcript.text.done"
    assert done.text == "".join(e.delta for e in events[:-1]) and done.text  # type: ignore[union-attr]
    assert done.usage is not None and done.usage.output_tokens == LIMIT["max_completion_tokens"]  # type: ignore[union-attr]
    assert done.usage.input_tokens > 0  # type: ignore[union-attr]
    # on the wire: server-sent events, ended by [DONE] for generic SSE clients
    with httpx.stream(
        "POST",
        f"{predictor.openai_base}/audio/transcriptions",
        files={"file": ("clip.wav", wav())},
        data={"model": "voxtral", "stream": "true", **LIMIT},
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = sse_events(r)
    assert raw[-1] == "[DONE]"
    assert "usage" not in json.loads(raw[-2])  # only when stream_include_usage asks


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg", "webm", "m4a"])
def test_every_container_is_accepted(predictor: Predictor, fmt: str) -> None:
    audio = encode(tone(2.0, rate=44_100), fmt, rate=44_100, channels=2)
    r = httpx.post(
        f"{predictor.openai_base}/audio/transcriptions",
        files={"file": (f"clip.{fmt}", audio)},
        data={"model": "voxtral", **LIMIT},
    )
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["seconds"] in (2, 3)  # m4a (AAC) adds priming samples


def test_models_serves_openai_and_kserve_clients(predictor: Predictor, client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["voxtral"]
    body = httpx.get(f"{predictor.http}/v1/models").json()
    assert body["models"] == ["voxtral"]  # KServe v1's shape
    assert body["data"][0]["id"] == "voxtral"
