"""The InferencePool of spec.routing (inference.networking.k8s.io/v1, the Gateway API
Inference Extension): the predictor pods as one pool a Gateway routes to, through the
endpoint picker named in spec.routing.endpointPicker. Fields as api/v1/inferencepool_types.go
of kubernetes-sigs/gateway-api-inference-extension defines them: selector.matchLabels,
targetPorts[].number, endpointPickerRef {group, kind, name, port.number, failureMode}
(required by the CRDs of releases v1.0 to v1.5)."""

from __future__ import annotations

from typing import Any, Final

from voxtral_operator.api import names
from voxtral_operator.api.resolve import Resolved
from voxtral_operator.builders.meta import finish, selector_labels
from voxtral_operator.builders.pod import HTTP_PORT

INFERENCE_API: Final = "inference.networking.k8s.io/v1"


def build_inference_pool(resolved: Resolved) -> dict[str, Any] | None:
    routing = resolved.service.spec.routing
    if not routing.inference_pool:
        return None
    picker = routing.endpoint_picker
    assert picker is not None  # the API requires it with inferencePool
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector_labels(resolved.name)},
        # The pods' own port (an endpoint is podIP:port, not the Service's port): the
        # predictor's HTTP port, which also serves the /metrics the picker reads. No
        # appProtocol: its default is http, and CRDs before v1.4 do not have the field.
        "targetPorts": [{"number": HTTP_PORT}],
        "endpointPickerRef": {
            "group": "",
            "kind": "Service",
            "name": picker.service_name,
            "port": {"number": picker.port},
            "failureMode": picker.failure_mode,
        },
    }
    return finish(
        resolved,
        api_version=INFERENCE_API,
        kind="InferencePool",
        name=names.inference_pool(resolved.name),
        component=names.COMPONENT_ROUTING,
        body={"spec": spec},
    )
