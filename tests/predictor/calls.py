"""Each inference protocol the predictor serves, called once with a short clip; each
returns the status (gRPC: 200 when the call succeeded). For any server that serves them:
a predictor, or the gateway in front of predictors."""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable

import grpc
import httpx
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

from tests.conftest import Predictor
from tests.predictor.audiofiles import wav

FAST = "4"
SLOW = "1500"  # output tokens: several seconds on the tiny model here


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def openai_audio(
    server: Predictor, route: str = "transcriptions", tokens: str = FAST, timeout: float = 30
) -> int:
    return httpx.post(
        f"{server.openai_base}/audio/{route}",
        files={"file": ("a.wav", wav(1.0))},
        data={"model": "voxtral", "max_completion_tokens": tokens},
        timeout=timeout,
    ).status_code


def openai_chat(server: Predictor) -> int:
    part = {"type": "input_audio", "input_audio": {"data": b64(wav(1.0)), "format": "wav"}}
    body = {
        "model": "voxtral",
        "max_completion_tokens": int(FAST),
        "messages": [{"role": "user", "content": [part, {"type": "text", "text": "What?"}]}],
    }
    return httpx.post(f"{server.openai_base}/chat/completions", json=body).status_code


def v1_predict(server: Predictor) -> int:
    instance = {"audio": {"b64": b64(wav(1.0))}, "max_completion_tokens": int(FAST)}
    body = {"instances": [instance]}
    return httpx.post(f"{server.http}/v1/models/voxtral:predict", json=body).status_code


def v2_infer(server: Predictor) -> int:
    audio = {"name": "audio", "datatype": "BYTES", "shape": [1], "data": [b64(wav(1.0))]}
    body = {"inputs": [audio], "parameters": {"max_completion_tokens": int(FAST)}}
    return httpx.post(f"{server.http}/v2/models/voxtral/infer", json=body).status_code


def grpc_request(audio: bytes, tokens: int | None = None) -> pb.ModelInferRequest:
    """A v2 ModelInfer request with one recording as its BYTES input."""
    tensor = pb.ModelInferRequest.InferInputTensor(name="audio", datatype="BYTES", shape=[1])
    tensor.contents.bytes_contents.append(audio)
    request = pb.ModelInferRequest(model_name="voxtral", inputs=[tensor])
    if tokens is not None:
        request.parameters["max_completion_tokens"].int64_param = tokens
    return request


def grpc_infer(server: Predictor) -> int:
    with grpc.insecure_channel(server.grpc) as channel:  # a new connection each time
        pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(grpc_request(wav(1.0), int(FAST)))
    return 200


CALLS: dict[str, Callable[[Predictor], int]] = {
    "openai_transcriptions": openai_audio,
    "openai_translations": functools.partial(openai_audio, route="translations"),
    "openai_chat": openai_chat,
    "v1_predict": v1_predict,
    "v2_infer": v2_infer,
    "grpc_infer": grpc_infer,
}
