"""The built-in kinds' schemas, as kube-apiserver of a given version knows them, and what the
server does with a body through them: the typed check of a server-side apply, canonical
quantities and the fields Go's `omitempty` drops.

The schemas are the OpenAPI definitions kubernetes-validate bundles for Kubernetes 1.25 to
1.37 (generated from each release's api/openapi-spec; the `-strict` variant closes every
object with additionalProperties false), with their `x-kubernetes-list-type` and
`x-kubernetes-list-map-keys` markers.

- Typed apply (k8s.io/apimachinery/pkg/util/managedfields/internal/structuredmerge.go and
  sigs.k8s.io/structured-merge-diff typed/validate.go): a field the schema does not declare is
  "field not declared in schema", and the walk of that map stops there (upstream walks a
  map in Go's map order, so which of its other fields were checked first varies; here, in
  sorted order); two items of a list-map with the same keys are "duplicate entries for key
  [name=\"a\"]" at the list's path; paths are written
  as structured-merge-diff prints them (.field, [key="v",k2=1], [="set item"], [index]); one
  error is "path: message", several are "errors:" and one indented line each.
- Canonical forms (quantity.py): every value of a field whose type is
  io.k8s.apimachinery.pkg.api.resource.Quantity is stored canonical.
- omitempty (encoding/json and the json tags of k8s.io/api): an optional field (not in the
  definition's `required`) holding an empty list or map, or an empty string where the Go field
  is a plain string, is not stored. Strings that are Go pointers keep "" (POINTER_STRINGS,
  from k8s.io/api core/v1, batch/v1 types.go); zero numbers and false booleans of plain Go
  fields are not modelled (the operator writes none).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

from kube_emulator.quantity import canonical

QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
# `*string` fields of the kinds the operator writes (json:"...,omitempty" on a pointer: ""
# is stored as "", not dropped). From k8s.io/api core/v1/types.go and batch/v1/types.go.
POINTER_STRINGS = {
    ("io.k8s.api.core.v1.PersistentVolumeClaimSpec", "storageClassName"),
    ("io.k8s.api.core.v1.PersistentVolumeClaimSpec", "volumeAttributesClassName"),
    ("io.k8s.api.core.v1.PodSpec", "runtimeClassName"),
    ("io.k8s.api.core.v1.ServicePort", "appProtocol"),
    ("io.k8s.api.core.v1.ServiceSpec", "loadBalancerClass"),
    ("io.k8s.api.core.v1.SeccompProfile", "localhostProfile"),
    ("io.k8s.api.batch.v1.JobSpec", "managedBy"),
    ("io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement", "containerName"),
}


@functools.cache
def definitions(version: str) -> Mapping[str, Any]:
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    text = (root / f"v{version}-local-strict" / "_definitions.json").read_text()
    defs: Mapping[str, Any] = json.loads(text)["$defs"]
    return defs


@functools.cache
def definition_of(version: str, group: str, api_version: str, kind: str) -> str | None:
    for name, schema in definitions(version).items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            if (gvk["group"], gvk["version"], gvk["kind"]) == (group, api_version, kind):
                return name
    return None


class Schema:
    """One Kubernetes version's schemas."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.defs = definitions(version)

    def _resolve(self, node: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
        ref = node.get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[-1]
            return name, self.defs[name]
        return None, node

    # --- the typed check of a server-side apply -----------------------------------------------

    def typed_errors(self, definition: str, obj: Any) -> list[str]:
        return list(self._errors(definition, self.defs[definition], obj, ""))

    def _errors(
        self, name: str | None, node: Mapping[str, Any], value: Any, path: str
    ) -> Iterator[str]:
        name, node = self._resolve(node) if "$ref" in node else (name, node)
        if value is None or name == QUANTITY:
            return
        if node.get("x-kubernetes-preserve-unknown-fields") or node.get(
            "x-kubernetes-int-or-string"
        ):
            return
        props = node.get("properties")
        if isinstance(value, dict) and props is not None:
            closed = node.get("additionalProperties") is False
            for key in sorted(value):
                if key not in props:
                    if closed:  # typed/validate.go visitMapItems: the map's walk stops here
                        yield f"{path}.{key}: field not declared in schema"
                        return
                    continue
                yield from self._errors(None, props[key], value[key], f"{path}.{key}")
        elif isinstance(value, dict) and isinstance(node.get("additionalProperties"), dict):
            for key in sorted(value):
                yield from self._errors(
                    None, node["additionalProperties"], value[key], f"{path}.{key}"
                )
        elif isinstance(value, list) and "items" in node:
            items = node["items"]
            keys = node.get("x-kubernetes-list-map-keys") or []
            list_type = node.get("x-kubernetes-list-type", "atomic")
            seen: set[str] = set()
            for index, item in enumerate(value):
                if list_type == "map" and isinstance(item, dict):
                    element = _key_element(item, keys)
                elif list_type == "set":
                    element = f"[={_smd(item)}]"
                else:
                    element = f"[{index}]"
                if list_type in ("map", "set"):
                    if element in seen:
                        yield f"{path}: duplicate entries for key {element}"
                        continue
                    seen.add(element)
                yield from self._errors(None, items, item, path + element)

    # --- what the server stores -----------------------------------------------------------------

    def normalize(self, definition: str, obj: Any) -> Any:
        """The body as the API server stores it (canonical quantities, omitempty)."""
        return self._normalize(definition, self.defs[definition], obj)

    def _normalize(self, name: str | None, node: Mapping[str, Any], value: Any) -> Any:
        name, node = self._resolve(node) if "$ref" in node else (name, node)
        if (
            name == QUANTITY
            and isinstance(value, str | int | float)
            and not isinstance(value, bool)
        ):
            return canonical(value)
        props = node.get("properties")
        if isinstance(value, dict) and props is not None:
            required = set(node.get("required") or ())
            out = {}
            for key, item in value.items():
                if key not in props:
                    continue  # decoding into the Go type drops a field it does not know
                item = self._normalize(None, props[key], item)
                if key not in required and self._omitted(name, key, props[key], item):
                    continue
                out[key] = item
            return out
        if isinstance(value, dict) and isinstance(node.get("additionalProperties"), dict):
            return {
                k: self._normalize(None, node["additionalProperties"], v) for k, v in value.items()
            }
        if isinstance(value, list) and "items" in node:
            return [self._normalize(None, node["items"], item) for item in value]
        return value

    def _omitted(
        self, definition: str | None, key: str, node: Mapping[str, Any], value: Any
    ) -> bool:
        """Whether encoding/json leaves out this optional field: an empty list or map, or ""
        in a plain string. A struct is never left out (a pointer to {} is not nil)."""
        _, node = self._resolve(node) if "$ref" in node else (None, node)
        if isinstance(value, list) or (isinstance(value, dict) and "properties" not in node):
            return not value
        return value == "" and (definition, key) not in POINTER_STRINGS


def _smd(value: Any) -> str:
    """A value as structured-merge-diff prints it in a path (value.ToString): JSON."""
    return json.dumps(value, separators=(",", ":"))


def _key_element(item: Mapping[str, Any], keys: list[str]) -> str:
    parts = [f"{k}={_smd(item[k])}" for k in sorted(keys) if k in item]
    return "[" + ",".join(parts) + "]"
