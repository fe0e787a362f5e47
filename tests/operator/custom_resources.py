"""Offline checks of the custom resources the operator builds for KEDA, the Prometheus
Operator and the Gateway API Inference Extension, whose CRDs no cluster here can serve and
kubernetes-validate does not know (the InferencePool's model: inference_pool_model.py).

Their structure is checked against pydantic models generated from the projects' own CRDs
(cloudcoil-models-keda 2.16.1, cloudcoil-models-prometheus-operator 0.80.1): every field's
name, nesting and type. The models accept unknown fields silently, so the check is a round
trip: what the model keeps must be the whole object, or a field is misspelt or misplaced.
What these models cannot check (the CRDs' own validation rules, PromQL, a trigger's
metadata keys, which KEDA reads as free-form strings) is not checked here; the builders'
tests look at those by hand. Built-in kinds go to kubernetes-validate --strict.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import kubernetes_validate
from pydantic import BaseModel


@cache
def _models() -> dict[tuple[str, str], type[BaseModel]]:
    from cloudcoil.models.keda.v1alpha1 import ScaledObject
    from cloudcoil.models.prometheus_operator.v1 import PodMonitor, PrometheusRule, ServiceMonitor
    from inference_pool_model import InferencePool

    return {
        ("inference.networking.k8s.io/v1", "InferencePool"): InferencePool,
        ("keda.sh/v1alpha1", "ScaledObject"): ScaledObject,
        ("monitoring.coreos.com/v1", "ServiceMonitor"): ServiceMonitor,
        ("monitoring.coreos.com/v1", "PodMonitor"): PodMonitor,
        ("monitoring.coreos.com/v1", "PrometheusRule"): PrometheusRule,
    }


def is_custom(obj: dict[str, Any]) -> bool:
    return (obj.get("apiVersion"), obj.get("kind")) in _models()


def _differences(kept: Any, given: Any, path: str = "") -> list[str]:
    if isinstance(given, dict):
        if not isinstance(kept, dict):
            return [f"{path or '/'}: not an object"]
        found = []
        for key, value in given.items():
            if key not in kept:
                found.append(f"{path}/{key}: unknown field")
            else:
                found += _differences(kept[key], value, f"{path}/{key}")
        return found
    if isinstance(given, list):
        if not isinstance(kept, list) or len(kept) != len(given):
            return [f"{path}: not the same list"]
        return [
            d
            for i, (k, g) in enumerate(zip(kept, given, strict=True))
            for d in _differences(k, g, f"{path}[{i}]")
        ]
    if kept != given and str(kept) != str(given):
        return [f"{path}: {given!r} read as {kept!r}"]
    return []


def custom_problems(obj: dict[str, Any]) -> list[str]:
    """What is wrong with a KEDA, Prometheus Operator or InferencePool object ([] when
    nothing is)."""
    from pydantic import ValidationError

    model = _models()[(obj["apiVersion"], obj["kind"])]
    try:
        parsed = model.model_validate(obj)
    except ValidationError as exc:
        return [str(exc)]
    kept = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
    return _differences(kept, obj)


def validate(obj: dict[str, Any], version: str) -> None:
    """Raise when the object is not valid: built-in kinds with kubernetes-validate --strict
    for that Kubernetes version, the custom ones against their projects' models."""
    if is_custom(obj):
        problems = custom_problems(obj)
        assert problems == [], f"{obj['kind']} {obj['metadata']['name']}: {problems}"
    else:
        kubernetes_validate.validate(obj, version, strict=True)
