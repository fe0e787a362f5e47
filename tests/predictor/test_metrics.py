"""/metrics after real requests: our voxtral_* counters moved by exactly what was sent,
and vLLM's engine metrics are there, labelled with the served model name."""

from __future__ import annotations

import base64

import httpx

from tests.conftest import Predictor
from tests.predictor.audiofiles import encode, wav
from tests.predictor.helpers import scrape, value
from voxtral_predictor.audio import tone


def test_counters_move_by_exactly_what_was_sent(predictor: Predictor) -> None:
    before = scrape(predictor)
    for seconds in (2.0, 3.0):
        r = httpx.post(
            f"{predictor.openai_base}/audio/transcriptions",
            files={"file": ("a.wav", wav(seconds))},
            data={"model": "voxtral", "max_completion_tokens": "4"},
        )
        assert r.status_code == 200
    r = httpx.post(
        f"{predictor.openai_base}/audio/translations",
        files={"file": ("a.mp3", encode(tone(4.0), "mp3"))},
        data={"model": "voxtral", "max_completion_tokens": "4"},
    )
    assert r.status_code == 200
    r = httpx.post(
        f"{predictor.openai_base}/audio/transcriptions",
        files={"file": ("a.wav", b"garbage")},
        data={"model": "voxtral"},
    )
    assert r.status_code == 400
    body = {
        "instances": [
            {"audio": {"b64": base64.b64encode(wav(1.0)).decode()}, "max_completion_tokens": 4}
        ]
        * 2
    }
    assert httpx.post(f"{predictor.http}/v1/models/voxtral:predict", json=body).status_code == 200
    after = scrape(predictor)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("voxtral_audio_seconds_total", task="transcribe") == 2.0 + 3.0 + 1.0 + 1.0
    assert abs(delta("voxtral_audio_seconds_total", task="translate") - 4.0) < 0.1  # mp3 frames
    assert delta("voxtral_requests_total", endpoint="openai_transcriptions", code="200") == 2
    assert delta("voxtral_requests_total", endpoint="openai_transcriptions", code="400") == 1
    assert delta("voxtral_requests_total", endpoint="openai_translations", code="200") == 1
    assert delta("voxtral_requests_total", endpoint="v1_predict", code="200") == 1
    assert (
        delta(
            "voxtral_request_duration_seconds_count",
            endpoint="openai_transcriptions",
            task="transcribe",
        )
        == 2
    )
    assert (
        delta("voxtral_request_duration_seconds_count", endpoint="v1_predict", task="transcribe")
        == 1
    )
    assert delta("voxtral_real_time_factor_count", task="transcribe") == 4
    assert delta("voxtral_real_time_factor_count", task="translate") == 1
    assert delta("voxtral_input_audio_seconds_count") == 5  # the garbage never decoded
    assert delta("voxtral_audio_decode_seconds_count") == 5
    assert value(after, "voxtral_requests_in_flight") == 0


def test_vllm_engine_metrics_carry_the_model_name(predictor: Predictor) -> None:
    samples = scrape(predictor)
    names = {name for name, labels in samples if ("model_name", "voxtral") in labels}
    for metric in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:time_to_first_token_seconds_count",
        "vllm:e2e_request_latency_seconds_count",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
    ):
        assert metric in names, metric
