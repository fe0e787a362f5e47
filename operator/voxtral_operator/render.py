"""`voxtral-operator render -f FILE.yaml`: print every object the operator would create for
the VoxtralService(s) in FILE, as YAML, without a cluster (GitOps, debugging).

Objects get no ownerReferences unless the input carries a metadata.uid, and the Deployment
is printed even though, in a cluster, it waits for the model download to finish. The KEDA
ScaledObject, ServiceMonitor and PrometheusRule are printed as the operator would create them
where their CRDs are installed (a ScaledObject only with spec.autoscaling.prometheusAddress:
the operator's own default is not known here). What cannot be shown is said on stderr, and
the rest is printed (exit 0).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any

import yaml

from voxtral_operator.api import service as api
from voxtral_operator.api.problems import SpecError
from voxtral_operator.api.resolve import parse, resolve
from voxtral_operator.builders import build_children


class RenderError(ValueError):
    pass


def render_documents(docs: Iterable[Any], namespace: str | None = None) -> list[dict[str, Any]]:
    """The children of each VoxtralService document, in creation order."""
    return render_with_notes(docs, namespace)[0]


def render_with_notes(
    docs: Iterable[Any], namespace: str | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The children of each VoxtralService document, in creation order, and a note for each
    object the operator would create in a cluster that cannot be rendered here."""
    objects: list[dict[str, Any]] = []
    notes: list[str] = []
    count = 0
    for index, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise RenderError(f"document {index}: expected a mapping, got {type(doc).__name__}")
        if doc.get("kind") != api.KIND or doc.get("apiVersion") != api.API_VERSION:
            raise RenderError(
                f"document {index}: {doc.get('apiVersion')}/{doc.get('kind')} is not a "
                f"{api.API_VERSION} {api.KIND}"
            )
        count += 1
        body = dict(doc)
        meta = dict(body.get("metadata") or {})
        if namespace and not meta.get("namespace"):
            meta["namespace"] = namespace
        meta.setdefault("namespace", "default")
        body["metadata"] = meta
        try:
            resolved = resolve(parse(body))
        except SpecError as exc:
            raise RenderError(f"document {index} ({meta.get('name')!r}): {exc.message}") from None
        children = build_children(resolved)
        objects.extend(children.all())
        scaling = resolved.scaling
        if scaling is not None and scaling.mode == "keda" and children.scaled_object is None:
            notes.append(
                f"document {index} ({meta.get('name')!r}): no ScaledObject: autoscaling mode "
                "keda needs the Prometheus its triggers query; set "
                "spec.autoscaling.prometheusAddress (the operator's "
                "VOXTRAL_OPERATOR_PROMETHEUS_ADDRESS is not known here)"
            )
    if not count:
        raise RenderError(f"no {api.KIND} found")
    return objects, notes


def render(stream: IO[str], out: IO[str], namespace: str | None = None) -> None:
    try:
        docs = list(yaml.safe_load_all(stream))
    except yaml.YAMLError as exc:
        raise RenderError(f"not valid YAML: {exc}") from None
    objects, notes = render_with_notes(docs, namespace)
    yaml.safe_dump_all(objects, out, sort_keys=False, width=100)
    for note in notes:
        print(f"voxtral-operator render: {note}", file=sys.stderr)


def main(path: str, namespace: str | None = None) -> int:
    try:
        if path == "-":
            render(sys.stdin, sys.stdout, namespace)
        else:
            with open(path, encoding="utf-8") as f:
                render(f, sys.stdout, namespace)
    except OSError as exc:
        print(f"voxtral-operator render: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    except RenderError as exc:
        print(f"voxtral-operator render: {path}: {exc}", file=sys.stderr)
        return 1
    return 0
