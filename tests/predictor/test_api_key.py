"""--api-key, as vLLM's: `Authorization: Bearer KEY` on /v1, /v2 and /openai routes (health
probes and /metrics open), the `authorization` metadata on gRPC; several keys; and the same
through the gateway, which passes the client's credentials on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import openai
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

from tests.conftest import Predictor, start_predictor, stop_predictor
from tests.gateway.conftest import start_gateway, stop_gateway, upstream
from tests.predictor.audiofiles import wav
from tests.predictor.calls import FAST, grpc_request

KEYS = ("k-one", "k-two")
SAID = "a valid API key is required: send it as `Authorization: Bearer <key>`"


@pytest.fixture(scope="module")
def keyed(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Predictor]:
    server = start_predictor(
        tiny_model, tmp_path_factory.mktemp("keyed"), "--api-key", ",".join(KEYS)
    )
    yield server
    stop_predictor(server)


def transcribe(base: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(
        f"{base}/v1/audio/transcriptions",
        files={"file": ("a.wav", wav(1.0))},
        data={"model": "voxtral", "max_completion_tokens": FAST},
        headers=headers,
        timeout=30,
    )


def test_rest_needs_a_key_but_probes_do_not(keyed: Predictor) -> None:
    for key in (None, "wrong"):
        r = transcribe(keyed.http, key)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["message"] == SAID
        assert r.json()["error"]["code"] == "invalid_api_key"
    assert all(transcribe(keyed.http, key).status_code == 200 for key in KEYS)
    v2 = httpx.post(f"{keyed.http}/v2/models/voxtral/infer", json={"inputs": []})
    assert v2.status_code == 401 and v2.json() == {"error": SAID}  # KServe's error shape
    v1 = httpx.post(f"{keyed.http}/v1/models/voxtral:predict", json={"instances": []})
    assert v1.status_code == 401
    for open_path in ("/v2/health/live", "/v2/health/ready", "/metrics"):
        assert httpx.get(f"{keyed.http}{open_path}").status_code == 200, open_path
    client = openai.OpenAI(base_url=keyed.openai_base, api_key="wrong")
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    assert [m.id for m in openai.OpenAI(base_url=keyed.openai_base, api_key=KEYS[1]).models.list()]


def test_grpc_needs_the_key_in_its_metadata(keyed: Predictor) -> None:
    with grpc.insecure_channel(keyed.grpc) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerReady(pb.ServerReadyRequest()).ready  # probes stay open
        with pytest.raises(grpc.RpcError) as refused:
            stub.ModelInfer(grpc_request(wav(1.0), int(FAST)))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "metadata `authorization: Bearer <key>`" in (refused.value.details() or "")
        answer = stub.ModelInfer(
            grpc_request(wav(1.0), int(FAST)), metadata=(("authorization", f"Bearer {KEYS[0]}"),)
        )
        assert answer.outputs


def test_the_gateway_passes_the_clients_key_on(keyed: Predictor, tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, upstream(keyed))
    try:
        assert transcribe(gateway.http, None).status_code == 401
        assert transcribe(gateway.http, KEYS[0]).status_code == 200
        with grpc.insecure_channel(gateway.grpc) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.ModelInfer(grpc_request(wav(1.0), int(FAST)))
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            metadata = (("authorization", f"Bearer {KEYS[1]}"),)
            assert stub.ModelInfer(grpc_request(wav(1.0), int(FAST)), metadata=metadata).outputs
    finally:
        stop_gateway(gateway)
