"""The PromQL of a service's load and health, in one place.

KEDA's triggers (mode keda), the prometheus-adapter rules (mode hpa), the alerts and the
dashboard ask Prometheus the questions the operator's own autoscaler asks each replica's
/metrics (`autoscaling.signals`): for the demand, each replica's requests holding a slot
(`voxtral_requests_in_flight`) or its engine's sequences (`vllm:num_requests_running` +
`vllm:num_requests_waiting`) when more, plus the predictor's admission queue
(`voxtral_requests_queued`); the waiting ones for the queue; the fullest engine's KV cache.

Series are selected by `namespace` and `pod`, the labels every usual scrape set-up gives a
pod's series (the ServiceMonitor of `spec.monitoring`, and pod-annotation scraping). A
Deployment's pods are named `<deployment>-<template hash>-<suffix>`, so `pod=~"<name>-x-y"`
(Prometheus anchors regular expressions) takes this service's replicas and no other
Deployment's, not even one named `<name>-more`. Arguments may be Grafana variables
(`$namespace`). Pure functions of strings.
"""

from __future__ import annotations

import re
from typing import Final

from voxtral_operator.autoscaling import signals

RUNNING: Final = signals.ENGINE_RUNNING
WAITING: Final = signals.ENGINE_WAITING
KV_CACHE: Final = signals.KV_CACHE_USAGE
QUEUE_TIME: Final = "vllm:request_queue_time_seconds"
TTFT: Final = "vllm:time_to_first_token_seconds"
QUEUED: Final = signals.QUEUED
IN_FLIGHT: Final = signals.IN_FLIGHT
REQUESTS: Final = "voxtral_requests_total"
AUDIO_SECONDS: Final = "voxtral_audio_seconds_total"
RTF: Final = "voxtral_real_time_factor"
DURATION: Final = "voxtral_request_duration_seconds"
QUEUE_WAIT: Final = "voxtral_queue_wait_seconds"
# voxtral_requests_total's `code`: an HTTP status, or a gRPC status name on the gRPC port.
FAILED_CODES: Final = "5..|429|RESOURCE_EXHAUSTED|UNAVAILABLE|INTERNAL|UNKNOWN|DEADLINE_EXCEEDED"
SUCCESS_CODES: Final = "2..|OK"

# voxtral-gateway's series (its own Deployment, scraped by the chart's ServiceMonitor),
# labelled `model` with the served name.
GATEWAY_REQUESTS: Final = "voxtral_gateway_requests_total"
GATEWAY_HELD: Final = "voxtral_gateway_held_requests"
GATEWAY_READY: Final = "voxtral_gateway_ready_replicas"
GATEWAY_ROUTED: Final = "voxtral_gateway_routing_decisions_total"
GATEWAY_RETRIES: Final = "voxtral_gateway_retries_total"
GATEWAY_UPSTREAM: Final = "voxtral_gateway_upstream_seconds"

# The names hpa mode's HorizontalPodAutoscaler asks the custom metrics API for (the
# prometheus-adapter rules of `adapter_rules` serve them per pod).
POD_DEMAND: Final = "voxtral_demand"
POD_QUEUE: Final = "voxtral_queue"
POD_KV_CACHE: Final = "voxtral_kv_cache_usage"


def pods(namespace: str, service: str) -> str:
    """The label matchers of one service's replicas."""
    return f'namespace="{namespace}",pod=~"{service}-[a-z0-9]+-[a-z0-9]+"'


def _sum(metric: str, sel: str) -> str:
    return f"(sum({metric}{{{sel}}}) or vector(0))"


def _held_and_queued(by: str, matchers: str) -> tuple[str, str]:
    """Per `by` (a pod): the larger of its requests holding a slot and its engine's
    sequences (a 30-minute recording is one request and up to 32 sequences), and its
    admission queue. The label_replace keeps both sides of `or` apart for the max."""

    def total(metric: str) -> str:
        return f"sum by ({by}) ({metric}{{{matchers}}})"

    engine = f"{total(RUNNING)} + {total(WAITING)}"
    held = (
        f'max by ({by}) (label_replace({engine}, "signal", "engine", "", "") '
        f'or label_replace({total(IN_FLIGHT)}, "signal", "slots", "", ""))'
    )
    return held, total(QUEUED)


def demand(namespace: str, service: str) -> str:
    """Requests the service's replicas hold, and those queued before them: the sum over
    replicas of `ReplicaSignals.demand`."""
    held, queued = _held_and_queued("pod", pods(namespace, service))
    return f"(sum({held}) or vector(0)) + (sum({queued}) or vector(0))"


def queue(namespace: str, service: str) -> str:
    """Requests waiting: vLLM's waiting sequences plus the predictor's admission queue."""
    sel = pods(namespace, service)
    return " + ".join(_sum(m, sel) for m in (WAITING, QUEUED))


def kv_cache(namespace: str, service: str) -> str:
    """The mean over replicas of each replica's fullest engine's KV cache use (0..1)."""
    return f"avg(max by (pod) ({KV_CACHE}{{{pods(namespace, service)}}}))"


def quantile(q: float, histogram: str, sel: str, window: str, by: str = "") -> str:
    group = f"le, {by}" if by else "le"
    return (
        f"histogram_quantile({q:g}, sum by ({group}) (rate({histogram}_bucket{{{sel}}}[{window}])))"
    )


def queue_time_p95(namespace: str, service: str, window: str = "5m") -> str:
    """vLLM's queue: from a sequence's arrival at the engine to its first step."""
    return quantile(0.95, QUEUE_TIME, pods(namespace, service), window)


def admission_wait_p95(namespace: str, service: str, window: str = "5m") -> str:
    """The predictor's queue: a request's wait for a slot (--max-concurrency), before
    the engine sees it."""
    return quantile(0.95, QUEUE_WAIT, pods(namespace, service), window)


def error_ratio(namespace: str, service: str, window: str = "5m") -> str:
    sel = pods(namespace, service)
    failed = f'sum(rate({REQUESTS}{{{sel},code=~"{FAILED_CODES}"}}[{window}]))'
    return f"({failed} or vector(0)) / sum(rate({REQUESTS}{{{sel}}}[{window}]))"


def deployment(namespace: str, service: str) -> str:
    """kube-state-metrics' matchers of the service's Deployment."""
    return f'namespace="{namespace}",deployment="{service}"'


def gpu_resource_label(resource: str) -> str:
    """kube-state-metrics' `resource` label of an extended resource: nvidia.com/gpu is
    nvidia_com_gpu."""
    return re.sub(r"[^A-Za-z0-9_]", "_", resource)


def adapter_rules() -> list[dict[str, object]]:
    """prometheus-adapter rules serving POD_DEMAND, POD_QUEUE and POD_KV_CACHE per pod to
    the custom metrics API (custom.metrics.k8s.io), for mode hpa. `<<.LabelMatchers>>` and
    `<<.GroupBy>>` are the adapter's: the pods the HorizontalPodAutoscaler asks about."""

    def per_pod(metric: str, how: str = "sum") -> str:
        return f"({how} by (<<.GroupBy>>) ({metric}{{<<.LabelMatchers>>}}))"

    def rule(series: str, name: str, query: str) -> dict[str, object]:
        return {
            "seriesQuery": f'{series}{{namespace!="",pod!=""}}',
            "resources": {
                "overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
            },
            "name": {"matches": f"^{series}$", "as": name},
            "metricsQuery": query,
        }

    held, queued = _held_and_queued("<<.GroupBy>>", "<<.LabelMatchers>>")
    return [
        rule(RUNNING, POD_DEMAND, f"{held} + {queued}"),
        rule(WAITING, POD_QUEUE, " + ".join(per_pod(m) for m in (WAITING, QUEUED))),
        rule(KV_CACHE, POD_KV_CACHE, per_pod(KV_CACHE, "max")),
    ]
