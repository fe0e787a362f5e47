"""Label and field selectors of lists and watches.

- Labels (k8s.io/apimachinery pkg/labels/selector.go), the forms the operator and kopf use:
  k=v, k==v, k!=v, k, !k, comma-separated (all must hold).
- Fields: every kind selects on metadata.name and metadata.namespace; core/v1 Events also on
  involvedObject.{kind,namespace,name,uid,apiVersion,resourceVersion,fieldPath}, reason,
  reportingComponent, source and type (pkg/registry/core/event/strategy.go
  ToSelectableFields). Any other field is answered 400 "field label not supported: <field>".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kube_emulator.errors import ApiError

Predicate = Callable[[Mapping[str, Any]], bool]


def label_selector(text: str) -> Predicate:
    terms = [t.strip() for t in text.split(",") if t.strip()]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        for term in terms:
            if "!=" in term:
                key, value = term.split("!=", 1)
                if labels.get(key.strip()) == value.strip():
                    return False
            elif "=" in term:
                key, value = term.replace("==", "=").split("=", 1)
                if labels.get(key.strip()) != value.strip():
                    return False
            elif term.startswith("!"):
                if term[1:] in labels:
                    return False
            elif term not in labels:
                return False
        return True

    return matches


def _event_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    involved = obj.get("involvedObject") or {}
    source = (obj.get("source") or {}).get("component") or obj.get("reportingComponent") or ""
    fields = {
        f"involvedObject.{k}": str(involved.get(k) or "")
        for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    }
    fields.update(
        reason=str(obj.get("reason") or ""),
        reportingComponent=str(obj.get("reportingComponent") or ""),
        source=str(source),
        type=str(obj.get("type") or ""),
    )
    return fields


def _fields(plural: str, obj: Mapping[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    fields = {
        "metadata.name": str(meta.get("name") or ""),
        "metadata.namespace": str(meta.get("namespace") or ""),
    }
    if plural == "events":
        fields.update(_event_fields(obj))
    return fields


def field_selector(plural: str, text: str) -> Predicate:
    terms: list[tuple[str, str, bool]] = []
    known = set(_fields(plural, {"involvedObject": {}}))
    for term in (t.strip() for t in text.split(",") if t.strip()):
        negate = "!=" in term
        key, value = term.split("!=" if negate else "=", 1)
        key = key.strip()
        value = value.strip().lstrip("=")
        if key not in known:
            raise ApiError(400, "BadRequest", f"field label not supported: {key}")
        terms.append((key, value, negate))

    def matches(obj: Mapping[str, Any]) -> bool:
        values = _fields(plural, obj)
        return all((values[k] == v) != negate for k, v, negate in terms)

    return matches
