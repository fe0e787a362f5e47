"""KServe: the `voxtral` ClusterServingRuntime (the predictor as a KServe custom runtime) and
the InferenceService a VoxtralService becomes with `spec.runtime: kserve`.

Read from KServe's source (kserve/kserve): a runtime's container gets `--model_name={{.Name}}`
and the model in /mnt/models (the storage initializer's download of `storageUri`); an
InferenceService's model container is merged into the runtime's (its env and fields win,
its args are appended: utils.MergeRuntimeContainers), so an argument given there overrides
the runtime's. In RawDeployment the predictor's Service gets the container's first port as
port 80 and each further port as itself (a `grpc` port: appProtocol kubernetes.io/h2c;
reconcilers/service); Knative (Serverless) takes one port, so gRPC is reachable in
RawDeployment only. Deployment modes are named as KServe 0.15-0.21 name them
(`RawDeployment`, `Serverless`; later releases read them as `Standard` and `Knative`);
`autoscalerClass: none` needs KServe 0.15.1 or later. In Serverless, Knative's PodSpec mask
applies: tolerations, nodeSelector, affinity, priorityClassName and runtimeClassName need
Knative's `kubernetes.podspec-*` features enabled (config-features), and the InferenceService
carries no terminationGracePeriodSeconds (Knative refuses it).

Autoscaling, mapped to what KServe offers:
- absent or mode none: RawDeployment, no autoscaler (`autoscalerClass: none`),
  minReplicas = maxReplicas = spec.replicas;
- mode operator, or minReplicas 0: Serverless, Knative's KPA on request concurrency (the
  target is concurrencyPerReplica; scaleDown.delaySeconds -> scale-down-delay,
  scaleDown.idleSeconds -> scale-to-zero-pod-retention-period); Knative's activator holds
  requests while a replica starts;
- mode keda: RawDeployment with KServe's KEDA autoscaler on the same Prometheus demand query
  as the deployment runtime's ScaledObject (minReplicas 0 refused: use mode operator);
- mode hpa: refused by `api/resolve.py` (KServe's HPA scales on CPU or memory only).
"""

from __future__ import annotations

from typing import Any, Final

from voxtral_operator.api.resolve import Resolved
from voxtral_operator.api.service import EngineSpec
from voxtral_operator.builders import promql
from voxtral_operator.builders.meta import finish
from voxtral_operator.builders.pod import (
    GRPC_PORT,
    HTTP_PORT,
    MULTI_GPU_ENV,
    SHM_GIB_PER_GPU,
    container_security,
    engine_env,
    probes,
    resources,
    scheduling,
    startup_probe,
    vllm_args_env,
)

RUNTIME_API: Final = "serving.kserve.io/v1alpha1"
ISVC_API: Final = "serving.kserve.io/v1beta1"
RUNTIME_NAME: Final = "voxtral"
MODEL_FORMAT: Final = "voxtral"
MODEL_DIR: Final = "/mnt/models"
DEPLOYMENT_MODE: Final = "serving.kserve.io/deploymentMode"
AUTOSCALER_CLASS: Final = "serving.kserve.io/autoscalerClass"
RAW: Final = "RawDeployment"
SERVERLESS: Final = "Serverless"
# Knative: how long a new revision may take to become ready (a GPU cold start with a first
# download of 48 GB of weights), and the longest request (a 30-minute recording).
PROGRESS_DEADLINE_SECONDS: Final = 3600
REQUEST_TIMEOUT_SECONDS: Final = 3600
COMPONENT: Final = "inference-service"


def _env_list(env: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in env.items()]


def build_serving_runtime(image: str) -> dict[str, Any]:
    """The `voxtral` ClusterServingRuntime: the predictor image, the model from /mnt/models,
    Voxtral's engine defaults (tensor parallel = the GPUs the pod gets), probes as the
    operator sets them, non-root, /dev/shm for NCCL. An InferenceService sets the GPUs."""
    engine = EngineSpec()
    container = {
        "name": "kserve-container",
        "image": image,
        "command": ["voxtral-predictor"],
        "args": [
            "--model_name={{.Name}}",
            f"--model_dir={MODEL_DIR}",
            f"--http_port={HTTP_PORT}",
            f"--grpc_port={GRPC_PORT}",
        ],
        "env": _env_list(
            {"HF_HUB_OFFLINE": "1", "HOME": "/tmp", **engine_env(engine, None), **MULTI_GPU_ENV}
        ),
        # Knative takes one port, named http1 or h2c; an InferenceService in RawDeployment
        # adds the gRPC port (build_inference_service).
        "ports": [{"name": "http1", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": "4", "memory": "32Gi", "nvidia.com/gpu": "1"},
            "limits": {"memory": "32Gi", "nvidia.com/gpu": "1"},
        },
        "startupProbe": startup_probe(engine.startup_timeout_seconds, HTTP_PORT),
        **probes(HTTP_PORT),
        "securityContext": container_security() | {"runAsUser": 1000, "runAsGroup": 1000},
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
    }
    return {
        "apiVersion": RUNTIME_API,
        "kind": "ClusterServingRuntime",
        "metadata": {
            "name": RUNTIME_NAME,
            "annotations": {"serving.kserve.io/server-type": "voxtral"},
        },
        "spec": {
            "annotations": {
                "prometheus.kserve.io/port": str(HTTP_PORT),
                "prometheus.kserve.io/path": "/metrics",
            },
            "supportedModelFormats": [
                {"name": MODEL_FORMAT, "version": "1", "autoSelect": True, "priority": 1}
            ],
            "protocolVersions": ["v1", "v2", "grpc-v2"],
            "containers": [container],
            "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "4Gi"}}],
        },
    }


def storage_uri(resolved: Resolved) -> str:
    """hf://org/repo[:revision], or pvc://claim/path: what KServe's storage initializer
    downloads (or mounts) into /mnt/models."""
    if resolved.hugging_face is not None:
        hf = resolved.hugging_face
        return f"hf://{hf.repo}" + ("" if hf.revision == "main" else f":{hf.revision}")
    assert resolved.pvc is not None
    return f"pvc://{resolved.pvc.claim_name}/{resolved.pvc.path}".rstrip("/")


def deployment_mode(resolved: Resolved) -> str:
    scaling = resolved.scaling
    if scaling is not None and (scaling.mode == "operator" or scaling.min_replicas == 0):
        return SERVERLESS
    return RAW


def _scaling(resolved: Resolved) -> tuple[dict[str, str], dict[str, Any]]:
    """(annotations, predictor fields) of the autoscaling mapping (module docstring)."""
    scaling = resolved.scaling
    replicas = resolved.service.spec.replicas
    if scaling is None:
        return {AUTOSCALER_CLASS: "none"}, {"minReplicas": replicas, "maxReplicas": replicas}
    bounds = {"minReplicas": scaling.min_replicas, "maxReplicas": scaling.max_replicas}
    target = scaling.target.concurrency_per_replica
    if deployment_mode(resolved) == SERVERLESS:
        down = scaling.scale_down
        return {
            "autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
            "autoscaling.knative.dev/scale-down-delay": f"{down.delay_seconds}s",
            "autoscaling.knative.dev/scale-to-zero-pod-retention-period": f"{down.idle_seconds}s",
            "serving.knative.dev/progress-deadline": f"{PROGRESS_DEADLINE_SECONDS}s",
        }, bounds | {"scaleMetric": "concurrency", "scaleTarget": max(1, round(target))}
    # KServe's RawDeployment pods: <name>-predictor-<template hash>-<suffix>
    query = promql.demand(resolved.namespace, f"{resolved.name}-predictor")
    metric = {
        "type": "External",
        "external": {
            "metric": {
                "backend": "prometheus",
                "serverAddress": resolved.prometheus_address or "",
                "query": query,
            },
            # KServe hands KEDA `target.value` as the trigger's threshold (keda_reconciler.go),
            # which KEDA's Prometheus scaler compares per replica (metricType AverageValue)
            "target": {"type": "Value", "value": f"{target:g}"},
        },
    }
    return {AUTOSCALER_CLASS: "keda"}, bounds | {"autoScaling": {"metrics": [metric]}}


def build_inference_service(resolved: Resolved) -> dict[str, Any] | None:
    """The InferenceService of a VoxtralService with spec.runtime kserve (None otherwise)."""
    spec = resolved.service.spec
    if spec.runtime != "kserve":
        return None
    mode = deployment_mode(resolved)
    annotations, autoscaling = _scaling(resolved)
    env = {
        "VOXTRAL_TENSOR_PARALLEL_SIZE": str(resolved.gpus),
        **engine_env(spec.engine, resolved.api_servers),
        **vllm_args_env(spec.engine),
        **spec.engine.env,
    }
    model: dict[str, Any] = {
        "modelFormat": {"name": MODEL_FORMAT},
        "runtime": RUNTIME_NAME,
        "protocolVersion": "v2",
        "storageUri": storage_uri(resolved),
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        # appended to the runtime's: the served name wins over {{.Name}}
        "args": [f"--model_name={spec.model.served_name}"],
        "env": _env_list(env),
        "resources": resources(resolved),
        "startupProbe": startup_probe(spec.engine.startup_timeout_seconds, HTTP_PORT),
    }
    if mode == RAW:
        model["ports"] = [
            {"name": "http1", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
        ]
    predictor: dict[str, Any] = {
        "model": model,
        **autoscaling,
        "timeout": REQUEST_TIMEOUT_SECONDS,
        **scheduling(resolved),
    }
    if mode == RAW:  # Knative's PodSpec mask refuses it; Knative drains by its own timeout
        predictor["terminationGracePeriodSeconds"] = spec.engine.drain_timeout_seconds + 30
    if spec.scheduling.runtime_class_name:
        predictor["runtimeClassName"] = spec.scheduling.runtime_class_name
    volumes_gib = SHM_GIB_PER_GPU * resolved.gpus
    predictor["volumes"] = [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{volumes_gib}Gi"}}
    ]
    return finish(
        resolved,
        api_version=ISVC_API,
        kind="InferenceService",
        name=resolved.name,
        component=COMPONENT,
        annotations={DEPLOYMENT_MODE: mode, **annotations},
        body={"spec": {"predictor": predictor}},
    )
