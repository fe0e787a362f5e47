"""The gateway's pure parts: which service a request names, how much work it is, which
replica gets it."""

from __future__ import annotations

import json

from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from voxtral_gateway import names
from voxtral_gateway.pool import Pools
from voxtral_gateway.upstreams import parse_upstream
from voxtral_gateway.weight import audio_seconds

from tests.predictor.audiofiles import wav


def multipart(fields: dict[str, str], audio: bytes) -> tuple[str, bytes]:
    boundary = "b0undary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n".encode()
        + audio
        + b"\r\n"
    )
    return f"multipart/form-data; boundary={boundary}", b"".join(
        parts
    ) + f"--{boundary}--\r\n".encode()


def test_the_service_a_request_names() -> None:
    assert names.from_path("/v2/models/voxtral-small/infer") == "voxtral-small"
    assert names.from_path("/v1/models/voxtral:predict") == "voxtral"
    assert names.from_path("/v1/audio/transcriptions") is None
    kind, body = multipart({"language": "en", "model": "voxtral-mini"}, wav(1.0))
    assert names.from_body(kind, body) == "voxtral-mini"
    kind, body = multipart({"language": "en"}, wav(1.0))
    assert names.from_body(kind, body) is None
    assert names.from_body("application/json", json.dumps({"model": "m"}).encode()) == "m"
    assert names.from_body("application/json", b"[1, 2]") is None
    assert names.from_body("application/json", b"not json") is None
    request = pb.ModelInferRequest(model_name="voxtral-small", id="42")
    request.parameters["max_completion_tokens"].int64_param = 8
    assert names.from_grpc_message(request.SerializeToString()) == "voxtral-small"
    assert names.from_grpc_message(pb.ModelReadyRequest(name="x").SerializeToString()) == "x"
    assert names.from_grpc_message(b"\x0a\xff") is None  # truncated: no crash


def test_work_is_the_seconds_of_audio() -> None:
    assert abs(audio_seconds(wav(7.5)) - 7.5) < 0.01
    _, body = multipart({"model": "voxtral"}, wav(20.0))
    assert abs(audio_seconds(body) - 20.0) < 0.01  # the WAV inside a form
    assert audio_seconds(b"x" * 160_000) == 10.0  # other containers: 16 kB a second
    assert audio_seconds(b"{}") == 1.0  # no audio: one second


def test_the_replica_with_the_least_outstanding_work_gets_the_request() -> None:
    a = parse_upstream("voxtral=http://a:8080|a:8081")
    b = parse_upstream("voxtral=http://b:8080")
    pools = Pools([a, b])
    ra, rb = pools.replicas("voxtral")
    assert pools.pick("voxtral") is None  # none ready yet
    ra.healthy = rb.healthy = True
    with pools.lease(ra, 600.0):  # a 10-minute recording on a
        assert all(pools.pick("voxtral") is rb for _ in range(20))
        with pools.lease(rb, 5.0), pools.lease(rb, 5.0):  # two short clips on b
            assert pools.pick("voxtral") is rb
        assert pools.pick("voxtral", exclude=[rb]) is ra
        assert pools.pick("voxtral", where=lambda r: r.upstream.grpc is not None) is ra
    assert ra.work == rb.work == 0 and ra.in_flight == rb.in_flight == 0
    assert {id(pools.pick("voxtral")) for _ in range(64)} == {id(ra), id(rb)}  # ties: both
