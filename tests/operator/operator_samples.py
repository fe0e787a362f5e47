"""VoxtralService samples, valid and invalid, shared by the API, CRD and builder tests, and
helpers that check a sample the way the API server would: the CRD's openAPIV3Schema (with
strict field validation, kubectl's default) and its CEL rules."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import cel
import jsonschema
import yaml

CRD_PATH = Path(__file__).resolve().parents[2] / "manifests/crds/voxtral.dev_voxtralservices.yaml"


def vxs(
    spec: dict[str, Any], name: str = "voxtral", namespace: str = "default", **meta: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "voxtral.dev/v1alpha1",
        "kind": "VoxtralService",
        "metadata": {"name": name, "namespace": namespace, **meta},
        "spec": spec,
    }


VALID: dict[str, dict[str, Any]] = {
    "mini-preset": vxs({"model": {"preset": "voxtral-mini-3b"}}),
    "small-preset": vxs({"model": {"preset": "voxtral-small-24b"}, "replicas": 2}),
    "small-one-h200": vxs(
        {"model": {"preset": "voxtral-small-24b"}, "gpusPerReplica": 1, "gpuMemory": "141Gi"}
    ),
    "hf-private": vxs(
        {
            "model": {
                "source": {
                    "huggingFace": {
                        "repo": "acme/voxtral-finetune",
                        "revision": "a1b2c3d",
                        "tokenSecretRef": {"name": "hf-token", "key": "token"},
                    }
                },
                "servedName": "acme-asr",
            },
            "gpusPerReplica": 4,
        }
    ),
    "pvc": vxs(
        {
            "model": {
                "preset": "voxtral-mini-3b",
                "source": {"pvc": {"claimName": "models", "path": "voxtral/mini"}},
            }
        }
    ),
    "everything": vxs(
        {
            "model": {"preset": "voxtral-small-24b", "servedName": "voxtral-small"},
            "gpusPerReplica": 2,
            "gpuResource": "nvidia.com/gpu",
            "gpuMemory": "80Gi",
            "replicas": 3,
            "engine": {
                "maxModelLen": 32768,
                "gpuMemoryUtilization": 0.92,
                "maxAudioSeconds": 1800,
                "maxChatAudioSeconds": 2400,
                "maxUploadMB": 384,
                "maxConcurrency": 32,
                "maxQueue": 256,
                "maxNumSeqs": 128,
                "drainTimeoutSeconds": 60,
                "startupTimeoutSeconds": 3600,
                "extraArgs": ["--max-num-batched-tokens", "8192"],
                "env": {"VLLM_LOGGING_LEVEL": "INFO"},
            },
            "cache": {
                "storageClassName": "fast-rwx",
                "size": "200Gi",
                "accessMode": "ReadWriteMany",
                "fixPermissions": True,
            },
            "image": "registry.example.com/voxtral-predictor:1.2.3",
            "imagePullPolicy": "IfNotPresent",
            "imagePullSecrets": ["regcred"],
            "scheduling": {
                "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
                "tolerations": [
                    {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
                ],
                "affinity": {
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 100,
                                "podAffinityTerm": {
                                    "topologyKey": "kubernetes.io/hostname",
                                    "labelSelector": {
                                        "matchLabels": {"app.kubernetes.io/instance": "voxtral"}
                                    },
                                },
                            }
                        ]
                    }
                },
                "priorityClassName": "inference",
                "runtimeClassName": "nvidia",
            },
            "service": {
                "type": "LoadBalancer",
                "httpPort": 80,
                "grpcPort": 9000,
                "metricsPort": 9090,
                "annotations": {"example.com/lb": "internal"},
            },
            "resources": {"cpu": "12", "memory": "96Gi"},
            "rollout": {"maxSurge": 1, "maxUnavailable": 0},
            "autoscaling": {
                "mode": "operator",
                "minReplicas": 2,
                "maxReplicas": 12,
                "target": {"queuePerReplica": 4, "kvCacheUsage": 0.85, "concurrencyPerReplica": 48},
                "scaleUp": {"stabilizationSeconds": 45, "maxStep": 4},
                "scaleDown": {"delaySeconds": 600, "maxStep": 2},
                "prometheusAddress": "http://prometheus-operated.monitoring.svc:9090",
            },
            "monitoring": {
                "enabled": True,
                "labels": {"release": "prometheus"},
                "scrapeInterval": "30s",
                "dashboard": True,
                "alerts": {"enabled": True, "queueTimeSeconds": 1.5, "errorRatio": 0.02},
            },
        }
    ),
    "autoscaled": vxs(
        {"model": {"preset": "voxtral-small-24b"}, "autoscaling": {"maxReplicas": 8}}
    ),
    "keda": vxs(
        {
            "model": {"preset": "voxtral-mini-3b"},
            "autoscaling": {
                "mode": "keda",
                "minReplicas": 0,
                "maxReplicas": 4,
                "prometheusAddress": "http://prometheus-operated.monitoring.svc:9090",
            },
            "monitoring": {"enabled": True, "labels": {"release": "prometheus"}},
        }
    ),
    "hpa": vxs(
        {
            "model": {"preset": "voxtral-mini-3b"},
            "replicas": 3,
            "autoscaling": {
                "mode": "hpa",
                "minReplicas": 2,
                "maxReplicas": 6,
                "target": {"queuePerReplica": 8, "kvCacheUsage": 0.9, "concurrencyPerReplica": 32},
                "scaleUp": {"stabilizationSeconds": 0, "maxStep": 2},
                "scaleDown": {"delaySeconds": 3600, "maxStep": 1},
            },
        }
    ),
}

# name -> (sample, a fragment the operator's message must contain, checked by CEL rather
# than by the plain schema)
INVALID: dict[str, tuple[dict[str, Any], str, bool]] = {
    "unknown-field": (
        vxs({"model": {"preset": "voxtral-mini-3b"}, "replica": 2}),
        "spec.replica: unknown field 'replica': did you mean 'replicas'?",
        False,
    ),
    "unknown-nested-field": (
        vxs({"model": {"preset": "voxtral-mini-3b", "sauce": {}}}),
        "spec.model.sauce: unknown field",
        False,
    ),
    "no-model": (vxs({"replicas": 1}), "spec.model: required field is missing", False),
    "no-preset-no-source": (
        vxs({"model": {"servedName": "x"}}),
        "spec.model needs a preset or a source",
        True,
    ),
    "two-sources": (
        vxs({"model": {"source": {"huggingFace": {"repo": "a/b"}, "pvc": {"claimName": "m"}}}}),
        "spec.model.source needs exactly one of huggingFace or pvc",
        True,
    ),
    "unknown-preset": (
        vxs({"model": {"preset": "voxtral-large"}}),
        "spec.model.preset: 'voxtral-large' is not allowed",
        False,
    ),
    "gpus-3": (
        vxs({"model": {"preset": "voxtral-mini-3b"}, "gpusPerReplica": 3}),
        "spec.gpusPerReplica: 3 is not allowed: use one of 1, 2, 4 or 8",
        False,
    ),
    "negative-replicas": (
        vxs({"model": {"preset": "voxtral-mini-3b"}, "replicas": -1}),
        "spec.replicas",
        False,
    ),
    "bad-quantity": (
        vxs({"model": {"preset": "voxtral-mini-3b"}, "cache": {"size": "100GB"}}),
        "spec.cache.size: '100GB' is not a Kubernetes quantity",
        False,
    ),
    "same-ports": (
        vxs({"model": {"preset": "voxtral-mini-3b"}, "service": {"grpcPort": 8080}}),
        "spec.service ports must differ",
        True,
    ),
    "reserved-env": (
        vxs(
            {
                "model": {"preset": "voxtral-mini-3b"},
                "engine": {"env": {"VOXTRAL_MODEL": "/elsewhere"}},
            }
        ),
        "spec.engine.env must not set VOXTRAL_* variables",
        True,
    ),
    "rollout-stuck": (
        vxs(
            {
                "model": {"preset": "voxtral-mini-3b"},
                "rollout": {"maxSurge": 0, "maxUnavailable": 0},
            }
        ),
        "maxSurge and maxUnavailable cannot both be 0",
        True,
    ),
    "pvc-escape": (
        vxs({"model": {"source": {"pvc": {"claimName": "m", "path": "a/../../etc"}}}}),
        "spec.model.source.pvc.path must stay inside the claim",
        True,
    ),
    "long-name": (
        vxs({"model": {"preset": "voxtral-mini-3b"}}, name="v" * 46),
        "metadata.name must be at most 45 characters",
        True,
    ),
    "memory-utilisation": (
        vxs({"model": {"preset": "voxtral-mini-3b"}, "engine": {"gpuMemoryUtilization": 1.5}}),
        "spec.engine.gpuMemoryUtilization",
        False,
    ),
    "inference-pool-without-picker": (
        vxs({"model": {"preset": "voxtral-mini-3b"}, "routing": {"inferencePool": True}}),
        "spec.routing.inferencePool needs spec.routing.endpointPicker",
        True,
    ),
    "scaling-min-above-max": (
        vxs(
            {
                "model": {"preset": "voxtral-mini-3b"},
                "autoscaling": {"minReplicas": 5, "maxReplicas": 2},
            }
        ),
        "spec.autoscaling.minReplicas must not be greater than maxReplicas",
        True,
    ),
    "scaling-to-zero-with-hpa": (
        vxs(
            {
                "model": {"preset": "voxtral-mini-3b"},
                "autoscaling": {"mode": "hpa", "minReplicas": 0},
            }
        ),
        "spec.autoscaling.minReplicas 0 needs mode operator (with voxtral-gateway",
        True,
    ),
    "scaling-hpa-delay-over-an-hour": (
        vxs(
            {
                "model": {"preset": "voxtral-mini-3b"},
                "autoscaling": {"mode": "hpa", "scaleDown": {"delaySeconds": 7200}},
            }
        ),
        "spec.autoscaling.scaleDown.delaySeconds over 3600 needs mode operator",
        True,
    ),
    "scaling-unknown-mode": (
        vxs({"model": {"preset": "voxtral-mini-3b"}, "autoscaling": {"mode": "vpa"}}),
        "spec.autoscaling.mode: 'vpa' is not allowed",
        False,
    ),
    "scaling-kv-cache-over-one": (
        vxs(
            {
                "model": {"preset": "voxtral-mini-3b"},
                "autoscaling": {"target": {"kvCacheUsage": 90}},
            }
        ),
        "spec.autoscaling.target.kvCacheUsage",
        False,
    ),
    "monitoring-bad-interval": (
        vxs({"model": {"preset": "voxtral-mini-3b"}, "monitoring": {"scrapeInterval": "15"}}),
        "spec.monitoring.scrapeInterval",
        False,
    ),
    "affinity-typo": (
        vxs(
            {
                "model": {"preset": "voxtral-mini-3b"},
                "scheduling": {
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {"matchExpresions": [{"key": "gpu", "operator": "Exists"}]}
                                ]
                            }
                        }
                    }
                },
            }
        ),
        "spec.scheduling.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms[0].matchExpresions: unknown field 'matchExpresions' of core/v1 "
        "NodeSelectorTerm: did you mean 'matchExpressions'?",
        False,
    ),
    "affinity-wrong-type": (
        vxs(
            {
                "model": {"preset": "voxtral-mini-3b"},
                "scheduling": {
                    "affinity": {
                        "podAntiAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {"topologyKey": "x"}
                        }
                    }
                },
            }
        ),
        "spec.scheduling.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution:"
        " must be of type array, not dict",
        False,
    ),
    "affinity-missing-key": (
        vxs(
            {
                "model": {"preset": "voxtral-mini-3b"},
                "scheduling": {
                    "affinity": {
                        "podAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {"labelSelector": {}}
                            ]
                        }
                    }
                },
            }
        ),
        "requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: required field of core/v1 "
        "PodAffinityTerm is missing",
        False,
    ),
    "toleration-without-key": (
        vxs(
            {
                "model": {"preset": "voxtral-mini-3b"},
                "scheduling": {"tolerations": [{"operator": "Equal", "value": "x"}]},
            }
        ),
        "a toleration without a key matches every taint and needs operator Exists",
        True,
    ),
    "toleration-exists-with-value": (
        vxs(
            {
                "model": {"preset": "voxtral-mini-3b"},
                "scheduling": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]},
            }
        ),
        "operator Exists takes no value",
        True,
    ),
    "toleration-seconds-without-noexecute": (
        vxs(
            {
                "model": {"preset": "voxtral-mini-3b"},
                "scheduling": {
                    "tolerations": [
                        {
                            "key": "k",
                            "operator": "Exists",
                            "effect": "NoSchedule",
                            "tolerationSeconds": 60,
                        }
                    ]
                },
            }
        ),
        "tolerationSeconds needs effect NoExecute",
        True,
    ),
    "duplicate-pull-secrets": (
        vxs({"model": {"preset": "voxtral-mini-3b"}, "imagePullSecrets": ["regcred", "regcred"]}),
        "spec.imagePullSecrets: names regcred more than once",
        False,
    ),
    "short-startup": (
        vxs({"model": {"preset": "voxtral-mini-3b"}, "engine": {"startupTimeoutSeconds": 60}}),
        "spec.engine.startupTimeoutSeconds",
        False,
    ),
}


def load_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return crd


def crd_schema() -> dict[str, Any]:
    schema: dict[str, Any] = load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as the API server applies it under strict field validation: unknown
    fields of a structural object are errors, not silently pruned; a list of type set takes
    no duplicates."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        if node.get("x-kubernetes-list-type") == "set":  # the server refuses duplicates
            node["uniqueItems"] = True
        for key in ("properties",):
            for child in node.get(key, {}).values():
                walk(child)
        for key in ("items", "additionalProperties"):
            walk(node.get(key))
        for child in node.get("anyOf", []):
            walk(child)

    walk(schema)
    return schema


def schema_errors(obj: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(strict(crd_schema()))
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)
    ]


def cel_errors(obj: dict[str, Any]) -> list[str]:
    """Evaluate every x-kubernetes-validations rule where the object has data."""
    errors: list[str] = []

    def walk(node: dict[str, Any], data: Any) -> None:
        for rule in node.get("x-kubernetes-validations", []):
            if not cel.evaluate(rule["rule"], {"self": data}):
                errors.append(rule["message"])
        if isinstance(data, dict):
            for key, child in node.get("properties", {}).items():
                if key in data:
                    walk(child, data[key])
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                for value in data.values():
                    walk(extra, value)
        if isinstance(data, list) and isinstance(node.get("items"), dict):
            for item in data:
                walk(node["items"], item)

    walk(crd_schema(), obj)
    return errors
