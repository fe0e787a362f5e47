"""Every PromQL expression the operator ships (alerts, dashboard panels, KEDA triggers,
prometheus-adapter rules) parses with promql-parser (a port of Prometheus's own parser), and
names only series a real predictor exports. No Prometheus runs here, so the expressions are
not evaluated; what they select is checked against a real /metrics."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import promql_parser
import pytest
from operator_samples import VALID

from tests.conftest import Predictor
from tests.predictor.audiofiles import wav
from voxtral_operator.api.resolve import parse, resolve
from voxtral_operator.builders import build_children, promql
from voxtral_predictor.grpc_gate import STATUS

GRAFANA = {
    "$namespace": "default",
    "$service": "voxtral",
    "$model": "voxtral",
    "$__rate_interval": "5m",
}
ADAPTER = {"<<.LabelMatchers>>": 'namespace="default",pod="voxtral-1-a"', "<<.GroupBy>>": "pod"}
# kube-state-metrics' series (not a predictor's): the alerts' and dashboard's replica counts
KUBE_STATE = {
    "kube_deployment_spec_replicas",
    "kube_deployment_status_replicas_available",
    "kube_deployment_status_replicas_ready",
    "kube_pod_container_resource_requests",
}


def substitute(expr: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        expr = expr.replace(key, value)
    return expr


def shipped() -> Iterator[tuple[str, str]]:
    """(where, expression) for every query of a service with everything on, in mode keda
    (its triggers) and hpa (the adapter rules its HPA reads)."""
    doc: dict[str, Any] = copy.deepcopy(VALID["everything"])
    doc["metadata"]["uid"] = "uid-1"
    doc["spec"]["autoscaling"]["mode"] = "keda"
    children = build_children(resolve(parse(doc), "http://prometheus:9090"))
    assert children.prometheus_rule and children.dashboard and children.scaled_object
    for rule in children.prometheus_rule["spec"]["groups"][0]["rules"]:
        yield rule["alert"], rule["expr"]
    model = json.loads(next(iter(children.dashboard["data"].values())))
    for panel in model["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']}", substitute(target["expr"], GRAFANA)
    for trigger in children.scaled_object["spec"]["triggers"]:
        yield f"trigger {trigger['name']}", trigger["metadata"]["query"]
    for rule in promql.adapter_rules():
        yield f"adapter {rule['seriesQuery']}", substitute(str(rule["seriesQuery"]), ADAPTER)
        yield f"adapter {rule['name']}", substitute(str(rule["metricsQuery"]), ADAPTER)


def series_names(expr: str) -> set[str]:
    return set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr))


def test_every_shipped_query_parses() -> None:
    queries = list(shipped())
    assert len(queries) >= 20
    for where, expr in queries:
        try:
            promql_parser.parse(expr)
        except ValueError as exc:
            pytest.fail(f"{where}: {exc}\n{expr}")


def test_the_parser_is_not_vacuous() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse(f"sum({promql.RUNNING}{{pod=~'x'}}) +")
    with pytest.raises(ValueError):
        promql_parser.parse("max by (pod) (label_replace(x, 'a'))")


def test_every_series_asked_for_is_one_a_predictor_exports(predictor: Predictor) -> None:
    reply = httpx.post(
        f"{predictor.openai_base}/audio/transcriptions",
        files={"file": ("a.wav", wav(1.0))},
        data={"model": "voxtral", "max_completion_tokens": "4"},
        timeout=120,
    )
    assert reply.status_code == 200, reply.text
    text = httpx.get(f"{predictor.http}/metrics", timeout=30).text
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    asked = set().union(*(series_names(expr) for _, expr in shipped()))
    assert {promql.QUEUE_WAIT + "_bucket", promql.RUNNING, promql.IN_FLIGHT} <= asked
    assert asked - KUBE_STATE - gateway_series() - exported == set()


def gateway_series() -> set[str]:
    """Every series name voxtral-gateway exports, from its registry's families and their
    types (a counter's _total, a histogram's _bucket, _sum and _count)."""
    from voxtral_gateway import metrics as gateway

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {
        family.name + suffix
        for family in gateway.REGISTRY.collect()
        for suffix in suffixes[family.type]
    }


def test_the_dashboards_gateway_panels_ask_for_what_the_gateway_exports() -> None:
    asked = set().union(*(series_names(expr) for _, expr in shipped()))
    gateway = {name for name in asked if name.startswith("voxtral_gateway_")}
    assert len(gateway) == 6
    assert gateway <= gateway_series()


def test_the_error_ratio_counts_server_failures_of_both_protocols() -> None:
    """voxtral_requests_total's code is an HTTP status or, on the gRPC port, the name of
    the status the gate answers: 429 and 5xx count as failures either way, client errors
    do not."""
    failed = re.compile(promql.FAILED_CODES).fullmatch
    ok = re.compile(promql.SUCCESS_CODES).fullmatch
    for http, grpc_status in STATUS.items():
        server_side = http == 429 or http >= 500
        assert bool(failed(str(http))) == server_side
        assert bool(failed(grpc_status.name)) == server_side, grpc_status
    for name in ("INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED"):
        assert failed(name)
    for code in ("200", "OK"):
        assert ok(code) and not failed(code)
    for code in ("400", "404", "413", "499", "INVALID_ARGUMENT", "NOT_FOUND", "CANCELLED"):
        assert not ok(code) and not failed(code)
