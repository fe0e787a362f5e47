"""The one helper for labels, ownership and the spec-hash annotation of every child."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from voxtral_operator.api import names
from voxtral_operator.api.resolve import Resolved
from voxtral_operator.api.service import API_VERSION, KIND


def selector_labels(service: str) -> dict[str, str]:
    """The immutable Deployment selector: never add to it."""
    return {
        names.LABEL_NAME: names.APP,
        names.LABEL_INSTANCE: service,
        names.LABEL_COMPONENT: names.COMPONENT_PREDICTOR,
    }


def labels(service: str, component: str) -> dict[str, str]:
    return {
        names.LABEL_NAME: names.APP,
        names.LABEL_INSTANCE: service,
        names.LABEL_COMPONENT: component,
        names.LABEL_MANAGED_BY: names.OPERATOR,
        names.LABEL_PART_OF: names.OPERATOR,
    }


def owner_references(resolved: Resolved) -> list[dict[str, Any]]:
    """The controller reference that garbage-collects the child with its VoxtralService.
    Empty when the service has no uid yet (rendered without a cluster)."""
    uid = resolved.service.metadata.uid
    if not uid:
        return []
    return [
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": resolved.name,
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def spec_hash(manifest: dict[str, Any]) -> str:
    """A digest of everything the operator sets on a child, to see a changed desire cheaply."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def finish(
    resolved: Resolved,
    *,
    api_version: str,
    kind: str,
    name: str,
    component: str,
    body: dict[str, Any],
    annotations: dict[str, str] | None = None,
    extra_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Wrap a child's body with metadata: name, labels (the standard ones win over extra
    ones), owner and the spec-hash annotation."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": resolved.namespace,
        "labels": {**(extra_labels or {}), **labels(resolved.name, component)},
        "annotations": dict(annotations or {}),
    }
    refs = owner_references(resolved)
    if refs:
        metadata["ownerReferences"] = refs
    manifest = {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}
    metadata["annotations"][names.ANNOTATION_SPEC_HASH] = spec_hash(manifest)
    return manifest
