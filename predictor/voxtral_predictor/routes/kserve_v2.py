"""KServe v2 REST inference, with the binary tensor extension working for BYTES audio
(KServe 0.21's own route UTF-8-decodes BYTES, which breaks binary audio)."""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter, FastAPI, Request, Response

from .. import inference, jsonbody
from ..errors import ApiError
from ..runtime import Runtime

HEADER_LENGTH = "inference-header-content-length"


def router(model: Runtime) -> APIRouter:
    api = APIRouter()

    @api.post("/v2/models/{name}/versions/{version}/infer")
    async def versioned(name: str, version: str) -> Response:
        raise ApiError(
            404,
            f"model {name!r} has no version {version!r}: this server serves one model "
            f"without versions, at /v2/models/{model.name}/infer",
            code="model_not_found",
        )

    @api.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        if name != model.name:
            raise ApiError(
                404,
                f"model {name!r} does not exist: this server serves {model.name!r}",
                code="model_not_found",
            )
        model.serving  # noqa: B018 - 503 until ready
        raw = await request.body()
        length = inference.byte_count(request.headers.get(HEADER_LENGTH) or len(raw), HEADER_LENGTH)
        header = await jsonbody.parse_object(raw[:length], "the JSON part of the body")
        tensors, parameters = inference.v2_rest_tensors(
            header, raw[length:], model.options.max_inputs
        )
        names = [o["name"] for o in inference.OUTPUTS]
        wanted = inference.requested_outputs(header.get("outputs"), parameters, names)
        items = inference.parse_v2(tensors, parameters, model.options.max_inputs)
        results = await inference.run(model, items)
        request_id = str(header.get("id") or uuid.uuid4())
        body, binary = inference.v2_response(model.name, request_id, results, wanted)
        text = json.dumps(body).encode()
        if not binary:
            return Response(text, media_type="application/json")
        return Response(
            text + binary,
            media_type="application/octet-stream",
            headers={HEADER_LENGTH: str(len(text))},
        )

    return api


def install(app: FastAPI, model: Runtime) -> None:
    app.include_router(router(model))
