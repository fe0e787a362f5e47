"""Names of the children of a VoxtralService, and the labels and annotations they carry."""

from __future__ import annotations

from typing import Final

OPERATOR: Final = "voxtral-operator"
APP: Final = "voxtral"

LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_PART_OF: Final = "app.kubernetes.io/part-of"
ANNOTATION_SPEC_HASH: Final = "voxtral.dev/spec-hash"
FIELD_MANAGER: Final = OPERATOR

COMPONENT_PREDICTOR: Final = "predictor"
COMPONENT_DOWNLOAD: Final = "model-download"
COMPONENT_CACHE: Final = "model-cache"


def deployment(service: str) -> str:
    return service


def service(service: str) -> str:
    return service


def pdb(service: str) -> str:
    return service


def cache_claim(service: str) -> str:
    return f"{service}-model-cache"


def download_job(service: str, source_hash: str) -> str:
    return f"{service}-download-{source_hash[:8]}"
