"""The predictor's pod: container, environment, probes, volumes and security settings."""

from __future__ import annotations

import shlex
from typing import Any, Final

from voxtral_operator.api.quantity import canonical_quantity
from voxtral_operator.api.resolve import COMPILE_CACHE_DIR, MODELS_MOUNT, Resolved
from voxtral_operator.api.service import EngineSpec

HTTP_PORT: Final = 8080
GRPC_PORT: Final = 8081
RUN_AS: Final = 1000
SHM_GIB_PER_GPU: Final = 2
GRACE_BEYOND_DRAIN_SECONDS: Final = 30
STARTUP_PERIOD_SECONDS: Final = 10
COMPILE_CACHE_MOUNT: Final = "/var/cache/voxtral"
COMPILE_CACHE_SIZE: Final = "8Gi"

# NCCL over NVLink SHARP / multicast is off: it fails on many virtualised and MIG hosts,
# and tensor parallelism does not need it.
MULTI_GPU_ENV: Final = {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "NVSHMEM_DISABLE_NVLS": "1",
}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def engine_env(engine: EngineSpec, api_servers: int | None) -> dict[str, str]:
    """The predictor's engine settings as VOXTRAL_* variables: the operator's Deployment's,
    and KServe's (builders/kserve.py)."""
    env = {
        "VOXTRAL_MAX_MODEL_LEN": str(engine.max_model_len),
        "VOXTRAL_GPU_MEMORY_UTILIZATION": _number(engine.gpu_memory_utilization),
        "VOXTRAL_MAX_AUDIO_SECONDS": _number(engine.max_audio_seconds),
        "VOXTRAL_MAX_CHAT_AUDIO_SECONDS": _number(engine.max_chat_audio_seconds),
        "VOXTRAL_MAX_UPLOAD_MB": _number(engine.max_upload_mb),
        "VOXTRAL_DRAIN_TIMEOUT": str(engine.drain_timeout_seconds),
    }
    optional = {
        "VOXTRAL_MAX_CONCURRENCY": engine.max_concurrency,
        "VOXTRAL_MAX_QUEUE": engine.max_queue,
        "VOXTRAL_MAX_NUM_SEQS": engine.max_num_seqs,
        "VOXTRAL_API_SERVERS": api_servers,
    }
    env |= {name: str(value) for name, value in optional.items() if value is not None}
    return env


def vllm_args_env(engine: EngineSpec) -> dict[str, str]:
    return {"VOXTRAL_VLLM_ARGS": shlex.join(engine.extra_args)} if engine.extra_args else {}


def predictor_env(resolved: Resolved) -> list[dict[str, Any]]:
    spec = resolved.service.spec
    engine = spec.engine
    env: dict[str, str] = {
        "VOXTRAL_MODEL": resolved.model_dir,
        "VOXTRAL_MODEL_NAME": spec.model.served_name,
        "VOXTRAL_HOST": "0.0.0.0",
        "VOXTRAL_HTTP_PORT": str(HTTP_PORT),
        "VOXTRAL_GRPC_PORT": str(GRPC_PORT),
        "VOXTRAL_TENSOR_PARALLEL_SIZE": str(resolved.gpus),
        **engine_env(engine, resolved.api_servers),
    }
    # vLLM's compile cache, shared by the replicas (only the first one compiles)
    env["VOXTRAL_COMPILE_CACHE"] = COMPILE_CACHE_MOUNT
    env |= vllm_args_env(engine)
    # The weights are local: never reach for the Hub at start-up. An arbitrary uid has no
    # home directory; caches (vLLM's compile cache, Triton's) go to /tmp.
    env.update({"HF_HUB_OFFLINE": "1", "HOME": "/tmp"})
    if resolved.gpus > 1:
        env.update(MULTI_GPU_ENV)
    env.update(engine.env)
    return [{"name": key, "value": value} for key, value in env.items()]


def compile_cache_mount(resolved: Resolved) -> dict[str, Any]:
    """Writable, beside the read-only weights: on the model cache (a directory of the
    claim every replica mounts), or, for a pvc source the operator may not write to, on
    a volume of the pod's own."""
    if resolved.hugging_face is not None:
        return {"name": "model", "mountPath": COMPILE_CACHE_MOUNT, "subPath": COMPILE_CACHE_DIR}
    return {"name": "compile-cache", "mountPath": COMPILE_CACHE_MOUNT}


def compile_cache_volume(resolved: Resolved) -> list[dict[str, Any]]:
    if resolved.hugging_face is not None:
        return []
    return [{"name": "compile-cache", "emptyDir": {"sizeLimit": COMPILE_CACHE_SIZE}}]


def probes(port: str | int = "http") -> dict[str, Any]:
    def http_get(path: str) -> dict[str, Any]:
        return {"path": path, "port": port}

    return {
        "livenessProbe": {
            "httpGet": http_get("/v2/health/live"),
            "periodSeconds": 15,
            "timeoutSeconds": 5,
            "failureThreshold": 4,
        },
        "readinessProbe": {
            "httpGet": http_get("/v2/health/ready"),
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
    }


def startup_probe(budget: int, port: str | int = "http") -> dict[str, Any]:
    """Up to `budget` seconds (engine.startupTimeoutSeconds) for the engine to start."""
    return {
        "httpGet": {"path": "/v2/health/live", "port": port},
        "periodSeconds": STARTUP_PERIOD_SECONDS,
        "timeoutSeconds": 5,
        "failureThreshold": -(-budget // STARTUP_PERIOD_SECONDS),
    }


def resources(resolved: Resolved) -> dict[str, Any]:
    """Requests and limits, in the canonical form the API server stores ("0.5" -> "500m")."""
    gpu = resolved.service.spec.gpu_resource
    cpu, memory = canonical_quantity(resolved.cpu), canonical_quantity(resolved.memory)
    gpus = canonical_quantity(resolved.gpus)
    return {
        "requests": {"cpu": cpu, "memory": memory, gpu: gpus},
        "limits": {"memory": memory, gpu: gpus},
    }


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def scheduling(resolved: Resolved) -> dict[str, Any]:
    """nodeSelector, tolerations (the GPU taint's always), affinity, priority class."""
    spec = resolved.service.spec
    sched = spec.scheduling
    tolerations = [{"key": spec.gpu_resource, "operator": "Exists", "effect": "NoSchedule"}]
    tolerations += [t.model_dump(by_alias=True, exclude_none=True) for t in sched.tolerations]
    fields: dict[str, Any] = {"tolerations": tolerations}
    if sched.node_selector:
        fields["nodeSelector"] = dict(sched.node_selector)
    if sched.affinity:
        fields["affinity"] = sched.affinity
    if sched.priority_class_name:
        fields["priorityClassName"] = sched.priority_class_name
    if spec.image_pull_secrets:
        fields["imagePullSecrets"] = [{"name": name} for name in spec.image_pull_secrets]
    return fields


def runtime_class(resolved: Resolved) -> dict[str, Any]:
    """The predictor's RuntimeClass, where the GPU runtime is not the node's default (k3s,
    RKE2, some GPU Operator set-ups). The download Job needs no GPU and keeps the default."""
    name = resolved.service.spec.scheduling.runtime_class_name
    return {"runtimeClassName": name} if name else {}


def predictor_pod_spec(resolved: Resolved) -> dict[str, Any]:
    spec = resolved.service.spec
    container = {
        "name": "predictor",
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": ["voxtral-predictor"],
        "env": predictor_env(resolved),
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
        ],
        "resources": resources(resolved),
        "startupProbe": startup_probe(spec.engine.startup_timeout_seconds),
        **probes(),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "dshm", "mountPath": "/dev/shm"},
            {"name": "model", "mountPath": MODELS_MOUNT, "readOnly": True},
            compile_cache_mount(resolved),
        ],
    }
    return {
        "containers": [container],
        "volumes": [
            {
                "name": "dshm",
                "emptyDir": {
                    "medium": "Memory",
                    "sizeLimit": f"{SHM_GIB_PER_GPU * resolved.gpus}Gi",
                },
            },
            {
                "name": "model",
                # the model cache: weights mounted read-only, the compile cache writable;
                # a pvc source is the user's and stays read-only
                "persistentVolumeClaim": {"claimName": resolved.claim_name}
                | ({} if resolved.hugging_face is not None else {"readOnly": True}),
            },
            *compile_cache_volume(resolved),
        ],
        "securityContext": pod_security(),
        "terminationGracePeriodSeconds": (
            spec.engine.drain_timeout_seconds + GRACE_BEYOND_DRAIN_SECONDS
        ),
        # Service links would put VOXTRAL_*_PORT variables of same-named Services into the
        # predictor's environment, where they collide with its options.
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        **scheduling(resolved),
        **runtime_class(resolved),
    }
