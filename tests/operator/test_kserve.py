"""spec.runtime kserve and the KServe files the project ships: every KServe object (the
ClusterServingRuntime, the InferenceService samples, what the operator builds) parsed
through the kserve package's generated models with no unknown field, its pod parts through
kubernetes-validate; the autoscaling mapping; what kserve cannot do, refused."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from kserve_models import kserve_problems
from operator_samples import VALID

from voxtral_operator.api.problems import SpecError
from voxtral_operator.api.resolve import Resolved, parse, resolve
from voxtral_operator.builders.kserve import (
    build_inference_service,
    build_serving_runtime,
)
from voxtral_operator.builders.pod import predictor_pod_spec

KSERVE = Path(__file__).resolve().parent.parent.parent / "manifests" / "kserve"


def resolved(spec: dict[str, Any], prometheus: str = "") -> Resolved:
    doc = copy.deepcopy(VALID["mini-preset"])
    doc["metadata"]["uid"] = "uid-1"
    doc["spec"] = spec
    return resolve(parse(doc), prometheus, gateway=False)


def isvc(spec: dict[str, Any], prometheus: str = "") -> dict[str, Any]:
    built = build_inference_service(resolved({"runtime": "kserve", **spec}, prometheus))
    assert built is not None
    assert kserve_problems(built) == []
    return built


def test_the_shipped_kserve_files_are_what_kserve_reads() -> None:
    files = sorted(KSERVE.glob("*.yaml"))
    assert [f.name for f in files] == [
        "clusterservingruntime.yaml",
        "inferenceservice-mini-raw.yaml",
        "inferenceservice-small-serverless.yaml",
    ]
    for path in files:
        (doc,) = yaml.safe_load_all(path.read_text())
        assert kserve_problems(doc) == [], path.name
    runtime = yaml.safe_load((KSERVE / "clusterservingruntime.yaml").read_text())
    assert runtime == build_serving_runtime(runtime["spec"]["containers"][0]["image"])
    raw = yaml.safe_load((KSERVE / "inferenceservice-mini-raw.yaml").read_text())
    serverless = yaml.safe_load((KSERVE / "inferenceservice-small-serverless.yaml").read_text())
    assert raw["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert serverless["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == (
        "Serverless"
    )
    assert serverless["spec"]["predictor"]["minReplicas"] == 0
    assert raw["spec"]["predictor"]["model"]["storageUri"] == "hf://mistralai/Voxtral-Mini-3B-2507"
    small = serverless["spec"]["predictor"]["model"]["resources"]["limits"]["nvidia.com/gpu"]
    assert small == "2"


def test_the_checker_is_not_vacuous() -> None:
    runtime = build_serving_runtime("img:1")
    runtime["spec"]["supportedModelFormat"] = []  # misspelt
    runtime["spec"]["containers"][0]["resources"]["limit"] = {}
    found = kserve_problems(runtime)
    assert "/spec/supportedModelFormat: unknown field of V1alpha1ServingRuntimeSpec" in found
    assert any("/resources/limit: unknown field of V1ResourceRequirements" in p for p in found)
    service = isvc({"model": {"preset": "voxtral-mini-3b"}})
    service["spec"]["predictor"]["minReplicas"] = "one"
    assert kserve_problems(service) == ["/spec/predictor/minReplicas: int expected, not 'one'"]


def test_the_runtime_runs_the_predictor_as_the_operator_does() -> None:
    runtime = build_serving_runtime("ghcr.io/voxtral-operator/voxtral-predictor:1")
    spec = runtime["spec"]
    assert spec["supportedModelFormats"] == [
        {"name": "voxtral", "version": "1", "autoSelect": True, "priority": 1}
    ]
    assert spec["protocolVersions"] == ["v1", "v2", "grpc-v2"]
    (container,) = spec["containers"]
    assert container["args"] == [
        "--model_name={{.Name}}",
        "--model_dir=/mnt/models",
        "--http_port=8080",
        "--grpc_port=8081",
    ]
    ours = predictor_pod_spec(resolved({"model": {"preset": "voxtral-mini-3b"}}))["containers"][0]
    for probe in ("livenessProbe", "readinessProbe"):
        assert {k: v for k, v in container[probe].items() if k != "httpGet"} == {
            k: v for k, v in ours[probe].items() if k != "httpGet"
        }
        assert container[probe]["httpGet"]["path"] == ours[probe]["httpGet"]["path"]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["command"] == ours["command"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert "VOXTRAL_TENSOR_PARALLEL_SIZE" not in env  # the GPUs the pod gets
    assert env["VOXTRAL_MAX_MODEL_LEN"] == "32768"


def test_a_service_without_autoscaling_is_a_fixed_raw_deployment() -> None:
    built = isvc({"model": {"preset": "voxtral-mini-3b", "servedName": "mini"}, "replicas": 2})
    annotations = built["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert annotations["serving.kserve.io/autoscalerClass"] == "none"
    predictor = built["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 2)
    model = predictor["model"]
    assert model["storageUri"] == "hf://mistralai/Voxtral-Mini-3B-2507"
    assert model["runtime"] == "voxtral" and model["modelFormat"] == {"name": "voxtral"}
    assert model["args"] == ["--model_name=mini"]
    assert [p["name"] for p in model["ports"]] == ["http1", "grpc"]
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert built["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_mode_operator_or_zero_replicas_is_knative_kpa() -> None:
    autoscaling = {"minReplicas": 0, "maxReplicas": 3, "scaleDown": {"idleSeconds": 900}}
    built = isvc({"model": {"preset": "voxtral-small-24b"}, "autoscaling": autoscaling})
    annotations = built["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "Serverless"
    assert annotations["autoscaling.knative.dev/class"] == "kpa.autoscaling.knative.dev"
    assert annotations["autoscaling.knative.dev/scale-to-zero-pod-retention-period"] == "900s"
    assert annotations["serving.knative.dev/progress-deadline"] == "3600s"
    predictor = built["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (0, 3)
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("concurrency", 64)
    assert "ports" not in predictor["model"]  # Knative: one port, the runtime's
    assert "terminationGracePeriodSeconds" not in predictor  # Knative's PodSpec mask refuses it
    env = {e["name"]: e["value"] for e in predictor["model"]["env"]}
    assert env["VOXTRAL_TENSOR_PARALLEL_SIZE"] == "2"


def test_mode_keda_is_kserves_keda_on_the_demand_query() -> None:
    built = isvc(
        {"model": {"preset": "voxtral-mini-3b"}, "autoscaling": {"mode": "keda"}},
        "http://prometheus:9090",
    )
    assert built["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "keda"
    (metric,) = built["spec"]["predictor"]["autoScaling"]["metrics"]
    source = metric["external"]["metric"]
    assert source["serverAddress"] == "http://prometheus:9090"
    assert 'pod=~"voxtral-predictor-[a-z0-9]+-[a-z0-9]+"' in source["query"]
    # KServe hands KEDA target.value as the trigger's threshold (keda_reconciler.go)
    assert metric["external"]["target"] == {"type": "Value", "value": "64"}
    assert built["spec"]["predictor"]["terminationGracePeriodSeconds"] == 60


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        (
            {"model": {"preset": "voxtral-mini-3b"}, "autoscaling": {"mode": "hpa"}},
            "KServe's HorizontalPodAutoscaler scales on CPU or memory only",
        ),
        (
            {
                "model": {
                    "source": {
                        "huggingFace": {
                            "repo": "acme/voxtral",
                            "tokenSecretRef": {"name": "hf", "key": "token"},
                        }
                    }
                }
            },
            "KServe's storage initializer reads the Hugging Face token from its own",
        ),
        (
            {
                "model": {"preset": "voxtral-mini-3b"},
                "autoscaling": {"mode": "keda", "minReplicas": 0},
            },
            "has nothing to wake the service; use mode operator",
        ),
        (
            {
                "model": {"preset": "voxtral-mini-3b"},
                "autoscaling": {"scaleDown": {"delaySeconds": 7200}},
            },
            "Knative's scale-down-delay is at most an hour",
        ),
    ],
)
def test_what_kserve_cannot_do_is_refused(spec: dict[str, Any], said: str) -> None:
    with pytest.raises(SpecError) as caught:
        resolved({"runtime": "kserve", **spec})
    assert caught.value.reason == "UnsupportedWithKServe" and said in caught.value.message


def test_settings_kserve_would_ignore_are_refused_not_dropped() -> None:
    spec = {
        "runtime": "kserve",
        "model": {"preset": "voxtral-mini-3b"},
        "cache": {"size": "100Gi"},
        "monitoring": {"enabled": True},
    }
    with pytest.raises(SpecError) as caught:
        resolved(spec)
    assert caught.value.message.startswith(
        "spec.cache, spec.monitoring with spec.runtime kserve: KServe owns"
    )
    # left out, or off: fine
    kept = {k: v for k, v in spec.items() if k != "cache"}
    assert resolved({**kept, "monitoring": {"enabled": False}}).name == "voxtral"


def test_scale_to_zero_under_kserve_needs_no_gateway() -> None:
    """Knative's activator holds the requests: minReplicas 0 in mode operator resolves
    without voxtral-gateway (which the deployment runtime needs)."""
    spec = {"model": {"preset": "voxtral-mini-3b"}, "autoscaling": {"minReplicas": 0}}
    assert resolved({"runtime": "kserve", **spec}).scaling is not None
    with pytest.raises(SpecError, match="needs voxtral-gateway"):
        resolved(spec)
