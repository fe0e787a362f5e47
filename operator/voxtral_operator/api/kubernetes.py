"""Kubernetes' own types inside the VoxtralService spec (a core/v1 Affinity), checked against
the real Kubernetes schema before anything is applied, and typed in the CRD with it.

`kubernetes_schemas.json` beside this file holds the definitions (and those they refer to)
from the OpenAPI schema of Kubernetes 1.37, as kubernetes-validate bundles it; `make
manifests` regenerates it (tools/manifests.py) and a test fails when it drifts. Without this
check a typo under spec.scheduling.affinity reaches the API server inside a server-side
apply, which answers 500 "failed to create typed patch object" (kubernetes/kubernetes
#122480) at the Deployment's first write; here the message names the field and the fix.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any, Final

SCHEMAS: Final = "kubernetes_schemas.json"
AFFINITY: Final = "io.k8s.api.core.v1.Affinity"
KUBERNETES_VERSION: Final = "1.37"
_JSON_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


@functools.cache
def definitions() -> Mapping[str, Any]:
    text = (resources.files("voxtral_operator.api") / SCHEMAS).read_text(encoding="utf-8")
    defs: Mapping[str, Any] = json.loads(text)["definitions"]
    return defs


def _short(name: str) -> str:
    """io.k8s.api.core.v1.NodeSelectorTerm -> core/v1 NodeSelectorTerm."""
    parts = name.split(".")
    return f"{parts[-3]}/{parts[-2]} {parts[-1]}"


def _resolve(node: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    ref = node.get("$ref")
    if not ref:
        return None, node
    name = str(ref).rsplit("/", 1)[-1]
    return name, definitions()[name]


def problems(definition: str, value: Any, where: str) -> list[str]:
    """What the API server would refuse in `value` as a `definition`, one line per problem,
    each naming its place (e.g. spec.scheduling.affinity.nodeAffinity...[0].matchExpresions)."""
    return list(_problems(definition, definitions()[definition], value, where))


def _problems(name: str | None, node: Mapping[str, Any], value: Any, where: str) -> Iterator[str]:
    if "$ref" in node:
        name, node = _resolve(node)
    expected = node.get("type")
    if value is None:
        return
    if (expected and not isinstance(value, _JSON_TYPES[expected])) or (
        expected in ("integer", "number") and isinstance(value, bool)
    ):
        yield f"{where}: must be of type {expected}, not {type(value).__name__}"
        return
    if "enum" in node and value not in node["enum"]:
        yield f"{where}: {value!r} is not allowed: use one of {', '.join(map(str, node['enum']))}"
    props = node.get("properties")
    if isinstance(value, dict) and props is not None:
        what = _short(name) if name else "this object"
        for key in value:
            if key not in props:
                hint = difflib.get_close_matches(str(key), list(props), n=1)
                advice = f"did you mean {hint[0]!r}? " if hint else ""
                yield (
                    f"{where}.{key}: unknown field {key!r} of {what}: {advice}remove it or "
                    f"check its spelling (known fields here: {', '.join(props)})"
                )
        for key in node.get("required") or ():
            if key not in value:
                yield f"{where}.{key}: required field of {what} is missing"
        for key, item in value.items():
            if key in props:
                yield from _problems(None, props[key], item, f"{where}.{key}")
    elif isinstance(value, dict) and isinstance(node.get("additionalProperties"), dict):
        for key, item in value.items():
            yield from _problems(None, node["additionalProperties"], item, f"{where}.{key}")
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            yield from _problems(None, node["items"], item, f"{where}[{index}]")


def structural(definition: str) -> dict[str, Any]:
    """The definition as a CRD's structural schema: references inlined."""
    schema: dict[str, Any] = _inline(definitions()[definition])
    return schema


def _inline(node: Any) -> Any:
    if isinstance(node, list):
        return [_inline(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline(_resolve(node)[1])
    return {key: _inline(value) for key, value in node.items()}
