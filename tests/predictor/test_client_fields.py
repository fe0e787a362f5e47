"""Every field a client can send is checked before any engine work, on every protocol:
a wrong type or a value out of range is a 400 (gRPC INVALID_ARGUMENT) that names the
field, never a 500 with the engine's exception, nor a stream that fails once started."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator

import grpc
import httpx
import openai
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc
from openai import OpenAI

from tests.conftest import Predictor
from tests.predictor.audiofiles import wav

# (field, form value, what the message says)
OUT_OF_RANGE = [
    ("temperature", "5", "5.0 is out of range: use a value in [0, 2]"),
    ("top_p", "3", "3.0 is out of range: use a value in (0, 1]"),
    ("max_completion_tokens", "0", "0 is out of range: use a value in [1, any)"),
    ("temperature", "hot", "must be a number, got 'hot'"),
    ("seed", "1.5", "must be a whole number"),
    ("stream", "maybe", "must be true or false"),
    ("prompt", "x" * 4001, "is 4001 characters long: at most 4000"),
    ("temperature", "nan", "must be a finite number"),
]


@pytest.fixture(scope="module", autouse=True)
def no_server_errors(predictor: Predictor) -> Iterator[None]:
    """None of these requests may log a traceback or be answered 500."""
    start = predictor.log.stat().st_size
    yield
    with predictor.log.open("rb") as log:
        log.seek(start)
        logged = log.read().decode(errors="replace")
    assert "Traceback" not in logged and '" 500' not in logged, logged[-3000:]


@pytest.fixture(scope="module")
def client(predictor: Predictor) -> OpenAI:
    return OpenAI(base_url=predictor.openai_base, api_key="unused", max_retries=0)


def _named(r: httpx.Response, name: str, says: str) -> None:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == name and error["code"] == "invalid_field"
    assert error["message"].startswith(f"{name}: ") and says in error["message"], error


@pytest.mark.parametrize("route", ["transcriptions", "translations"])
@pytest.mark.parametrize(("name", "value", "says"), OUT_OF_RANGE)
def test_speech_form_fields(
    predictor: Predictor, route: str, name: str, value: str, says: str
) -> None:
    r = httpx.post(
        f"{predictor.openai_base}/audio/{route}",
        files={"file": ("a.wav", wav(1.0))},
        data={"model": "voxtral", name: value},
    )
    _named(r, name, says)


def test_a_long_form_stream_refuses_before_it_starts(predictor: Predictor) -> None:
    r = httpx.post(
        f"{predictor.openai_base}/audio/transcriptions",
        files={"file": ("a.wav", wav(40.0))},
        data={"model": "voxtral", "stream": "true", "chunking": "always", "top_p": "3"},
    )
    assert r.headers["content-type"].startswith("application/json")
    _named(r, "top_p", "out of range")


def test_unknown_form_fields_are_named(predictor: Predictor) -> None:
    r = httpx.post(
        f"{predictor.openai_base}/audio/transcriptions",
        files={"file": ("a.wav", wav(1.0))},
        data={"model": "voxtral", "temprature": "0"},
    )
    _named(r, "temprature", "unknown field")


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("temperature", 5, "out of range: use a value in [0, 2]"),
        ("top_p", 3, "out of range: use a value in (0, 1]"),
        ("max_completion_tokens", 0, "out of range"),
        ("max_tokens", -1, "out of range"),
        ("n", 2, "out of range: use a value in [1, 1]"),
        ("temperature", "0.2", "must be a number, not the string '0.2'"),
    ],
)
def test_chat_sampling_fields(client: OpenAI, name: str, value: object, says: str) -> None:
    audio = {"data": base64.b64encode(wav(1.0)).decode(), "format": "wav"}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="voxtral",
            messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": audio}]}],
            extra_body={name: value},
        )
    error = refused.value.body
    assert isinstance(error, dict) and error["param"] == name and says in error["message"]


@pytest.mark.parametrize(
    ("instance", "says"),
    [
        ({"language": ["en"]}, "language: must be a string, got list"),
        ({"temperature": "hot"}, "temperature: must be a number, not the string 'hot'"),
        ({"max_completion_tokens": 0}, "max_completion_tokens: 0 is out of range"),
        ({"response_format": 3}, "response_format: must be a string, got int"),
        ({"task": "summarize"}, "unknown task 'summarize'"),
    ],
)
def test_v1_instance_fields(predictor: Predictor, instance: dict[str, object], says: str) -> None:
    b64 = base64.b64encode(wav(1.0)).decode()
    r = httpx.post(
        f"{predictor.http}/v1/models/voxtral:predict",
        json={"instances": [{"audio": {"b64": b64}, **instance}]},
    )
    assert r.status_code == 400, r.text
    assert says in r.json()["error"]


def _v2(predictor: Predictor, body: dict[str, object], binary: bytes = b"") -> httpx.Response:
    header = json.dumps(body).encode()
    return httpx.post(
        f"{predictor.http}/v2/models/voxtral/infer",
        content=header + binary,
        headers={"inference-header-content-length": str(len(header))} if binary else {},
    )


def test_v2_fields(predictor: Predictor) -> None:
    b64 = base64.b64encode(wav(1.0)).decode()
    audio = {"name": "audio", "datatype": "BYTES", "shape": [1], "data": [b64]}
    r = _v2(predictor, {"inputs": [audio | {"parameters": [1]}]})
    assert r.status_code == 400 and "audio: 'parameters' must be an object" in r.json()["error"]
    r = _v2(predictor, {"inputs": [audio], "parameters": {"temperature": 5}})
    assert r.status_code == 400 and "temperature: 5.0 is out of range" in r.json()["error"]
    r = _v2(predictor, {"inputs": [audio], "parameters": ["temperature"]})
    assert r.status_code == 400 and "'parameters' must be an object" in r.json()["error"]
    # a BYTES language tensor that is not UTF-8, in the binary extension
    language = struct.pack("<I", 2) + b"\xff\xfe"
    binary = {"binary_data_size": len(language)}
    tensor = {"name": "language", "datatype": "BYTES", "shape": [1], "parameters": binary}
    r = _v2(predictor, {"inputs": [audio, tensor]}, language)
    assert r.status_code == 400 and "input 'language' is not UTF-8 text" in r.json()["error"]


def test_grpc_fields(predictor: Predictor) -> None:
    stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(predictor.grpc))

    def request(**tensors: bytes) -> pb.ModelInferRequest:
        inputs = [
            pb.ModelInferRequest.InferInputTensor(
                name=name,
                datatype="BYTES",
                shape=[1],
                contents=pb.InferTensorContents(bytes_contents=[value]),
            )
            for name, value in {"audio": wav(1.0), **tensors}.items()
        ]
        return pb.ModelInferRequest(model_name="voxtral", inputs=inputs)

    hot = request()
    hot.parameters["temperature"].int64_param = 5
    sloppy = request()
    sloppy.parameters["max_completion_tokens"].string_param = "many"
    for bad, says in (
        (hot, "temperature: 5.0 is out of range"),
        (sloppy, "max_completion_tokens: must be a number, not the string 'many'"),
        (request(language=b"\xff\xfe"), "input 'language' is not UTF-8 text"),
        (request(language=b"xx"), "unsupported language 'xx'"),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            stub.ModelInfer(bad)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert says in (refused.value.details() or "")


def test_bodies_of_the_wrong_kind(predictor: Predictor) -> None:
    v1 = f"{predictor.http}/v1/models/voxtral:predict"
    r = httpx.post(v1, json=[{"audio": {"b64": "AAAA"}}])
    assert r.status_code == 400 and "must be a JSON object" in r.json()["error"]
    r = httpx.post(v1, content=b"instances", headers={"content-type": "text/plain"})
    assert r.status_code == 400 and "content-type application/json" in r.json()["error"]
    b64 = base64.b64encode(wav(1.0)).decode()
    audio = {"name": "audio", "datatype": "BYTES", "shape": [1], "data": [b64]}
    r = _v2(predictor, {"inputs": [audio], "outputs": [{"name": "text", "parameters": [1]}]})
    assert (
        r.status_code == 400 and "outputs[0]: 'parameters' must be an object" in r.json()["error"]
    )
    deep = b"[" * 100_000 + b"]" * 100_000  # deeper than any parser recurses
    r = httpx.post(f"{predictor.http}/v2/models/voxtral/infer", content=deep)
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = httpx.post(
        f"{predictor.openai_base}/chat/completions",
        content=deep,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_a_translation_stream_refuses_before_it_starts(predictor: Predictor) -> None:
    """A seed the engine's chat request would refuse (over int64): a 400, not a stream
    that fails."""
    r = httpx.post(
        f"{predictor.openai_base}/audio/translations",
        files={"file": ("a.wav", wav(1.0))},
        data={"model": "voxtral", "stream": "true", "seed": str(2**64)},
    )
    assert r.headers["content-type"].startswith("application/json")
    _named(r, "seed", "out of range: use a value in [-9223372036854775808, 9223372036854775807]")
