"""Hostile clients against the real predictor: unloading the model, making it fetch URLs,
stalled and endless uploads, bodies over the limit on every protocol."""

from __future__ import annotations

import base64
import http.server
import json
import struct
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import grpc
import httpx
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

from tests.conftest import Predictor
from tests.predictor.audiofiles import wav
from tests.predictor.helpers import busy, scrape, value, wait_for
from tests.predictor.rawhttp import connect, multipart_head, read_response, readable
from voxtral_predictor.options import Options
from voxtral_predictor.replica import Replica
from voxtral_predictor.runtime import Runtime
from voxtral_predictor.server import VoxtralDataPlane

MiB = 1 << 20


# 1. Nobody unloads the model: no repository API, and a stopped engine is dead.


def test_no_model_repository_api(predictor: Predictor) -> None:
    for path in ("/v2/repository/models/voxtral/unload", "/v2/repository/models/voxtral/load"):
        assert httpx.post(f"{predictor.http}{path}", json={}).status_code == 404, path
    stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(predictor.grpc))
    for call, request in (
        (stub.RepositoryModelUnload, pb.RepositoryModelUnloadRequest(model_name="voxtral")),
        (stub.RepositoryModelLoad, pb.RepositoryModelLoadRequest(model_name="voxtral")),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            call(request)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "restart the replica" in (refused.value.details() or "")
    assert httpx.get(f"{predictor.http}/v2/health/ready").status_code == 200
    assert stub.ModelReady(pb.ModelReadyRequest(name="voxtral")).ready


def test_routes_that_are_not_served(predictor: Predictor) -> None:
    """:explain (no explainer: KServe's route would read any body, unlimited, to answer
    501) and model versions (there is one model, without versions)."""
    r = httpx.post(f"{predictor.http}/v1/models/voxtral:explain", content=b"x" * 100_000)
    # only GET /v1/models/{name} matches now (the name "voxtral:explain")
    assert r.status_code == 405 and r.json() == {"error": "Method Not Allowed"}
    assert r.headers["allow"] == "GET"
    for path in ("/v2/models/voxtral/versions/1", "/v2/models/voxtral/versions/1/ready"):
        assert httpx.get(f"{predictor.http}{path}").status_code == 404, path
    stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(predictor.grpc))
    tensor = pb.ModelInferRequest.InferInputTensor(name="audio", datatype="BYTES", shape=[1])
    tensor.contents.bytes_contents.append(wav(1.0))
    with pytest.raises(grpc.RpcError) as missing:
        stub.ModelInfer(
            pb.ModelInferRequest(model_name="voxtral", model_version="2", inputs=[tensor])
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no version '2'" in (missing.value.details() or "")


async def test_a_stopped_engine_is_not_live() -> None:
    runtime = Runtime(Options(model="unused"))
    plane = VoxtralDataPlane(runtime, registry=None, replica=Replica())  # type: ignore[arg-type]
    assert await plane.live() == {"status": "alive"}
    runtime.stop_engine()
    assert not runtime.engine_alive() and await plane.live() == {"status": "dead"}
    runtime.phase = "failed"
    assert not runtime.engine_alive()


# 2. The chat route fetches nothing.


class _Counting(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        data = wav(1.0)
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def audio_host() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server with a real WAV file on it, counting the requests it gets."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    _Counting.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Counting.hits
    server.shutdown()


@pytest.mark.parametrize(
    "part",
    [
        {"type": "audio_url", "audio_url": {"url": "{host}/x.wav"}},
        {"type": "image_url", "image_url": {"url": "{host}/x.png"}},
        {"type": "video_url", "video_url": {"url": "{host}/x.mp4"}},
        {"type": "file", "file": {"file_id": "{host}/x"}},
    ],
    ids=lambda part: part["type"],
)
def test_no_url_is_fetched(predictor: Predictor, audio_host, part) -> None:  # type: ignore[no-untyped-def]
    host, hits = audio_host
    kind = part["type"]
    part = {"type": kind, kind: {k: v.format(host=host) for k, v in part[kind].items()}}
    for content in ([part], [{"type": "text", "text": "What is said?"}, part]):
        r = httpx.post(
            f"{predictor.openai_base}/chat/completions",
            json={"model": "voxtral", "messages": [{"role": "user", "content": content}]},
        )
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        index = len(content) - 1
        assert error["code"] == "unsupported_content_part"
        assert error["param"] == f"messages[0].content[{index}]"
        assert repr(kind) in error["message"] and "input_audio" in error["message"]
    assert hits == []  # the address was never asked for
    # a closed port answers exactly the same: no port-scan oracle
    closed = {"type": kind, kind: {"url": "http://127.0.0.1:9/x"}}
    r = httpx.post(
        f"{predictor.openai_base}/chat/completions",
        json={"model": "voxtral", "messages": [{"role": "user", "content": [closed]}]},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_content_part"


# 3. Slow or stalled uploads hold no slot and end in 408.


def test_stalled_uploads_hold_no_slot(narrow: Predictor) -> None:
    """``narrow`` admits one request and queues one, and waits --body-timeout 2 s for a
    body. Three clients that send half a body and stall take no slot: others are served."""
    boundary = "stall"
    before = value(scrape(narrow), "voxtral_requests_rejected_total", reason="body_timeout")
    sockets = [
        connect(
            narrow.http,
            "/v1/audio/transcriptions",
            {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": "200000",
            },
            multipart_head(boundary) + wav(1.0)[:1000],
        )
        for _ in range(3)
    ]
    time.sleep(0.3)
    assert busy(narrow, 0, 0)  # none of them holds a slot or a queue place
    served = httpx.post(
        f"{narrow.openai_base}/audio/transcriptions",
        files={"file": ("a.wav", wav(1.0))},
        data={"model": "voxtral", "max_completion_tokens": "2"},
    )
    assert served.status_code == 200, served.text
    for sock in sockets:
        with sock:
            response = read_response(sock, timeout=10)
        assert response.status == 408, response.body
        error = response.json()["error"]
        assert error["code"] == "body_timeout" and "--body-timeout" in error["message"]
        assert response.headers["connection"] == "close"
    after = value(scrape(narrow), "voxtral_requests_rejected_total", reason="body_timeout")
    assert after - before == 3


def test_headers_then_silence_is_408_too(narrow: Predictor) -> None:
    with connect(narrow.http, "/v2/models/voxtral/infer", {"Content-Length": "100"}) as sock:
        response = read_response(sock, timeout=10)
    assert response.status == 408 and "after 0 bytes" in response.json()["error"]


def test_a_trickling_body_is_408(narrow: Predictor) -> None:
    """A byte every 0.4 s never pauses for --body-timeout (2 s), but after those 2 s a
    body must average 16 KiB/s: refused then, not after the hour it would take."""
    with connect(narrow.http, "/v2/models/voxtral/infer", {"Content-Length": "100000"}) as sock:
        started = time.monotonic()
        while not readable(sock, 0.4):
            sock.sendall(b" ")
            assert time.monotonic() - started < 10, "still reading a trickle"
        response = read_response(sock)
    assert response.status == 408
    assert "KiB/s" in response.json()["error"] and "--body-timeout" in response.json()["error"]


# 5. One upload limit, enforced while reading, on every protocol.


def test_chunked_upload_is_refused_as_it_crosses_the_limit(limited: Predictor) -> None:
    """A 60 MiB chunked upload (no Content-Length) to a 0.5 MiB limit (and 1 MiB for the
    form): the 413 comes once the limit is crossed, long before the client is done."""
    boundary = "chunked"
    sock = connect(
        limited.http,
        "/v1/audio/transcriptions",
        {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Transfer-Encoding": "chunked",
        },
    )
    piece = b"\0" * (64 * 1024)
    sent = 0
    head = multipart_head(boundary)
    sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
    with sock:
        try:
            while sent < 60 * MiB and not readable(sock):
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = read_response(sock)
    assert response.status == 413, response.body
    error = response.json()["error"]
    assert error["code"] == "file_too_large" and "1.5 MiB (--max-upload-mb" in error["message"]
    assert sent < 16 * MiB  # what socket buffers held; not the 60 MiB
    # the bytes it had buffered are given back
    wait_for(lambda: value(scrape(limited), "voxtral_request_body_bytes_buffered") == 0)


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/v1/chat/completions", "openai"),
        ("/openai/v1/chat/completions", "openai"),
        ("/v1/models/voxtral:predict", "kserve"),
        ("/v2/models/voxtral/infer", "kserve"),
    ],
)
def test_json_bodies_over_the_limit_are_413(limited: Predictor, path: str, shape: str) -> None:
    """0.5 MiB of audio as base64 and 1 MiB of JSON: 1.67 MiB. A 3 MiB body is refused
    as a 413 before any of it is parsed, in each route's error shape."""
    audio = base64.b64encode(b"\0" * (int(2.25 * MiB))).decode()
    r = httpx.post(f"{limited.http}{path}", json={"model": "voxtral", "data": audio})
    assert r.status_code == 413, r.text[:300]
    if shape == "openai":
        error = r.json()["error"]
        assert error["code"] == "file_too_large" and error["type"] == "invalid_request_error"
        message = error["message"]
    else:
        message = r.json()["error"]
        assert isinstance(message, str)
    assert "1.67 MiB" in message and "base64" in message


def test_an_undeclared_json_body_is_refused_while_reading(limited: Predictor) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"inputs": [{"name": "audio", "datatype": "BYTES", "shape": [1], "data": ["'
        for _ in range(64):  # 64 MiB, never all sent
            yield b"A" * MiB

    r = httpx.post(f"{limited.http}/v2/models/voxtral/infer", content=pieces())
    assert r.status_code == 413 and "1.67 MiB" in r.json()["error"]


def test_grpc_message_over_the_limit(limited: Predictor) -> None:
    stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(limited.grpc))
    tensor = pb.ModelInferRequest.InferInputTensor(name="audio", datatype="BYTES", shape=[1])
    tensor.contents.bytes_contents.append(b"\0" * (2 * MiB))  # limit: 0.5 MiB + 1 MiB
    with pytest.raises(grpc.RpcError) as refused:
        stub.ModelInfer(pb.ModelInferRequest(model_name="voxtral", inputs=[tensor]))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in (refused.value.details() or "")
    small = pb.ModelInferRequest.InferInputTensor(name="audio", datatype="BYTES", shape=[1])
    small.contents.bytes_contents.append(wav(1.0))
    request = pb.ModelInferRequest(model_name="voxtral", inputs=[small])
    request.parameters["max_completion_tokens"].int64_param = 2
    assert stub.ModelInfer(request).outputs[0].name == "text"


# Bodies held at once: refused when they do not fit, never waiting on each other.


def test_bodies_that_do_not_fit_the_budget_are_429_at_once(budgeted: Predictor) -> None:
    """``budgeted`` holds 8 MiB of bodies. A stalled upload declares 6 MiB: the budget is
    taken before its body comes. A 3 MiB upload then does not fit (429, at once, on HTTP
    and on gRPC); one that could never fit is a 413; once the stalled one is refused (408)
    the budget is back."""
    boundary = "held"
    stalled = connect(
        budgeted.http,
        "/v1/audio/transcriptions",
        {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(6 * MiB),
        },
        multipart_head(boundary),
    )
    with stalled:
        wait_for(lambda: value(scrape(budgeted), "voxtral_request_body_bytes_buffered") == 6 * MiB)
        r = httpx.post(
            f"{budgeted.openai_base}/audio/transcriptions",
            files={"file": ("a.wav", b"\0" * (3 * MiB))},
            data={"model": "voxtral"},
        )
        assert r.status_code == 429, r.text
        assert (
            r.headers["retry-after"] == "1"
            and "--max-buffered-mb 8" in r.json()["error"]["message"]
        )
        stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(budgeted.grpc))
        tensor = pb.ModelInferRequest.InferInputTensor(name="audio", datatype="BYTES", shape=[1])
        tensor.contents.bytes_contents.append(b"\0" * (3 * MiB))
        with pytest.raises(grpc.RpcError) as busy_grpc:
            stub.ModelInfer(pb.ModelInferRequest(model_name="voxtral", inputs=[tensor]))
        assert busy_grpc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "server busy" in (busy_grpc.value.details() or "")
        assert read_response(stalled, timeout=15).status == 408
    wait_for(lambda: value(scrape(budgeted), "voxtral_request_body_bytes_buffered") == 0)
    r = httpx.post(
        f"{budgeted.http}/v2/models/voxtral/infer", content=b"{" + b" " * (9 * MiB) + b"}"
    )
    assert r.status_code == 413 and "--max-buffered-mb" in r.json()["error"]


def test_binary_tensors_are_split_only_up_to_max_inputs(budgeted: Predictor) -> None:
    """6 MiB of 2-byte BYTES elements: refused at the third element (--max-inputs 2),
    not after splitting a million of them."""
    raw = (struct.pack("<I", 2) + b"ab") * (6 * MiB // 6)
    header = json.dumps({
        "inputs": [{"name": "audio", "datatype": "BYTES", "shape": [len(raw) // 6],
                    "parameters": {"binary_data_size": len(raw)}}],
    }).encode()  # fmt: skip
    r = httpx.post(
        f"{budgeted.http}/v2/models/voxtral/infer",
        content=header + raw,
        headers={"inference-header-content-length": str(len(header))},
        timeout=60,
    )
    assert r.status_code == 400, r.text
    assert (
        "3 elements in audio (or more)" in r.json()["error"] and "--max-inputs" in r.json()["error"]
    )
