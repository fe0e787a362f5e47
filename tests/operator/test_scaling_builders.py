"""The pure builders of autoscaling and monitoring: the HPA (mode hpa), the KEDA
ScaledObject (mode keda), the ServiceMonitor, the PrometheusRule and the dashboard
ConfigMap. Built-in kinds pass kubernetes-validate --strict (1.30, 1.37); the custom
resources pass the models generated from KEDA's and the Prometheus Operator's CRDs
(custom_resources.py says what that does and does not check)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from custom_resources import custom_problems, validate
from operator_samples import VALID, vxs

from voxtral_operator.api import names
from voxtral_operator.api.resolve import Resolved, parse, resolve
from voxtral_operator.builders import build_children, promql
from voxtral_operator.builders.dashboard import build_dashboard
from voxtral_operator.builders.promql import pods

VERSIONS = ["1.30.0", "1.37.0"]


def resolved(sample: dict[str, Any], prometheus: str = "") -> Resolved:
    sample = copy.deepcopy(sample)
    sample["metadata"]["uid"] = "uid-1"
    return resolve(parse(sample), prometheus)


def with_spec(sample: str, **spec: Any) -> dict[str, Any]:
    doc = copy.deepcopy(VALID[sample])
    doc["spec"].update(spec)
    return doc


def test_mode_hpa_builds_a_valid_hpa_on_the_three_signals() -> None:
    children = build_children(resolved(VALID["hpa"]))
    hpa = children.hpa
    assert hpa is not None and children.scaled_object is None
    for version in VERSIONS:
        validate(hpa, version)
    spec = hpa["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 6)
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "voxtral",
    }
    targets = {m["pods"]["metric"]["name"]: m["pods"]["target"] for m in spec["metrics"]}
    assert targets == {
        "voxtral_demand": {"type": "AverageValue", "averageValue": "32"},
        "voxtral_queue": {"type": "AverageValue", "averageValue": "8"},
        "voxtral_kv_cache_usage": {"type": "AverageValue", "averageValue": "900m"},
    }
    up, down = spec["behavior"]["scaleUp"], spec["behavior"]["scaleDown"]
    assert up["stabilizationWindowSeconds"] == 0 and up["policies"][0]["value"] == 2
    # The HPA takes a window of at most an hour: longer delays are refused (see INVALID).
    assert down["stabilizationWindowSeconds"] == 3600 and down["policies"][0]["value"] == 1


def test_mode_keda_builds_a_scaled_object_with_prometheus_triggers() -> None:
    scaled = build_children(resolved(VALID["keda"])).scaled_object
    assert scaled is not None
    assert custom_problems(scaled) == []
    spec = scaled["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 4)
    triggers = {t["name"]: t for t in spec["triggers"]}
    assert set(triggers) == {"demand", "queue", "kv-cache"}
    assert {t["type"] for t in triggers.values()} == {"prometheus"}
    assert triggers["demand"]["metadata"]["threshold"] == "64"
    assert triggers["queue"]["metadata"]["threshold"] == "8"
    assert triggers["kv-cache"]["metricType"] == "Value"
    query = triggers["demand"]["metadata"]["query"]
    for metric in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "voxtral_requests_queued",
    ):
        assert metric in query
    assert (
        spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"][
            "stabilizationWindowSeconds"
        ]
        == 300
    )


def test_the_prometheus_address_comes_from_the_spec_or_the_operator() -> None:
    doc = copy.deepcopy(VALID["keda"])
    del doc["spec"]["autoscaling"]["prometheusAddress"]
    assert build_children(resolved(doc)).scaled_object is None  # nowhere to ask
    scaled = build_children(resolved(doc, "http://prom.example:9090")).scaled_object
    assert scaled is not None
    addresses = {t["metadata"]["serverAddress"] for t in scaled["spec"]["triggers"]}
    assert addresses == {"http://prom.example:9090"}
    own = build_children(resolved(VALID["keda"], "http://prom.example:9090")).scaled_object
    assert own is not None
    assert own["spec"]["triggers"][0]["metadata"]["serverAddress"] == (
        "http://prometheus-operated.monitoring.svc:9090"
    )


def test_the_custom_resource_check_is_not_vacuous() -> None:
    scaled = build_children(resolved(VALID["keda"])).scaled_object
    assert scaled is not None
    scaled["spec"]["minReplicas"] = 1  # the HPA's name, not KEDA's
    assert any("minReplicas: unknown field" in p for p in custom_problems(scaled))
    monitor = build_children(resolved(VALID["keda"])).service_monitor
    assert monitor is not None
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    assert custom_problems(monitor)


@pytest.mark.parametrize("sample", ["autoscaled", "keda", "hpa"])
def test_an_autoscaled_deployment_leaves_replicas_to_the_autoscaler(sample: str) -> None:
    r = resolved(VALID[sample])
    deployment = build_children(r).deployment
    assert "replicas" not in deployment["spec"]
    mode = VALID[sample]["spec"]["autoscaling"].get("mode", "operator")
    assert deployment["metadata"]["annotations"][names.ANNOTATION_REPLICAS_FROM] == mode
    static = build_children(resolved(VALID["small-preset"])).deployment
    assert static["metadata"]["annotations"][names.ANNOTATION_REPLICAS_FROM] == "spec"
    assert static["spec"]["replicas"] == 2


def test_mode_none_is_static_replicas_with_the_settings_kept() -> None:
    doc = with_spec("hpa", autoscaling={**VALID["hpa"]["spec"]["autoscaling"], "mode": "none"})
    r = resolved(doc)
    assert r.scaling is None and r.operator_owns_replicas
    children = build_children(r)
    assert children.deployment["spec"]["replicas"] == 3 and children.hpa is None


def test_the_starting_count_is_spec_replicas_within_bounds() -> None:
    assert resolved(VALID["hpa"]).start_replicas == 3
    assert resolved(with_spec("hpa", replicas=1)).start_replicas == 2
    assert resolved(with_spec("hpa", replicas=40)).start_replicas == 6
    assert resolved(VALID["small-preset"]).start_replicas == 2


def test_a_pdb_whenever_the_autoscaler_may_run_two_replicas() -> None:
    assert build_children(resolved(VALID["autoscaled"])).pdb is not None  # replicas 1, max 8
    one = with_spec("mini-preset", autoscaling={"maxReplicas": 1})
    assert build_children(resolved(one)).pdb is None


def test_the_service_monitor_scrapes_the_services_metrics_port() -> None:
    children = build_children(resolved(VALID["everything"]))
    monitor = children.service_monitor
    assert monitor is not None and custom_problems(monitor) == []
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["metadata"]["labels"][names.LABEL_MANAGED_BY] == names.OPERATOR
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= children.service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    ports = {p["name"]: p for p in children.service["spec"]["ports"]}
    assert ports[endpoint["port"]]["targetPort"] == "http"
    assert (endpoint["path"], endpoint["interval"], endpoint["scrapeTimeout"]) == (
        "/metrics",
        "30s",
        "10s",
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["default"]}


def test_the_alerts_say_what_to_do() -> None:
    rule = build_children(resolved(VALID["everything"])).prometheus_rule
    assert rule is not None and custom_problems(rule) == []
    (group,) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == {
        "VoxtralQueueTimeHigh",
        "VoxtralErrorRatioHigh",
        "VoxtralKVCacheSaturated",
        "VoxtralPredictorNotReady",
        "VoxtralReplicasNotReady",
        "VoxtralReplicasAtMax",
    }
    for alert in alerts.values():
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["labels"]["voxtral_service"] == "voxtral"
        assert alert["annotations"]["summary"].startswith("VoxtralService default/voxtral")
        assert len(alert["annotations"]["description"]) > 80
        assert alert["expr"].count("(") == alert["expr"].count(")")
    assert alerts["VoxtralQueueTimeHigh"]["expr"].endswith("> 1.5")
    assert alerts["VoxtralErrorRatioHigh"]["expr"].endswith("> 0.02")
    assert f'code=~"{promql.FAILED_CODES}"' in alerts["VoxtralErrorRatioHigh"]["expr"]
    assert promql.QUEUE_WAIT in alerts["VoxtralQueueTimeHigh"]["expr"]
    assert alerts["VoxtralReplicasAtMax"]["expr"].endswith(">= 12")
    assert "ScalingLimited" in alerts["VoxtralQueueTimeHigh"]["annotations"]["description"]
    static = with_spec("mini-preset", monitoring={"enabled": True})
    static_rule = build_children(resolved(static)).prometheus_rule
    assert static_rule is not None
    static_alerts = {r["alert"] for r in static_rule["spec"]["groups"][0]["rules"]}
    assert "VoxtralReplicasAtMax" not in static_alerts
    off = with_spec("mini-preset", monitoring={"enabled": True, "alerts": {"enabled": False}})
    assert build_children(resolved(off)).prometheus_rule is None


def test_the_pod_selector_takes_this_services_replicas_only() -> None:
    """Prometheus anchors regular expressions: the service's ReplicaSet pods match, those of
    a Deployment whose name starts with the same words do not."""
    pattern = re.search(r'pod=~"([^"]+)"', pods("default", "voxtral"))
    assert pattern is not None
    matches = re.compile(pattern[1]).fullmatch
    assert matches("voxtral-6f7d9c8b5-x2k4q")
    assert not matches("voxtral-small-6f7d9c8b5-x2k4q")
    assert not matches("voxtral-download-1a2b3c4d-9zz8x")
    assert not matches("voxtral-6f7d9c8b5")


def test_the_dashboard_config_map_is_for_grafanas_sidecar() -> None:
    r = resolved(VALID["everything"])
    config_map = build_children(r).dashboard
    assert config_map is not None
    for version in VERSIONS:
        validate(config_map, version)
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    (key, text) = next(iter(config_map["data"].items()))
    assert key == "voxtral-default-voxtral.json"
    model = json.loads(text)
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["namespace"]["current"]["value"] == "default"
    assert variables["service"]["current"]["value"] == "voxtral"
    assert variables["service"]["hide"] == 2
    other = build_dashboard("default", "other")
    assert other["uid"] != model["uid"] and len(model["uid"]) <= 40
    no_dashboard = with_spec("mini-preset", monitoring={"enabled": True, "dashboard": False})
    assert build_children(resolved(no_dashboard)).dashboard is None


def test_monitoring_off_builds_none_of_it() -> None:
    children = build_children(resolved(VALID["mini-preset"]))
    assert (children.service_monitor, children.prometheus_rule, children.dashboard) == (
        None,
        None,
        None,
    )
    assert (children.hpa, children.scaled_object) == (None, None)


def test_the_gpu_panel_reads_the_services_gpu_resource() -> None:
    doc = vxs({"model": {"preset": "voxtral-mini-3b"}, "gpuResource": "amd.com/gpu"})
    doc["spec"]["monitoring"] = {"enabled": True}
    config_map = build_children(resolved(doc)).dashboard
    assert config_map is not None
    model = json.loads(next(iter(config_map["data"].values())))
    (gpus,) = [p for p in model["panels"] if p["title"] == "GPUs"]
    assert 'resource="amd_com_gpu"' in gpus["targets"][0]["expr"]


POOLED = {"inferencePool": True, "endpointPicker": {"serviceName": "voxtral-epp"}}


def test_the_inference_pool_selects_the_predictor_pods_on_their_http_port() -> None:
    built = build_children(resolved(with_spec("mini-preset", routing=POOLED)))
    pool = built.inference_pool
    assert pool is not None and custom_problems(pool) == []
    deployment = built.deployment
    assert pool["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    http = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
    assert pool["spec"]["targetPorts"] == [{"number": http}]  # the pod's port, not the Service's
    assert "appProtocol" not in pool["spec"]  # http by default; absent from CRDs before v1.4
    assert pool["spec"]["endpointPickerRef"] == {
        "group": "",
        "kind": "Service",
        "name": "voxtral-epp",
        "port": {"number": 9002},
        "failureMode": "FailClose",
    }
    assert build_children(resolved(VALID["mini-preset"])).inference_pool is None


def test_the_inference_pool_model_refuses_what_the_crd_refuses() -> None:
    """The hand-written model of the InferencePool (no package ships one) catches what the
    CRD's validation would: a check that cannot fail would pass anything."""
    pool = build_children(resolved(with_spec("mini-preset", routing=POOLED))).inference_pool
    assert pool is not None
    for broken, why in (
        ({**pool["spec"], "targetPorts": []}, "at least 1"),
        ({**pool["spec"], "targetPorts": [{"number": 8080}, {"number": 8080}]}, "unique"),
        ({**pool["spec"], "appProtocol": "grpc"}, "kubernetes.io/h2c"),
        ({**pool["spec"], "endpointPickerRef": {"name": "epp"}}, "port is required"),
        ({k: v for k, v in pool["spec"].items() if k != "endpointPickerRef"}, "Field required"),
        ({**pool["spec"], "targetPort": [{"number": 8080}]}, "Extra inputs"),
    ):
        problems = custom_problems({**pool, "spec": broken})
        assert problems and why in problems[0], (broken, problems)
