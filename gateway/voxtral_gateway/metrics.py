"""The gateway's Prometheus metrics (voxtral_gateway_*), served on its HTTP port. The served
name is the `model` label: `service` is the label Prometheus's Kubernetes discovery gives
every scraped target (the Service's name), and a metric label of that name would be renamed
`exported_service` on the way in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry()

REQUESTS = Counter(
    "voxtral_gateway_requests",
    "Requests answered, by model (the served name), protocol (http, grpc) and status code",
    ["model", "protocol", "code"],
    registry=REGISTRY,
)
ROUTED = Counter(
    "voxtral_gateway_routing_decisions",
    "Requests sent to a replica (retries included), by model and replica",
    ["model", "replica"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "voxtral_gateway_retries",
    "Requests sent again to another replica after a 429 or 503, by model",
    ["model"],
    registry=REGISTRY,
)
UPSTREAM_SECONDS = Histogram(
    "voxtral_gateway_upstream_seconds",
    "Time from sending a request to a replica to the end of its answer, by model",
    ["model"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
    registry=REGISTRY,
)
READY_REPLICAS = Gauge(
    "voxtral_gateway_ready_replicas",
    "Ready replicas the gateway routes to, by model",
    ["model"],
    registry=REGISTRY,
)
REJECTED = Counter(
    "voxtral_gateway_rejected",
    "Requests the gateway refused itself: no valid API key (unauthorized), or a key over its "
    "audio seconds a minute (rate_limited); by reason and key name",
    ["reason", "key"],
    registry=REGISTRY,
)
HELD = Gauge(
    "voxtral_gateway_held_requests",
    "Requests waiting for a replica of their service to turn ready (scale from zero)",
    ["model"],
    registry=REGISTRY,
)
IN_FLIGHT = Gauge(
    "voxtral_gateway_requests_in_flight",
    "Requests in flight through the gateway, by model",
    ["model"],
    registry=REGISTRY,
)


def exposition() -> bytes:
    return generate_latest(REGISTRY)
