"""The InferencePool (inference.networking.k8s.io/v1) as the Gateway API Inference
Extension's Go types define it, for checking what the operator builds: no Python package
ships models of it, so these are written from kubernetes-sigs/gateway-api-inference-extension
api/v1/inferencepool_types.go and shared_types.go (commit 84436a96), field by field with
their kubebuilder validations (required fields, MinItems/MaxItems, enums, ranges, patterns).
Unknown fields are refused (the API server prunes them, so a misspelt field would be lost
without a word). endpointPickerRef is required, as the CRDs of releases v1.0 to v1.5 require it
(optional from v1.6); appProtocol exists from v1.4 only. Metadata is Kubernetes' ObjectMeta, checked elsewhere."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

LabelKey = Annotated[
    str,
    Field(
        max_length=317,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$",
    ),
]
LabelValue = Annotated[
    str, Field(max_length=63, pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
]
PortNumber = Annotated[int, Field(ge=1, le=65535)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabelSelector(_Strict):
    matchLabels: Annotated[dict[LabelKey, LabelValue], Field(min_length=1, max_length=64)]


class Port(_Strict):
    number: PortNumber


class EndpointPickerRef(_Strict):
    group: Annotated[
        str,
        Field(
            max_length=253,
            pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ] = ""
    kind: Annotated[
        str, Field(min_length=1, max_length=63, pattern=r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
    ] = "Service"
    name: Annotated[str, Field(min_length=1, max_length=253)]
    port: Port | None = None
    failureMode: Literal["FailOpen", "FailClose"] = "FailClose"

    @model_validator(mode="after")
    def _port_for_a_service(self) -> EndpointPickerRef:
        if self.kind == "Service" and self.port is None:
            raise ValueError("port is required when kind is 'Service' or unspecified")
        return self


class InferencePoolSpec(_Strict):
    selector: LabelSelector
    targetPorts: Annotated[list[Port], Field(min_length=1, max_length=8)]
    appProtocol: Literal["http", "kubernetes.io/h2c"] = "http"
    endpointPickerRef: EndpointPickerRef  # required by the CRDs of v1.0 to v1.5

    @model_validator(mode="after")
    def _unique_ports(self) -> InferencePoolSpec:
        numbers = [p.number for p in self.targetPorts]
        if len(set(numbers)) != len(numbers):
            raise ValueError("port number must be unique")
        return self


class InferencePool(_Strict):
    apiVersion: Literal["inference.networking.k8s.io/v1"]
    kind: Literal["InferencePool"]
    metadata: dict[str, Any]
    spec: InferencePoolSpec
