"""KServe v1 and v2 REST, and v2 gRPC with a raw grpcio stub and with KServe's own
InferenceGRPCClient (a published Open Inference Protocol client, not ours)."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
import textwrap

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.http
from kserve import InferenceGRPCClient, InferInput, InferRequest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

from tests.conftest import Predictor
from tests.predictor.audiofiles import encode, wav
from voxtral_predictor.audio import tone

LIMIT = 4
MP3 = encode(tone(3.0, 220.0), "mp3")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def stub(predictor: Predictor) -> pb_grpc.GRPCInferenceServiceStub:
    return pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(predictor.grpc))


def test_v1_predict_several_instances(predictor: Predictor) -> None:
    body = {"instances": [
        {"audio": {"b64": b64(wav(2.0))}, "task": "transcribe", "max_completion_tokens": LIMIT},
        {"audio": {"b64": b64(MP3)}, "task": "translate", "language": "fr", "prompt": "Hi", "max_completion_tokens": LIMIT},
    ]}  # fmt: skip
    r = httpx.post(f"{predictor.http}/v1/models/voxtral:predict", json=body, timeout=60)
    assert r.status_code == 200, r.text
    first, second = r.json()["predictions"]
    assert first["text"] and first["language"] is None and first["audio_seconds"] == 2.0
    assert second["language"] == "fr" and second["audio_seconds"] == pytest.approx(3.0, abs=0.1)


def test_v1_bad_instances_say_which(predictor: Predictor) -> None:
    url = f"{predictor.http}/v1/models/voxtral:predict"
    r = httpx.post(url, json={"instances": [{"audio": {"b64": b64(wav())}, "speed": 2}]})
    # KServe v1's error shape: {"error": "<message>"}
    assert r.status_code == 400 and "unknown keys ['speed']" in r.json()["error"]
    r = httpx.post(url, json={"instances": [{"audio": {"b64": b64(b"junk" * 10)}}]})
    assert r.status_code == 400 and "could not be decoded as audio" in r.json()["error"]
    r = httpx.post(url, json={"instances": [{"audio": {"b64": b64(wav())}, "task": "dance"}]})
    assert r.status_code == 400 and "transcribe, translate" in r.json()["error"]
    r = httpx.post(f"{predictor.http}/v1/models/nope:predict", json={"instances": []})
    assert r.status_code == 404


def test_v2_metadata_describes_the_tensors(predictor: Predictor) -> None:
    meta = httpx.get(f"{predictor.http}/v2/models/voxtral").json()
    assert [i["name"] for i in meta["inputs"]] == ["audio", "task", "language", "prompt"]
    assert all(i["datatype"] == "BYTES" for i in meta["inputs"])
    assert [(o["name"], o["datatype"]) for o in meta["outputs"]] == [
        ("text", "BYTES"),
        ("segments", "BYTES"),  # with response_format=verbose_json
    ]


def test_v2_rest_json(predictor: Predictor) -> None:
    body = {
        "id": "req-1",
        "inputs": [
            {"name": "audio", "datatype": "BYTES", "shape": [2], "data": [b64(wav()), b64(MP3)]},
            {"name": "task", "datatype": "BYTES", "shape": [1], "data": ["translate"]},
        ],
        "parameters": {"max_completion_tokens": LIMIT, "language": "en"},
    }
    r = httpx.post(f"{predictor.http}/v2/models/voxtral/infer", json=body, timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["id"] == "req-1" and out["model_name"] == "voxtral"
    assert out["outputs"][0]["name"] == "text" and out["outputs"][0]["shape"] == [2]
    assert all(isinstance(t, str) and t for t in out["outputs"][0]["data"])


def test_v2_rest_binary_extension(predictor: Predictor) -> None:
    a, b = wav(), MP3
    payload = struct.pack("<I", len(a)) + a + struct.pack("<I", len(b)) + b
    header = json.dumps({
        "inputs": [{"name": "audio", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": len(payload)}}],
        "parameters": {"max_completion_tokens": LIMIT},
    }).encode()  # fmt: skip
    r = httpx.post(
        f"{predictor.http}/v2/models/voxtral/infer",
        content=header + payload,
        headers={
            "inference-header-content-length": str(len(header)),
            "content-type": "application/octet-stream",
        },
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["shape"] == [2]


def test_v2_rest_errors(predictor: Predictor) -> None:
    url = f"{predictor.http}/v2/models/voxtral/infer"
    r = httpx.post(
        url,
        json={
            "inputs": [{"name": "audio", "datatype": "BYTES", "shape": [1], "data": [b64(b"nope")]}]
        },
    )
    # the Open Inference Protocol's error shape: {"error": "<message>"}
    assert r.status_code == 400 and "could not be decoded as audio" in r.json()["error"]
    r = httpx.post(
        url, json={"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["x"]}]}
    )
    assert r.status_code == 400 and "unknown inputs ['image']" in r.json()["error"]
    r = httpx.post(
        url, json={"inputs": [{"name": "audio", "datatype": "FP32", "shape": [1], "data": [1.0]}]}
    )
    assert r.status_code == 400 and "BYTES" in r.json()["error"]
    r = httpx.post(f"{predictor.http}/v2/models/nope/infer", json={"inputs": []})
    assert r.status_code == 404
    # lengths that are not numbers are the client's mistake, named, not a 500
    r = httpx.post(url, content=b"{}", headers={"inference-header-content-length": "ten"})
    assert r.status_code == 400, r.text
    assert "inference-header-content-length must be a whole number" in r.json()["error"]
    header = json.dumps({
        "inputs": [{"name": "audio", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": "-4"}}],
    }).encode()  # fmt: skip
    r = httpx.post(
        url, content=header, headers={"inference-header-content-length": str(len(header))}
    )
    assert r.status_code == 400, r.text
    assert "audio: binary_data_size must be a whole number" in r.json()["error"]


def infer_request(
    contents: list[bytes] | None = None, raw: bytes | None = None, model: str = "voxtral"
) -> pb.ModelInferRequest:
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="audio", datatype="BYTES", shape=[len(contents or [raw])]
    )
    if contents is not None:
        tensor.contents.bytes_contents.extend(contents)
    request = pb.ModelInferRequest(model_name=model, inputs=[tensor])
    request.parameters["max_completion_tokens"].int64_param = LIMIT
    if raw is not None:
        request.raw_input_contents.append(struct.pack("<I", len(raw)) + raw)
    return request


def test_grpc_health_and_metadata(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="voxtral")).ready
    meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="voxtral"))
    assert meta.inputs[0].name == "audio" and meta.outputs[0].name == "text"


def raw_bytes_output(response: pb.ModelInferResponse, index: int = 0) -> list[bytes]:
    """A BYTES output from raw_output_contents: each element a 4-byte length, then it."""
    raw, out, offset = response.raw_output_contents[index], [], 0
    while offset < len(raw):
        (size,) = struct.unpack_from("<I", raw, offset)
        out.append(raw[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return out


def test_grpc_bytes_contents(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    """BYTES in, and the text out in raw_output_contents, as Triton answers."""
    response = stub.ModelInfer(infer_request([wav(), MP3]))
    assert response.outputs[0].name == "text" and list(response.outputs[0].shape) == [2]
    assert not response.outputs[0].contents.bytes_contents
    texts = raw_bytes_output(response)
    assert len(texts) == 2 and all(texts)


def test_grpc_raw_input_contents(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    response = stub.ModelInfer(infer_request(raw=MP3))
    assert len(raw_bytes_output(response)) == 1


TRITON_GRPC_CLIENT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tritonclient.grpc as triton
    client = triton.InferenceServerClient(sys.argv[1])
    audio = triton.InferInput("audio", [2], "BYTES")
    audio.set_data_from_numpy(np.array([open(p, "rb").read() for p in sys.argv[2:]], dtype=object))
    result = client.infer("voxtral", [audio], parameters={
        "max_completion_tokens": 4, "response_format": "verbose_json"})
    texts, segments = result.as_numpy("text"), result.as_numpy("segments")
    print(json.dumps({
        "ready": client.is_model_ready("voxtral"), "numpy": np.__version__,
        "texts": [t.decode() for t in texts], "shape": list(texts.shape),
        "segments": [json.loads(s) for s in segments]}))
""")


def test_tritons_grpc_client_reads_the_text(predictor: Predictor, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Triton's published gRPC client with numpy 2, as a new user tries it: as_numpy of a
    BYTES output works only when it travels in raw_output_contents. (In a process of its
    own: its protos and KServe's share the package name ``inference``.)"""
    files = [tmp_path / "a.wav", tmp_path / "b.mp3"]
    files[0].write_bytes(wav())
    files[1].write_bytes(MP3)
    run = subprocess.run(
        [sys.executable, "-c", TRITON_GRPC_CLIENT, predictor.grpc, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    assert out["numpy"].startswith("2.") and out["ready"]
    assert out["shape"] == [2] and all(out["texts"])
    assert out["segments"][1][0]["start"] == 0.0


def test_grpc_errors_map_to_status_codes(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as bad:
        stub.ModelInfer(infer_request([b"certainly not audio"]))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "could not be decoded as audio" in (bad.value.details() or "")
    with pytest.raises(grpc.RpcError) as missing:
        stub.ModelInfer(infer_request([wav()], model="nope"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_kserve_grpc_client(predictor: Predictor) -> None:
    """KServe's own published v2 client, unchanged."""
    client = InferenceGRPCClient(predictor.grpc)
    audio = InferInput("audio", [2], "BYTES")
    audio.set_data_from_numpy(np.array([wav(), MP3], dtype=object), binary_data=True)
    response = await client.infer(
        InferRequest(
            model_name="voxtral", infer_inputs=[audio], parameters={"max_completion_tokens": LIMIT}
        )
    )
    texts = response.outputs[0].as_numpy()  # BYTES come in raw_output_contents
    assert texts.shape == (2,) and all(isinstance(t, bytes) and t for t in texts)
    await client.close()


def test_v2_shape_must_hold_the_data(
    predictor: Predictor, stub: pb_grpc.GRPCInferenceServiceStub
) -> None:
    r = httpx.post(
        f"{predictor.http}/v2/models/voxtral/infer",
        json={
            "inputs": [{"name": "audio", "datatype": "BYTES", "shape": [2], "data": [b64(wav())]}]
        },
    )
    assert (
        r.status_code == 400
        and "audio: shape [2] holds 2 elements, the data 1" in r.json()["error"]
    )
    request = infer_request([wav()])
    request.inputs[0].shape[:] = [3]
    with pytest.raises(grpc.RpcError) as refused:
        stub.ModelInfer(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "audio: shape [3] holds 3 elements, the data 1" in (refused.value.details() or "")


def test_v2_requested_outputs(predictor: Predictor, stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    url = f"{predictor.http}/v2/models/voxtral/infer"
    audio = {"name": "audio", "datatype": "BYTES", "shape": [1], "data": [b64(wav())]}
    parameters = {"max_completion_tokens": LIMIT, "response_format": "verbose_json"}
    r = httpx.post(
        url, json={"inputs": [audio], "parameters": parameters, "outputs": [{"name": "segments"}]}
    )
    assert r.status_code == 200, r.text
    assert [o["name"] for o in r.json()["outputs"]] == ["segments"]
    r = httpx.post(url, json={"inputs": [audio], "parameters": parameters})
    assert [o["name"] for o in r.json()["outputs"]] == ["text", "segments"]
    r = httpx.post(url, json={"inputs": [audio], "outputs": [{"name": "logits"}]})
    assert r.status_code == 400
    assert (
        "outputs[0]: unknown output 'logits': this model gives text, segments" in r.json()["error"]
    )
    request = infer_request([wav()])
    request.parameters["response_format"].string_param = "verbose_json"
    request.outputs.add(name="text")
    assert [o.name for o in stub.ModelInfer(request).outputs] == ["text"]
    request.outputs.add(name="logits")
    with pytest.raises(grpc.RpcError) as refused:
        stub.ModelInfer(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_v2_binary_outputs_with_tritons_client(predictor: Predictor) -> None:
    """Triton's published HTTP client: BYTES audio in, the text out in binary (the
    binary tensor extension both ways), and the segments as JSON in the same response."""
    client = tritonclient.http.InferenceServerClient(predictor.http.removeprefix("http://"))
    audio = tritonclient.http.InferInput("audio", [2], "BYTES")
    audio.set_data_from_numpy(np.array([wav(), MP3], dtype=object), binary_data=True)
    result = client.infer(
        "voxtral",
        [audio],
        outputs=[
            tritonclient.http.InferRequestedOutput("text", binary_data=True),
            tritonclient.http.InferRequestedOutput("segments", binary_data=False),
        ],
        parameters={"max_completion_tokens": LIMIT, "response_format": "verbose_json"},
    )
    texts = result.as_numpy("text")
    assert (
        texts is not None and texts.shape == (2,) and all(isinstance(t, bytes) and t for t in texts)
    )
    assert result.get_output("text")["parameters"]["binary_data_size"] > 0
    segments = result.as_numpy("segments")
    assert segments is not None and json.loads(segments[0])[0]["start"] == 0.0
    assert client.is_model_ready("voxtral")


def test_v2_one_version_path(predictor: Predictor) -> None:
    audio = {"name": "audio", "datatype": "BYTES", "shape": [1], "data": [b64(wav())]}
    r = httpx.post(f"{predictor.http}/v2/models/voxtral/versions/2/infer", json={"inputs": [audio]})
    assert r.status_code == 404
    assert (
        "has no version '2'" in r.json()["error"]
        and "/v2/models/voxtral/infer" in r.json()["error"]
    )
