"""KServe objects checked against the `kserve` package's own generated models (its OpenAPI
client: V1alpha1ClusterServingRuntime, V1beta1InferenceService and every type they nest,
the Kubernetes ones from the `kubernetes` client), recursively: every field must be one the
model declares, with a value of its declared type. The generated models accept anything on
construction, so the walk is the check. The pod parts (containers, volumes, scheduling) go
to kubernetes-validate --strict as well, inside a Pod, like every other object."""

from __future__ import annotations

import re
from typing import Any

import kserve.models
import kubernetes.client
import kubernetes_validate

PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}
# Declared by name, serialised as a string or a number (resource.Quantity, IntOrString):
# the generators emit no model for them.
SCALARS = {"V1beta1MetricQuantity", "IntOrString"}
TIMES = {"datetime", "date"}  # RFC 3339 strings on the wire (the API server's metadata)
POD_FIELDS = (
    "nodeSelector", "tolerations", "affinity", "priorityClassName", "imagePullSecrets",
    "runtimeClassName", "terminationGracePeriodSeconds", "volumes",
)  # fmt: skip


def _class(name: str) -> Any:
    for module in (kserve.models, kubernetes.client):
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(f"no generated model {name}")


def problems(value: Any, type_name: str, path: str = "") -> list[str]:
    """What in `value` does not fit the generated type `type_name` ([] when all does)."""
    if value is None:
        return []
    if match := re.fullmatch(r"(?:list|List)\[(.+)\]", type_name):
        if not isinstance(value, list):
            return [f"{path}: a list expected"]
        return [p for i, item in enumerate(value) for p in problems(item, match[1], f"{path}[{i}]")]
    if match := re.fullmatch(r"(?:dict\(str, (.+)\)|Dict\[str, (.+)\])", type_name):
        if not isinstance(value, dict):
            return [f"{path}: an object expected"]
        inner = match[1] or match[2]
        return [p for key, item in value.items() for p in problems(item, inner, f"{path}/{key}")]
    if type_name in PRIMITIVES:
        if type_name == "int" and isinstance(value, bool):
            return [f"{path}: an integer expected, not {value!r}"]
        ok = isinstance(value, PRIMITIVES[type_name])  # type: ignore[arg-type]
        return [] if ok else [f"{path}: {type_name} expected, not {value!r}"]
    if type_name in TIMES:
        return [] if isinstance(value, str) else [f"{path}: an RFC 3339 time expected"]
    if type_name in SCALARS:
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{path}: a {type_name} (string or number) expected"]
    cls = _class(type_name)
    if not isinstance(value, dict):
        return [f"{path}: object expected"]
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    found = []
    for key, item in value.items():
        if key not in by_json:
            found.append(f"{path}/{key}: unknown field of {type_name}")
            continue
        found += problems(item, cls.openapi_types[by_json[key]], f"{path}/{key}")
    return found


def kserve_problems(obj: dict[str, Any]) -> list[str]:
    kind = {
        "ClusterServingRuntime": "V1alpha1ClusterServingRuntime",
        "InferenceService": "V1beta1InferenceService",
    }[obj["kind"]]
    found = problems(obj, kind)
    for pod in _pods(obj):
        try:
            kubernetes_validate.validate(pod, "1.37.0", strict=True)
        except kubernetes_validate.ValidationError as exc:
            found.append(f"pod parts: {exc.message}")
    return found


def _pods(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The Pods the object's pod parts would make (KServe merges them into one)."""
    spec = obj["spec"]
    if obj["kind"] == "ClusterServingRuntime":
        pod_spec = {"containers": spec["containers"], "volumes": spec.get("volumes", [])}
    else:
        predictor = spec["predictor"]
        container = {"name": "kserve-container", "image": predictor["model"].get("image", "x")}
        container |= {
            k: v
            for k, v in predictor["model"].items()
            if k not in ("modelFormat", "runtime", "protocolVersion", "storageUri", "name")
        }
        pod_spec = {"containers": [container]}
        pod_spec |= {k: predictor[k] for k in POD_FIELDS if k in predictor}
    meta = {"name": obj["metadata"]["name"]}
    return [{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}]
