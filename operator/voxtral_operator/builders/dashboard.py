"""The Grafana dashboard of a Voxtral service (JSON model, schema version 39).

One builder for both forms: the generic dashboard under `manifests/grafana/` (choose the
namespace and the service in its variables) and each service's own, in the ConfigMap of
`monitoring.build_dashboard_config_map` (variables fixed to that service, hidden). The
`service` variable lists the `service` label that the ServiceMonitor's scrapes carry; the
replica and GPU panels read kube-state-metrics (kube-prometheus-stack ships both); the
gateway panels read voxtral-gateway's series (the chart's ServiceMonitor scrapes them), by
the served name in the `model` variable.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from voxtral_operator.builders import promql

SCHEMA_VERSION: Final = 39
GENERIC_UID: Final = "voxtral"
WIDTH: Final = 12
HEIGHT: Final = 8
RATE: Final = "$__rate_interval"
DATASOURCE: Final = {"type": "prometheus", "uid": "${datasource}"}


def uid_of(namespace: str, service: str) -> str:
    """A dashboard uid of at most 40 characters, one per service."""
    return "voxtral-" + hashlib.sha256(f"{namespace}/{service}".encode()).hexdigest()[:16]


def _panel(
    index: int, title: str, unit: str, targets: list[tuple[str, str]], description: str
) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": (index % 2) * WIDTH, "y": (index // 2) * HEIGHT, "w": WIDTH, "h": HEIGHT},
        "fieldConfig": {"defaults": {"unit": unit, "min": 0}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
            }
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def panels(gpu_resource: str = "nvidia.com/gpu") -> list[dict[str, Any]]:
    sel = promql.pods("$namespace", "$service")
    dep = promql.deployment("$namespace", "$service")
    gpu = promql.gpu_resource_label(gpu_resource)

    def quantiles(histogram: str, by: str = "") -> list[tuple[str, str]]:
        suffix = f" {{{{{by}}}}}" if by else ""
        return [
            (promql.quantile(q, histogram, sel, RATE, by), f"p{round(q * 100)}{suffix}")
            for q in (0.5, 0.95)
        ]

    failed = f'code!~"{promql.SUCCESS_CODES}"'
    specs: list[tuple[str, str, list[tuple[str, str]], str]] = [
        (
            "Audio processed",
            "s",
            [(f"sum by (task) (rate({promql.AUDIO_SECONDS}{{{sel}}}[{RATE}]))", "{{task}}")],
            "Seconds of input audio transcribed or translated per second, by task.",
        ),
        (
            "Real-time factor",
            "short",
            quantiles(promql.RTF, "task"),
            "Processing seconds per second of audio (0.01: 100x faster than real time).",
        ),
        (
            "Queue and in flight",
            "short",
            [
                (f"sum({promql.QUEUED}{{{sel}}})", "predictor queue"),
                (f"sum({promql.WAITING}{{{sel}}})", "engine waiting"),
                (f"sum({promql.RUNNING}{{{sel}}})", "engine running"),
                (f"sum({promql.IN_FLIGHT}{{{sel}}})", "requests in flight"),
            ],
            "Requests waiting (the autoscaler's queue signal) and being served.",
        ),
        (
            "Queue time",
            "s",
            [
                *((q, f"engine {legend}") for q, legend in quantiles(promql.QUEUE_TIME)),
                *((q, f"predictor {legend}") for q, legend in quantiles(promql.QUEUE_WAIT)),
            ],
            "How long requests wait for a slot in the predictor (--max-concurrency), and "
            "then in vLLM's queue before their first step.",
        ),
        (
            "Time to first token",
            "s",
            quantiles(promql.TTFT),
            "From a request's arrival at the engine to its first output token.",
        ),
        (
            "Errors by code",
            "reqps",
            [
                (
                    f"sum by (code) (rate({promql.REQUESTS}{{{sel},{failed}}}[{RATE}]))",
                    "{{code}}",
                )
            ],
            "Requests answered with an error, by HTTP status or gRPC status name (429 and "
            "RESOURCE_EXHAUSTED: admission queue full; 499: the client left).",
        ),
        (
            "Replicas: desired and ready",
            "short",
            [
                (f"sum(kube_deployment_spec_replicas{{{dep}}})", "desired"),
                (f"sum(kube_deployment_status_replicas_ready{{{dep}}})", "ready"),
            ],
            "The Deployment's replicas as the autoscaler set them, and those serving.",
        ),
        (
            "GPUs",
            "short",
            [
                (
                    f'sum(kube_pod_container_resource_requests{{{sel},resource="{gpu}"}})',
                    "GPUs requested",
                )
            ],
            f"GPUs ({gpu_resource}) held by the service's pods, scheduled or not.",
        ),
        (
            "KV cache use",
            "percentunit",
            [(f"max by (pod) ({promql.KV_CACHE}{{{sel}}})", "{{pod}}")],
            "Each replica's fullest engine; vLLM preempts sequences near 100 %.",
        ),
        (
            "Request duration by endpoint (p95)",
            "s",
            [
                (
                    promql.quantile(0.95, promql.DURATION, sel, RATE, "endpoint"),
                    "{{endpoint}}",
                )
            ],
            "From request accepted to response complete, by endpoint.",
        ),
    ]
    return [
        _panel(i, title, unit, targets, description)
        for i, (title, unit, targets, description) in enumerate(specs + _gateway_panels())
    ]


def _gateway_panels() -> list[tuple[str, str, list[tuple[str, str]], str]]:
    """What voxtral-gateway saw of the service (its series carry the served name as
    `model`; empty without the gateway)."""
    model = 'model="$model"'
    return [
        (
            "Gateway: requests by code",
            "reqps",
            [
                (
                    f"sum by (code) (rate({promql.GATEWAY_REQUESTS}{{{model}}}[{RATE}]))",
                    "{{code}}",
                ),
                (f"sum(rate({promql.GATEWAY_RETRIES}{{{model}}}[{RATE}]))", "retried"),
            ],
            "Requests answered through voxtral-gateway, by HTTP status or gRPC status name "
            "(401/429: API keys; 503: no replica within the hold time), and those it sent "
            "again to another replica after a 429 or 503.",
        ),
        (
            "Gateway: held requests and ready replicas",
            "short",
            [
                (f"sum({promql.GATEWAY_HELD}{{{model}}})", "held (scale from zero)"),
                (f"max({promql.GATEWAY_READY}{{{model}}})", "ready replicas routed to"),
            ],
            "Requests the gateway holds while no replica is ready (scaled to zero, or all "
            "restarting), and the ready replicas it routes to.",
        ),
        (
            "Gateway: requests per replica",
            "reqps",
            [
                (
                    f"sum by (replica) (rate({promql.GATEWAY_ROUTED}{{{model}}}[{RATE}]))",
                    "{{replica}}",
                )
            ],
            "Requests the gateway sent to each replica (least outstanding audio first): "
            "even shares mean the load is balanced.",
        ),
        (
            "Gateway: upstream time",
            "s",
            [
                (promql.quantile(q, promql.GATEWAY_UPSTREAM, model, RATE), f"p{round(q * 100)}")
                for q in (0.5, 0.95)
            ],
            "From the gateway sending a request to a replica to the end of its answer.",
        ),
    ]


def _variable(name: str, label: str, query: str, value: str | None) -> dict[str, Any]:
    variable: dict[str, Any] = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "includeAll": False,
        "multi": False,
        "hide": 0,
    }
    if value is not None:
        variable |= {"current": {"text": value, "value": value}, "hide": 2}
    return variable


def build_dashboard(
    namespace: str | None = None,
    service: str | None = None,
    gpu_resource: str = "nvidia.com/gpu",
    model: str | None = None,
) -> dict[str, Any]:
    """The dashboard, for one service (namespace, service and its served name `model`
    given) or for any (None)."""
    one = namespace is not None and service is not None
    title = f"Voxtral: {namespace}/{service}" if one else "Voxtral"
    return {
        "uid": uid_of(str(namespace), str(service)) if one else GENERIC_UID,
        "title": title,
        "description": "Load, latency, errors, replicas and GPUs of a Voxtral speech service "
        "(voxtral-operator).",
        "tags": ["voxtral", "speech", "vllm"],
        "editable": True,
        "schemaVersion": SCHEMA_VERSION,
        "timezone": "browser",
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "hide": 0,
                },
                _variable(
                    "namespace",
                    "Namespace",
                    f"label_values({promql.RUNNING}, namespace)",
                    namespace if one else None,
                ),
                _variable(
                    "service",
                    "Service",
                    f'label_values({promql.RUNNING}{{namespace="$namespace"}}, service)',
                    service if one else None,
                ),
                _variable(
                    "model",
                    "Served name (gateway)",
                    f"label_values({promql.GATEWAY_READY}, model)",
                    (model or service) if one else None,
                ),
            ]
        },
        "panels": panels(gpu_resource),
    }
