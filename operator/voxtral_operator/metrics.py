"""The operator's own Prometheus metrics (prometheus-client)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY: Final = CollectorRegistry(auto_describe=True)

RECONCILES: Final = Counter(
    "voxtral_operator_reconciles_total",
    "Reconciles of a VoxtralService, by what triggered them and how they ended "
    "(ok, waiting, invalid, error).",
    ["trigger", "result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS: Final = Histogram(
    "voxtral_operator_reconcile_duration_seconds",
    "Time one reconcile took, API calls included.",
    ["trigger"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
ERRORS: Final = Counter(
    "voxtral_operator_errors_total",
    "Reconcile errors, by kind: api (the API server failed), refused (it refused a child: "
    "invalid or forbidden), spec (invalid VoxtralService), internal (a bug).",
    ["kind"],
    registry=REGISTRY,
)
WRITES: Final = Counter(
    "voxtral_operator_writes_total",
    "Writes to the API server, by action (apply, delete, status) and kind.",
    ["action", "kind"],
    registry=REGISTRY,
)
API_REQUESTS: Final = Counter(
    "voxtral_operator_api_requests_total",
    "Requests to the Kubernetes API made by the operator's reconciler (kopf's own watches "
    "excluded), by verb, resource and HTTP status.",
    ["verb", "resource", "code"],
    registry=REGISTRY,
)
SERVICES: Final = Gauge(
    "voxtral_operator_managed_services",
    "VoxtralServices this operator replica serves (0 on a peering standby), by their Ready "
    "condition.",
    ["ready"],
    registry=REGISTRY,
)


def count_services(census: Callable[[], tuple[int, int]]) -> None:
    """SERVICES read at each scrape: census() is (ready, not ready)."""
    SERVICES.labels("true").set_function(lambda: census()[0])
    SERVICES.labels("false").set_function(lambda: census()[1])


AUTOSCALER_TICKS: Final = Counter(
    "voxtral_operator_autoscaler_ticks_total",
    "Ticks of the operator-mode autoscaler, by result (ok, error: an API call failed).",
    ["result"],
    registry=REGISTRY,
)
AUTOSCALER_READS: Final = Counter(
    "voxtral_operator_autoscaler_reads_total",
    "Reads of a ready replica's /metrics by the operator-mode autoscaler, by result (ok, "
    "error: no answer, an HTTP error, or not a Voxtral replica's metrics).",
    ["result"],
    registry=REGISTRY,
)
SCALES: Final = Counter(
    "voxtral_operator_scales_total",
    "Changes of a Deployment's replicas by the operator-mode autoscaler, by direction.",
    ["direction"],
    registry=REGISTRY,
)


def observe_request(verb: str, resource: str, code: str) -> None:
    API_REQUESTS.labels(verb, resource, code).inc()


def serve(port: int) -> None:
    """Expose /metrics on port (in a daemon thread)."""
    start_http_server(port, registry=REGISTRY)
