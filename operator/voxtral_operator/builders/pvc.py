"""The model-cache PersistentVolumeClaim that a Hugging Face source is downloaded into."""

from __future__ import annotations

from typing import Any

from voxtral_operator.api import names
from voxtral_operator.api.quantity import canonical_quantity
from voxtral_operator.api.resolve import Resolved
from voxtral_operator.builders.meta import finish


def build_cache_claim(resolved: Resolved) -> dict[str, Any] | None:
    if resolved.hugging_face is None:
        return None  # a pvc source is used in place
    cache = resolved.service.spec.cache
    spec: dict[str, Any] = {
        "accessModes": [cache.access_mode],
        "volumeMode": "Filesystem",
        "resources": {"requests": {"storage": canonical_quantity(cache.size)}},
    }
    if cache.storage_class_name:
        spec["storageClassName"] = cache.storage_class_name
    return finish(
        resolved,
        api_version="v1",
        kind="PersistentVolumeClaim",
        name=resolved.claim_name,
        component=names.COMPONENT_CACHE,
        body={"spec": spec},
    )
