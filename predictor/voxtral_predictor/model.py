"""The KServe model: KServe's v1 (a dict of ``instances``) and v2 gRPC (an InferRequest)
entry points, and its health, on a Runtime that owns the engine."""

from __future__ import annotations

import uuid
from typing import Any

import kserve
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from . import inference
from .runtime import Runtime


class VoxtralModel(kserve.Model):  # type: ignore[misc]
    def __init__(self, runtime: Runtime):
        super().__init__(runtime.name)
        self.runtime = runtime
        self.engine = True  # KServe: this model has an engine to start
        self.ready = False

    def get_input_types(self) -> list[dict[str, Any]]:
        return inference.INPUTS

    def get_output_types(self) -> list[dict[str, Any]]:
        return inference.OUTPUTS

    async def predict(
        self, payload: dict[str, Any] | InferRequest, headers: dict[str, str] | None = None
    ) -> dict[str, Any] | InferResponse:
        """KServe v1 (a dict of ``instances``) and v2 gRPC (an InferRequest; v2 REST has its
        own route)."""
        max_inputs = self.runtime.options.max_inputs
        if isinstance(payload, InferRequest):
            items = inference.parse_v2(
                inference.request_tensors(payload.inputs, max_inputs),
                inference.plain_parameters(payload.parameters),
                max_inputs,
            )
            requested = [{"name": o.name} for o in payload.request_outputs or []] or None
            names = [o["name"] for o in inference.OUTPUTS]
            wanted = inference.requested_outputs(requested, {}, names)
            results = await inference.run(self.runtime, items)
            return InferResponse(
                response_id=payload.id or str(uuid.uuid4()),
                model_name=self.name,
                infer_outputs=[
                    InferOutput(name, [len(data)], "BYTES", data)
                    for name, data in inference.v2_outputs(results)
                    if wanted.names is None or name in wanted.names
                ],
                # BYTES in raw_output_contents, as Triton answers: clients read them with
                # numpy 2 (tritonclient cannot read bytes_contents without a copy)
                use_binary_outputs=True,
            )
        items = inference.parse_v1(payload, max_inputs)
        return {"predictions": await inference.run(self.runtime, items)}

    async def healthy(self) -> bool:
        return self.runtime.healthy()
