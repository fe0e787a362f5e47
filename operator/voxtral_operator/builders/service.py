"""The Service in front of the predictor replicas: http, grpc and metrics ports."""

from __future__ import annotations

from typing import Any

from voxtral_operator.api import names
from voxtral_operator.api.resolve import Resolved
from voxtral_operator.builders.meta import finish, selector_labels


def build_service(resolved: Resolved) -> dict[str, Any]:
    svc = resolved.service.spec.service
    ports = [
        {
            "name": "http",
            "port": svc.http_port,
            "targetPort": "http",
            "protocol": "TCP",
            "appProtocol": "http",
        },
        {
            "name": "grpc",
            "port": svc.grpc_port,
            "targetPort": "grpc",
            "protocol": "TCP",
            "appProtocol": "kubernetes.io/h2c",
        },
        {
            "name": "metrics",
            "port": svc.metrics_port,
            "targetPort": "http",
            "protocol": "TCP",
            "appProtocol": "http",
        },
    ]
    return finish(
        resolved,
        api_version="v1",
        kind="Service",
        name=names.service(resolved.name),
        component=names.COMPONENT_PREDICTOR,
        annotations={
            **svc.annotations,
            names.ANNOTATION_SERVED_NAME: resolved.service.spec.model.served_name,
        },
        body={
            "spec": {
                "type": svc.type,
                "selector": selector_labels(resolved.name),
                "ports": ports,
            }
        },
    )
