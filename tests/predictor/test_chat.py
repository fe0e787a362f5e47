"""Chat completions with audio through the real predictor (tiny model, real vLLM)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from openai import OpenAI

from tests.conftest import Predictor
from tests.predictor.audiofiles import encode, wav
from voxtral_predictor.audio import tone
from voxtral_predictor.chat import DEFAULT_TEMPERATURE, DEFAULT_TOP_P, with_defaults


@pytest.fixture(scope="module")
def client(predictor: Predictor) -> OpenAI:
    return OpenAI(base_url=predictor.openai_base, api_key="unused", max_retries=0)


def audio_part(data: bytes, fmt: str = "wav") -> dict[str, object]:
    return {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(data).decode(), "format": fmt},
    }


def test_one_audio(client: OpenAI) -> None:
    r = client.chat.completions.create(
        model="voxtral",
        max_tokens=6,
        messages=[
            {
                "role": "user",
                "content": [audio_part(wav()), {"type": "text", "text": "What is this?"}],
            }
        ],  # type: ignore[list-item]
    )
    assert r.choices[0].message.content
    assert r.usage is not None and r.usage.completion_tokens == 6
    # 2 s of audio is padded to Voxtral's 30 s window: 375 audio tokens
    assert r.usage.prompt_tokens > 375


def test_two_audios_cost_two_windows(client: OpenAI) -> None:
    one = client.chat.completions.create(
        model="voxtral",
        max_tokens=2,
        messages=[
            {"role": "user", "content": [audio_part(wav()), {"type": "text", "text": "Compare."}]}
        ],  # type: ignore[list-item]
    )
    two = client.chat.completions.create(
        model="voxtral", max_tokens=2,
        messages=[{"role": "user", "content": [
            audio_part(wav()), audio_part(encode(tone(3.0, 220.0), "mp3"), "mp3"),
            {"type": "text", "text": "Compare."},
        ]}],  # type: ignore[list-item]
    )  # fmt: skip
    assert one.usage and two.usage
    assert two.usage.prompt_tokens - one.usage.prompt_tokens >= 375


def test_multi_turn_with_audio(client: OpenAI) -> None:
    r = client.chat.completions.create(
        model="voxtral", max_tokens=4,
        messages=[
            {"role": "user", "content": [audio_part(wav()), {"type": "text", "text": "Summarize."}]},  # type: ignore[list-item]
            {"role": "assistant", "content": "A tone."},
            {"role": "user", "content": "How long was it?"},
        ],
    )  # fmt: skip
    assert r.choices[0].message.content is not None


def test_tools_request(client: OpenAI) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "set_timer",
            "description": "Set a timer",
            "parameters": {
                "type": "object",
                "properties": {"minutes": {"type": "integer"}},
                "required": ["minutes"],
            },
        },
    }
    r = client.chat.completions.create(
        model="voxtral", max_tokens=8, tools=[tool], tool_choice="auto",  # type: ignore[list-item]
        messages=[{"role": "user", "content": [audio_part(wav()), {"type": "text", "text": "Do what I say."}]}],  # type: ignore[list-item]
    )  # fmt: skip
    assert r.choices[0].finish_reason in ("length", "stop", "tool_calls")
    # the tool definitions were rendered into the prompt
    bare = client.chat.completions.create(
        model="voxtral", max_tokens=1,
        messages=[{"role": "user", "content": [audio_part(wav()), {"type": "text", "text": "Do what I say."}]}],  # type: ignore[list-item]
    )  # fmt: skip
    assert r.usage and bare.usage and r.usage.prompt_tokens > bare.usage.prompt_tokens


def test_streaming_chat(predictor: Predictor) -> None:
    body = {
        "model": "voxtral", "max_tokens": 5, "stream": True,
        "messages": [{"role": "user", "content": [audio_part(wav()), {"type": "text", "text": "Hi"}]}],
    }  # fmt: skip
    with httpx.stream("POST", f"{predictor.openai_base}/chat/completions", json=body) as r:
        assert r.status_code == 200
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_model_card_defaults_apply_only_when_omitted() -> None:
    body = with_defaults({"messages": []}, "voxtral")
    assert (body["temperature"], body["top_p"], body["model"]) == (
        DEFAULT_TEMPERATURE,
        DEFAULT_TOP_P,
        "voxtral",
    )
    assert (DEFAULT_TEMPERATURE, DEFAULT_TOP_P) == (0.2, 0.95)
    mine = with_defaults({"temperature": 0.0, "top_p": 0.5, "model": "voxtral"}, "voxtral")
    assert (mine["temperature"], mine["top_p"]) == (0.0, 0.5)
