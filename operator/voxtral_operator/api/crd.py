"""Generate the VoxtralService CRD from the pydantic models of `service.py`.

    python -m voxtral_operator.api.crd            # write manifests/crds/voxtral.dev_<plural>.yaml
    python -m voxtral_operator.api.crd --check    # exit 1 when the committed file differs
    python -m voxtral_operator.api.crd -o -       # print it

Pydantic writes JSON Schema (draft 2020-12); Kubernetes wants a structural OpenAPI v3.0
schema. The conversion inlines `$defs`, drops titles and `additionalProperties: false`
(the API server prunes unknown fields, and rejects them under kubectl's default strict field
validation), turns defaults into description text (the operator applies them), marks
int-or-string quantities, types Kubernetes' own objects (affinity) with Kubernetes' schema
(api/kubernetes.py), and attaches each model's `cel_rules` as x-kubernetes-validations.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel

from voxtral_operator.api import kubernetes
from voxtral_operator.api import service as api

DEFAULT_PATH: Final = Path("manifests/crds/voxtral.dev_voxtralservices.yaml")
CRD_NAME: Final = f"{api.PLURAL}.{api.GROUP}"


def _models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every model class reachable from root, by class name (pydantic's $defs keys)."""
    found: dict[str, type[BaseModel]] = {}

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp.__name__ in found:
                return
            found[tp.__name__] = tp
            for info in tp.model_fields.values():
                visit(info.annotation)
        for arg in getattr(tp, "__args__", ()) or ():
            visit(arg)

    visit(root)
    return found


def _describe_default(node: dict[str, Any]) -> None:
    if "default" not in node:
        return
    default = node.pop("default")
    if default is None or default in ([], {}, ""):
        return
    text = json.dumps(default) if not isinstance(default, str) else default
    description = node.get("description", "").rstrip()
    node["description"] = f"{description} Default: {text}.".strip()


def _convert(node: Any, defs: dict[str, Any], models: dict[str, type[BaseModel]]) -> Any:
    if isinstance(node, list):
        return [_convert(item, defs, models) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    rules: list[tuple[str, str]] = []
    if "$ref" in node:
        name = node.pop("$ref").split("/")[-1]
        target = dict(defs[name])
        rules = list(getattr(models.get(name), "cel_rules", ()))
        # The field's own description wins over the model's docstring.
        node = {**target, **node}
    typed = node.pop("x-voxtral-kubernetes-type", None)
    if typed is not None:  # a Kubernetes type (api/kubernetes.py): its own schema
        schema = kubernetes.structural(str(typed))
        if "description" in node:
            schema["description"] = " ".join(str(node["description"]).split())
        return schema
    node.pop("title", None)
    node.pop("propertyNames", None)  # unsupported by Kubernetes; the operator checks keys
    if "patternProperties" in node:  # likewise: keep the values' schema, drop the key pattern
        node["additionalProperties"] = next(iter(node.pop("patternProperties").values()))
    _describe_default(node)
    if "description" in node:
        node["description"] = " ".join(str(node["description"]).split())

    any_of = node.get("anyOf")
    if isinstance(any_of, list):
        branches = [b for b in any_of if b.get("type") != "null"]
        if node.get("x-kubernetes-int-or-string"):
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        elif len(branches) == 1:
            node.pop("anyOf")
            merged = _convert(branches[0], defs, models)
            merged.update({k: v for k, v in node.items() if k != "anyOf"})
            node = merged
        else:
            node["anyOf"] = branches
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("exclusiveMinimum") is not None and not isinstance(node["exclusiveMinimum"], bool):
        node["minimum"] = node.pop("exclusiveMinimum")
        node["exclusiveMinimum"] = True
    if node.get("additionalProperties") is False:
        node.pop("additionalProperties")
    elif node.get("additionalProperties") is True or (
        node.get("type") == "object"
        and "properties" not in node
        and "additionalProperties" not in node
    ):
        node.pop("additionalProperties", None)
        node["x-kubernetes-preserve-unknown-fields"] = True
    for key in ("properties",):
        if key in node:
            node[key] = {k: _convert(v, defs, models) for k, v in node[key].items()}
    for key in ("items", "additionalProperties", "anyOf"):
        if isinstance(node.get(key), dict | list):
            node[key] = _convert(node[key], defs, models)
    if rules:
        node["x-kubernetes-validations"] = [
            {"rule": rule, "message": message} for rule, message in rules
        ]
    return node


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    models = _models(model)
    schema: dict[str, Any] = _convert(raw, defs, models)
    rules = getattr(model, "cel_rules", ())
    if rules:
        schema["x-kubernetes-validations"] = [{"rule": r, "message": m} for r, m in rules]
    return schema


def build_crd() -> dict[str, Any]:
    spec_schema = openapi_schema(api.VoxtralServiceSpec)
    status_schema = openapi_schema(api.VoxtralServiceStatus)
    status_schema["properties"]["conditions"]["x-kubernetes-list-type"] = "map"
    status_schema["properties"]["conditions"]["x-kubernetes-list-map-keys"] = ["type"]
    root = {
        "type": "object",
        "description": " ".join((api.VoxtralService.__doc__ or "").split()),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
        "x-kubernetes-validations": [
            {"rule": rule, "message": message} for rule, message in api.ObjectMeta.cel_rules
        ],
    }
    ready = '.status.conditions[?(@.type=="Ready")]'
    columns = [
        {"name": "Model", "type": "string", "jsonPath": ".status.model"},
        {
            "name": "Replicas",
            "type": "string",
            "jsonPath": ".status.replicaSummary",
            "description": "Ready/desired replicas",
        },
        {
            "name": "GPUs",
            "type": "integer",
            "jsonPath": ".status.gpusPerReplica",
            "description": "GPUs per replica",
        },
        {"name": "Ready", "type": "string", "jsonPath": f"{ready}.status"},
        {"name": "Reason", "type": "string", "jsonPath": f"{ready}.reason", "priority": 1},
        {
            "name": "Autoscaling",
            "type": "string",
            "jsonPath": ".status.autoscaling.mode",
            "description": "Who sets the replicas (spec.autoscaling.mode)",
            "priority": 1,
        },
        {
            "name": "Limited",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="ScalingLimited")].reason',
            "description": "Why no more replicas are added, while that holds",
            "priority": 1,
        },
        {
            "name": "Last-Scale",
            "type": "date",
            "jsonPath": ".status.autoscaling.lastScaleTime",
            "priority": 1,
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {
                "app.kubernetes.io/name": "voxtral-operator",
                "app.kubernetes.io/part-of": "voxtral-operator",
            },
        },
        "spec": {
            "group": api.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": api.KIND,
                "listKind": f"{api.KIND}List",
                "plural": api.PLURAL,
                "singular": api.SINGULAR,
                "shortNames": list(api.SHORT_NAMES),
                "categories": ["voxtral"],
            },
            "versions": [
                {
                    "name": api.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


HEADER: Final = (
    "# Generated from operator/voxtral_operator/api/service.py by\n"
    "# `python -m voxtral_operator.api.crd` (make manifests).\n"
    "# Do not edit: change the models and regenerate.\n"
)


def render_crd() -> str:
    return HEADER + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m voxtral_operator.api.crd",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-o",
        "--output",
        default=str(DEFAULT_PATH),
        help="file to write, or - for stdout (default: %(default)s)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare with the file instead of writing it; exit 1 if it differs",
    )
    args = parser.parse_args(argv)
    text = render_crd()
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    if args.check:
        current = path.read_text() if path.exists() else ""
        if current != text:
            print(
                f"{path} is out of date: run `python -m voxtral_operator.api.crd` (make manifests)",
                file=sys.stderr,
            )
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
