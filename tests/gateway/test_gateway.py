"""voxtral-gateway in front of two real tiny-model predictors (one of them runs one request
at a time): every protocol through it, per-request spreading of one connection's calls,
a 429 retried on the other replica, a draining replica left out, a client's departure
reaching the replica, and the gateway's own refusals."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc
from openai import OpenAI

from tests.conftest import Predictor, free_port, start_predictor, stop_predictor
from tests.gateway.conftest import start_gateway, stop_gateway, upstream
from tests.predictor.audiofiles import wav
from tests.predictor.calls import CALLS, FAST, SLOW, grpc_request, openai_audio
from tests.predictor.helpers import busy, scrape, transcribe, value, wait_for

SPREAD_CALLS = 30  # one replica gets fewer than 3 of them with probability < 1e-6
ENGINE_KEYS = {"engine": "0", "model_name": "voxtral"}


def served(server: Predictor, endpoint: str) -> float:
    return sum(
        v
        for (name, labels), v in scrape(server).items()
        if name == "voxtral_frontend_requests_total" and ("endpoint", endpoint) in labels
    )


def routed(gateway: Predictor, replica: Predictor) -> float:
    name = "voxtral_gateway_routing_decisions_total"
    return value(scrape(gateway), name, model="voxtral", replica=replica.http)


def generated(*servers: Predictor) -> float:
    return sum(value(scrape(s), "vllm:generation_tokens_total", **ENGINE_KEYS) for s in servers)


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_every_protocol_through_the_gateway(
    gateway: Predictor, predictor: Predictor, narrow: Predictor, endpoint: str
) -> None:
    before = served(predictor, endpoint) + served(narrow, endpoint)
    assert CALLS[endpoint](gateway) == 200
    assert served(predictor, endpoint) + served(narrow, endpoint) == before + 1


def test_streams_and_openai_clients_work_unchanged(gateway: Predictor) -> None:
    client = OpenAI(base_url=gateway.openai_base, api_key="unused")
    stream = client.audio.transcriptions.create(
        model="voxtral",
        file=("clip.wav", wav()),
        stream=True,
        extra_body={"max_completion_tokens": 8},
    )
    events = list(stream)
    assert events[-1].type == "transcript.text.done"
    assert [e.type for e in events[:-1]] == ["transcript.text.delta"] * (len(events) - 1)
    assert [m.id for m in client.models.list()] == ["voxtral"]
    # the same under KServe's path prefix for OpenAI routes
    r = httpx.post(
        f"{gateway.http}/openai/v1/audio/transcriptions",
        files={"file": ("a.wav", wav(1.0))},
        data={"model": "voxtral", "max_completion_tokens": FAST},
        timeout=30,
    )
    assert r.status_code == 200, r.text


def test_one_grpc_channel_and_one_keep_alive_client_spread_over_both_replicas(
    gateway: Predictor, predictor: Predictor, narrow: Predictor
) -> None:
    """Routing is per call: one HTTP/2 channel, and one keep-alive HTTP connection, reach
    both replicas (through a Service they would stay on one pod)."""
    request = grpc_request(wav(1.0), int(FAST))
    before = {s.http: served(s, "grpc_infer") for s in (predictor, narrow)}
    with grpc.insecure_channel(gateway.grpc) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for _ in range(SPREAD_CALLS):
            stub.ModelInfer(request)
    gained = {s.http: served(s, "grpc_infer") - before[s.http] for s in (predictor, narrow)}
    assert sum(gained.values()) == SPREAD_CALLS and min(gained.values()) >= 3, gained

    before = {s.http: served(s, "openai_transcriptions") for s in (predictor, narrow)}
    with httpx.Client(base_url=gateway.openai_base, timeout=30) as client:  # one connection
        for _ in range(SPREAD_CALLS):
            r = client.post(
                "/audio/transcriptions",
                files={"file": ("a.wav", wav(1.0))},
                data={"model": "voxtral", "max_completion_tokens": FAST},
            )
            assert r.status_code == 200, r.text
    gained = {
        s.http: served(s, "openai_transcriptions") - before[s.http] for s in (predictor, narrow)
    }
    assert sum(gained.values()) == SPREAD_CALLS and min(gained.values()) >= 3, gained


def test_a_429_is_retried_once_on_the_other_replica(
    gateway: Predictor, predictor: Predictor, narrow: Predictor
) -> None:
    """`narrow` is full (one running, one queued, sent to it directly: the gateway does
    not know): requests the gateway sends there get 429 (gRPC: RESOURCE_EXHAUSTED) and are
    answered by the other replica. Each loop stops at its first retry (half the requests go
    to `narrow`: 40 in a row elsewhere would have probability 2^-40)."""
    retries = ("voxtral_gateway_retries_total", {"model": "voxtral"})
    request = grpc_request(wav(1.0), int(FAST))
    with (
        concurrent.futures.ThreadPoolExecutor(2) as pool,
        grpc.insecure_channel(gateway.grpc) as channel,
    ):
        held = [pool.submit(openai_audio, narrow, tokens=SLOW, timeout=300) for _ in range(2)]
        wait_for(lambda: busy(narrow, 1, 1), timeout=30)
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        calls = {
            "http": lambda: openai_audio(gateway) == 200,
            "grpc": lambda: bool(stub.ModelInfer(request).outputs),
        }
        for protocol, call in calls.items():
            before = value(scrape(gateway), retries[0], **retries[1])
            for _ in range(40):
                assert busy(narrow, 1, 1)  # still full while this runs
                assert call(), protocol
                if value(scrape(gateway), retries[0], **retries[1]) > before:
                    break
            assert value(scrape(gateway), retries[0], **retries[1]) == before + 1, protocol
        assert [h.result() for h in held] == [200, 200]


def test_a_client_that_leaves_stops_the_replicas_work(
    gateway: Predictor, predictor: Predictor, narrow: Predictor
) -> None:
    before = generated(predictor, narrow)
    with pytest.raises(httpx.ReadTimeout):
        transcribe(gateway, wav(1.0), timeout=1.0, max_completion_tokens="3000")
    wait_for(lambda: busy(predictor, 0, 0) and busy(narrow, 0, 0), timeout=15)
    assert generated(predictor, narrow) - before < 3000

    request = grpc_request(wav(1.0), 3000)
    before = generated(predictor, narrow)
    with grpc.insecure_channel(gateway.grpc) as channel, pytest.raises(grpc.RpcError) as caught:
        pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=1.0)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_for(lambda: busy(predictor, 0, 0) and busy(narrow, 0, 0), timeout=15)
    assert generated(predictor, narrow) - before < 3000


def test_the_gateways_own_answers(gateway: Predictor) -> None:
    r = httpx.post(
        f"{gateway.openai_base}/audio/transcriptions",
        files={"file": ("a.wav", wav(1.0))},
        data={"model": "whisper"},
    )
    assert r.status_code == 404
    assert r.json()["error"]["message"] == (
        "model 'whisper' is not served here; served: ['voxtral']"
    )
    r = httpx.post(f"{gateway.http}/v2/models/whisper/infer", json={"inputs": []})
    assert r.status_code == 404 and "not served here" in r.json()["error"]
    with grpc.insecure_channel(gateway.grpc) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerLive(pb.ServerLiveRequest()).live
        assert stub.ServerReady(pb.ServerReadyRequest()).ready
        assert stub.ModelReady(pb.ModelReadyRequest(name="voxtral")).ready
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelReady(pb.ModelReadyRequest(name="whisper"))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert httpx.get(f"{gateway.http}/v2/health/ready").json() == {"ready": True}


def test_a_body_over_the_limit_is_413(predictor: Predictor, tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, upstream(predictor), extra=("--max-body-mb", "0.1"))
    try:
        r = transcribe(gateway, wav(5.0))  # 160 kB
        assert r.status_code == 413
        assert r.json()["error"]["message"] == (
            "request body over 0.1 MiB (--max-body-mb): send less audio"
        )
        assert r.json()["error"]["code"] == "request_too_large"
    finally:
        stop_gateway(gateway)


def test_a_draining_replica_gets_no_new_requests(
    predictor: Predictor, tiny_model: Path, tmp_path: Path
) -> None:
    leaving = start_predictor(tiny_model, tmp_path, "--warmup", "false")
    gateway = start_gateway(tmp_path, upstream(predictor), upstream(leaving))
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            held = pool.submit(openai_audio, leaving, tokens=SLOW, timeout=120)
            wait_for(lambda: busy(leaving, 1, 0), timeout=30)
            leaving.proc.send_signal(signal.SIGTERM)  # drains: not ready, finishes its work
            ready = ("voxtral_gateway_ready_replicas", {"model": "voxtral"})
            wait_for(lambda: value(scrape(gateway), ready[0], **ready[1]) == 1, timeout=10)
            before = routed(gateway, leaving)
            assert [openai_audio(gateway) for _ in range(10)] == [200] * 10
            assert routed(gateway, leaving) == before
            assert held.result() == 200
    finally:
        stop_gateway(gateway)
        stop_predictor(leaving)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ([], "no replica to route to: give --upstream NAME=HTTP_URL[|GRPC_HOST:PORT], or run"),
        (["--upstream", "voxtral"], "expected NAME=HTTP_URL or NAME=HTTP_URL|GRPC_HOST:PORT"),
        (["--upstream", "voxtral=10.0.0.1:8080"], "is not an http(s) URL"),
        (["--upstream", "voxtral=http://a:8080|a"], "'a' is not HOST:PORT"),
        (["--upstream", "Vox Tral=http://a:8080"], "must be a served model name"),
        (["--upstream", "v=http://a:8080", "--max-held", "many"], "--max-held: invalid int"),
    ],
)
def test_bad_flags_are_said_plainly(args: list[str], said: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "voxtral_gateway", *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert said in done.stderr, done.stderr


def test_a_bad_environment_value_names_its_flag() -> None:
    """VOXTRAL_GATEWAY_* numbers go through the flag's own conversion: exit 2 naming it,
    not a traceback."""
    env = os.environ | {"VOXTRAL_GATEWAY_HOLD_SECONDS": "five minutes"}
    done = subprocess.run(
        [sys.executable, "-m", "voxtral_gateway", "--upstream", "v=http://a:8080"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert done.returncode == 2
    assert "argument --hold-seconds: invalid float value: 'five minutes'" in done.stderr


def test_a_call_for_a_service_without_a_ready_replica_waits_then_says_so(tmp_path: Path) -> None:
    """No replica of `voxtral` answers: a request waits --hold-seconds for one (a replica
    starting from zero), then 503 with Retry-After; gRPC: UNAVAILABLE, retry-after."""
    nowhere = f"voxtral=http://127.0.0.1:{free_port()}|127.0.0.1:{free_port()}"
    gateway = start_gateway(tmp_path, nowhere, extra=("--hold-seconds", "1"), expect=0)
    try:
        r = transcribe(gateway, wav(1.0))
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        said = "no replica of 'voxtral' turned ready within 1 s: retry later"
        assert r.json()["error"]["message"] == said
        with grpc.insecure_channel(gateway.grpc) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.ModelInfer(grpc_request(wav(1.0), int(FAST)))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert refused.value.details() == said
        assert dict(refused.value.trailing_metadata() or ())["retry-after"] == "5"
    finally:
        stop_gateway(gateway)
