"""The gateway's API keys: 401 without a valid key (HTTP and gRPC), probes open, and each
key's seconds of audio a minute (429 / RESOURCE_EXHAUSTED with the seconds to wait)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc
from voxtral_gateway.keys import KeyRing, parse

from tests.conftest import Predictor
from tests.gateway.conftest import start_gateway, stop_gateway, upstream
from tests.predictor.audiofiles import wav
from tests.predictor.calls import FAST, grpc_request

KEYS = {
    "free": {"key": "sk-free-0123456789"},
    "metered": {"key": "sk-metered-0123456789", "audioSecondsPerMinute": 12},
}


def test_a_keys_bucket_refills_with_time() -> None:
    now = [0.0]
    ring = KeyRing(parse(json.dumps(KEYS), "keys.json"), clock=lambda: now[0])
    metered = ring.identify("Bearer sk-metered-0123456789")
    assert metered is not None and metered.name == "metered"
    assert ring.identify("Bearer sk-wrong") is None and ring.identify(None) is None
    assert ring.identify("Basic sk-metered-0123456789") is None
    assert ring.charge(metered, 10) is None  # 12 -> 2
    assert ring.charge(metered, 10) is None  # 2 -> -8: a long one may go below zero
    assert ring.charge(metered, 1) == 41  # 8 s of audio at 0.2 s a second, then above zero
    now[0] = 40.0
    assert ring.charge(metered, 1) == 1  # -8 + 8 = 0: not yet
    now[0] = 45.0
    assert ring.charge(metered, 1) is None
    free = ring.identify("bearer sk-free-0123456789")
    assert free is not None and all(ring.charge(free, 3600) is None for _ in range(5))


@pytest.mark.parametrize(
    ("document", "said"),
    [
        ("nope", "not JSON"),
        ("{}", 'expected {"NAME": {"key": "...", "audioSecondsPerMinute": N}}'),
        ('{"a": {"key": "short"}}', "'a' needs a `key` of at least 8 characters"),
        ('{"a": {"key": "long-enough", "audioSecondsPerMinute": 0}}', "must be a positive"),
    ],
)
def test_a_bad_keys_file_stops_the_start_with_what_is_wrong(
    tmp_path: Path, document: str, said: str
) -> None:
    path = tmp_path / "keys.json"
    path.write_text(document)
    done = subprocess.run(
        [sys.executable, "-m", "voxtral_gateway", "--upstream", "voxtral=http://a:1",
         "--api-keys-file", str(path)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2 and said in done.stderr, done.stderr


def post(gateway: Predictor, key: str | None, seconds: float = 1.0) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(
        f"{gateway.openai_base}/audio/transcriptions",
        files={"file": ("a.wav", wav(seconds))},
        data={"model": "voxtral", "max_completion_tokens": FAST},
        headers=headers,
        timeout=30,
    )


def test_keys_and_their_limits_through_the_gateway(predictor: Predictor, tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(KEYS))
    gateway = start_gateway(tmp_path, upstream(predictor), extra=("--api-keys-file", str(path)))
    try:
        for key in (None, "sk-wrong-0123456789"):
            r = post(gateway, key)
            assert r.status_code == 401
            assert r.json()["error"]["message"] == (
                "a valid API key is required: send it as `Authorization: Bearer <key>`"
            )
        assert httpx.get(f"{gateway.http}/v1/models").status_code == 401
        for open_path in ("/healthz", "/v2/health/ready", "/metrics"):
            assert httpx.get(f"{gateway.http}{open_path}").status_code == 200, open_path
        assert [post(gateway, "sk-free-0123456789", 5.0).status_code for _ in range(4)] == [200] * 4
        # 12 s a minute: 5 + 5 + 5 pass (the last below zero), the next waits
        metered = [post(gateway, "sk-metered-0123456789", 5.0) for _ in range(4)]
        assert [r.status_code for r in metered] == [200, 200, 200, 429]
        assert int(metered[3].headers["retry-after"]) >= 10
        assert "API key 'metered' is over its 12 seconds of audio a minute" in metered[3].text
        with grpc.insecure_channel(gateway.grpc) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            assert stub.ServerLive(pb.ServerLiveRequest()).live  # probes open
            with pytest.raises(grpc.RpcError) as refused:
                stub.ModelInfer(grpc_request(wav(1.0), int(FAST)))
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            free = (("authorization", "Bearer sk-free-0123456789"),)
            assert stub.ModelInfer(grpc_request(wav(1.0), int(FAST)), metadata=free).outputs
            metered_key = (("authorization", "Bearer sk-metered-0123456789"),)
            with pytest.raises(grpc.RpcError) as limited:
                stub.ModelInfer(grpc_request(wav(1.0), int(FAST)), metadata=metered_key)
            assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert dict(limited.value.trailing_metadata() or ())["retry-after"].isdigit()
        text = httpx.get(f"{gateway.http}/metrics").text
        assert 'voxtral_gateway_rejected_total{key="metered",reason="rate_limited"} 2.0' in text
    finally:
        stop_gateway(gateway)
