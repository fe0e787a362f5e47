"""The pure builders: every object they emit is valid Kubernetes (kubernetes-validate
--strict, 1.30 and 1.37) and says what the issue asks of it."""

from __future__ import annotations

import copy
import shlex
from typing import Any

import kubernetes_validate
import pytest
from custom_resources import validate
from operator_samples import VALID, vxs

from voxtral_operator.api import names
from voxtral_operator.api.quantity import parse_quantity
from voxtral_operator.api.resolve import Resolved, parse, resolve
from voxtral_operator.builders import build_children
from voxtral_operator.builders.download_job import download_job_name

VERSIONS = ["1.30.0", "1.37.0"]


def resolved(sample: dict[str, Any], uid: str | None = "0b1c-uid") -> Resolved:
    sample = copy.deepcopy(sample)
    if uid:
        sample["metadata"]["uid"] = uid
    return resolve(parse(sample))


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(VALID))
def test_every_object_is_valid_kubernetes(name: str, version: str) -> None:
    for manifest in build_children(resolved(VALID[name])).all():
        validate(manifest, version)


def test_the_validation_is_not_vacuous() -> None:
    deployment = build_children(resolved(VALID["mini-preset"])).deployment
    deployment["spec"]["template"]["spec"]["containers"][0]["gpus"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.37.0", strict=True)


def test_gpus_tensor_parallelism_and_multi_gpu_settings() -> None:
    small = build_children(resolved(VALID["small-preset"])).deployment
    pod = small["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "2"
    env = env_of(small)
    assert env["VOXTRAL_TENSOR_PARALLEL_SIZE"] == "2"
    assert env["NCCL_NVLS_ENABLE"] == "0"
    assert env["TORCH_SYMM_MEM_DISABLE_MULTICAST"] == "1"
    assert env["NVSHMEM_DISABLE_NVLS"] == "1"
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "4Gi"}

    mini = build_children(resolved(VALID["mini-preset"])).deployment
    env = env_of(mini)
    assert env["VOXTRAL_TENSOR_PARALLEL_SIZE"] == "1"
    assert "NCCL_NVLS_ENABLE" not in env
    four = build_children(resolved(VALID["hf-private"])).deployment
    assert four["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]["sizeLimit"] == "8Gi"


def test_engine_options_reach_the_predictor_as_env() -> None:
    env = env_of(build_children(resolved(VALID["everything"])).deployment)
    assert env["VOXTRAL_MODEL"] == "/models/hf/mistralai--Voxtral-Small-24B-2507/main"
    assert env["VOXTRAL_MODEL_NAME"] == "voxtral-small"
    assert env["VOXTRAL_MAX_MODEL_LEN"] == "32768"
    assert env["VOXTRAL_GPU_MEMORY_UTILIZATION"] == "0.92"
    assert env["VOXTRAL_MAX_CONCURRENCY"] == "32"
    assert env["VOXTRAL_MAX_QUEUE"] == "256"
    assert env["VOXTRAL_MAX_NUM_SEQS"] == "128"
    assert env["VOXTRAL_DRAIN_TIMEOUT"] == "60"
    assert env["VOXTRAL_MAX_UPLOAD_MB"] == "384"
    assert shlex.split(env["VOXTRAL_VLLM_ARGS"]) == ["--max-num-batched-tokens", "8192"]
    assert env["VLLM_LOGGING_LEVEL"] == "INFO"
    assert env["HF_HUB_OFFLINE"] == "1"


def test_probes_fit_slow_model_loads() -> None:
    for sample in (VALID["mini-preset"], VALID["everything"]):
        r = resolved(sample)
        container = build_children(r).deployment["spec"]["template"]["spec"]["containers"][0]
        startup = container["startupProbe"]
        budget = startup["periodSeconds"] * startup["failureThreshold"]
        assert budget >= 1800 and budget >= r.spec.engine.startup_timeout_seconds
        assert startup["httpGet"]["path"] == "/v2/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
        deployment = build_children(r).deployment
        assert deployment["spec"]["progressDeadlineSeconds"] > budget


def test_grace_period_outlasts_the_drain() -> None:
    for sample in (VALID["mini-preset"], VALID["everything"]):
        r = resolved(sample)
        pod = build_children(r).deployment["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > r.spec.engine.drain_timeout_seconds


def test_pods_are_locked_down() -> None:
    children = build_children(resolved(VALID["hf-private"]))
    for manifest in (children.deployment, children.download_job):
        assert manifest is not None
        pod = manifest["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}


def test_rolling_update_needs_no_spare_gpu_by_default() -> None:
    default = build_children(resolved(VALID["mini-preset"])).deployment
    assert default["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    chosen = build_children(resolved(VALID["everything"])).deployment
    assert chosen["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_token_comes_from_the_secret_never_in_args() -> None:
    job = build_children(resolved(VALID["hf-private"])).download_job
    assert job is not None
    container = job["spec"]["template"]["spec"]["containers"][0]
    token = next(e for e in container["env"] if e["name"] == "HF_TOKEN")
    assert token == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
    }
    assert not any("token" in arg.lower() for arg in container["command"][:2])
    assert "HF_TOKEN" not in container["command"][2]  # the script reads it via the hub library


def test_download_job_fills_the_cache_the_deployment_reads() -> None:
    children = build_children(resolved(VALID["hf-private"]))
    assert children.cache_claim is not None and children.download_job is not None
    claim = children.cache_claim["metadata"]["name"]
    job_pod = children.download_job["spec"]["template"]["spec"]
    assert job_pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": claim}
    env = {e["name"]: e.get("value") for e in job_pod["containers"][0]["env"]}
    assert env["VOXTRAL_DOWNLOAD_REPO"] == "acme/voxtral-finetune"
    assert env["VOXTRAL_DOWNLOAD_REVISION"] == "a1b2c3d"
    dep_pod = children.deployment["spec"]["template"]["spec"]
    assert {"name": "model", "persistentVolumeClaim": {"claimName": claim}} in dep_pod["volumes"]
    mounts = dep_pod["containers"][0]["volumeMounts"]
    # the weights read-only; beside them, vLLM's compile cache, written by the replicas
    assert {"name": "model", "mountPath": "/models", "readOnly": True} in mounts
    compile_cache = {"name": "model", "mountPath": "/var/cache/voxtral", "subPath": "compile-cache"}
    assert compile_cache in mounts
    assert env_of(children.deployment)["VOXTRAL_COMPILE_CACHE"] == "/var/cache/voxtral"
    assert env["VOXTRAL_COMPILE_CACHE_DIR"] == "/models/compile-cache"  # made by the job
    assert env["VOXTRAL_DOWNLOAD_DIR"] == env_of(children.deployment)["VOXTRAL_MODEL"]
    assert parse_quantity(
        children.cache_claim["spec"]["resources"]["requests"]["storage"]
    ) == parse_quantity("100Gi")


def test_a_new_revision_is_a_new_job() -> None:
    first = resolved(VALID["hf-private"])
    second_sample = copy.deepcopy(VALID["hf-private"])
    second_sample["spec"]["model"]["source"]["huggingFace"]["revision"] = "ffff"
    second = resolved(second_sample)
    assert download_job_name(first) != download_job_name(second)
    assert download_job_name(first) == download_job_name(resolved(VALID["hf-private"]))


def test_pvc_source_is_used_in_place() -> None:
    children = build_children(resolved(VALID["pvc"]))
    assert children.cache_claim is None and children.download_job is None
    pod = children.deployment["spec"]["template"]["spec"]
    assert {
        "name": "model",
        "persistentVolumeClaim": {"claimName": "models", "readOnly": True},
    } in pod["volumes"]
    assert env_of(children.deployment)["VOXTRAL_MODEL"] == "/models/voxtral/mini"
    # the user's claim is never written: the compile cache is the pod's own
    mounts = pod["containers"][0]["volumeMounts"]
    assert {"name": "compile-cache", "mountPath": "/var/cache/voxtral"} in mounts
    assert {"name": "compile-cache", "emptyDir": {"sizeLimit": "8Gi"}} in pod["volumes"]


def test_frontends_and_the_cpus_they_need() -> None:
    """A preset's replica runs 4 frontends beside its engine core, with the CPUs for both;
    spec.engine.apiServers overrides; without a preset the predictor decides."""
    mini = build_children(resolved(VALID["mini-preset"])).deployment
    assert env_of(mini)["VOXTRAL_API_SERVERS"] == "4"
    requests = mini["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert parse_quantity(requests["cpu"]) >= 4 + 4
    sample = copy.deepcopy(VALID["mini-preset"])
    sample["spec"]["engine"] = {"apiServers": 2}
    assert env_of(build_children(resolved(sample)).deployment)["VOXTRAL_API_SERVERS"] == "2"
    custom = build_children(resolved(VALID["hf-private"])).deployment
    assert "VOXTRAL_API_SERVERS" not in env_of(custom)


def test_pdb_only_with_more_than_one_replica() -> None:
    assert build_children(resolved(VALID["mini-preset"])).pdb is None
    pdb = build_children(resolved(VALID["small-preset"])).pdb
    assert pdb is not None and pdb["spec"]["maxUnavailable"] == 1


def test_service_ports() -> None:
    service = build_children(resolved(VALID["everything"])).service
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {"http": (80, "http"), "grpc": (9000, "grpc"), "metrics": (9090, "http")}
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["metadata"]["annotations"]["example.com/lb"] == "internal"


def test_labels_owner_and_hash_on_every_child() -> None:
    r = resolved(VALID["everything"])
    for manifest in build_children(r).all():
        meta = manifest["metadata"]
        assert meta["labels"][names.LABEL_INSTANCE] == "voxtral"
        assert meta["labels"][names.LABEL_MANAGED_BY] == "voxtral-operator"
        assert meta["labels"][names.LABEL_NAME] == "voxtral"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "voxtral.dev/v1alpha1",
                "kind": "VoxtralService",
                "name": "voxtral",
                "uid": "0b1c-uid",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert len(meta["annotations"][names.ANNOTATION_SPEC_HASH]) == 16


def test_the_hash_follows_the_spec() -> None:
    base = build_children(resolved(VALID["mini-preset"])).deployment
    again = build_children(resolved(VALID["mini-preset"])).deployment
    changed_sample = copy.deepcopy(VALID["mini-preset"])
    changed_sample["spec"]["engine"] = {"maxConcurrency": 8}
    changed = build_children(resolved(changed_sample)).deployment
    key = names.ANNOTATION_SPEC_HASH
    assert base["metadata"]["annotations"][key] == again["metadata"]["annotations"][key]
    assert base["metadata"]["annotations"][key] != changed["metadata"]["annotations"][key]


def test_replicas_are_left_out_when_an_autoscaler_owns_them() -> None:
    r = resolved(VALID["small-preset"])
    assert build_children(r).deployment["spec"]["replicas"] == 2
    autoscaled = Resolved(**{**r.__dict__, "operator_owns_replicas": False})
    assert "replicas" not in build_children(autoscaled).deployment["spec"]


def test_scheduling_reaches_replicas_and_the_download() -> None:
    children = build_children(resolved(VALID["everything"]))
    for manifest in (children.deployment, children.download_job):
        assert manifest is not None
        pod = manifest["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]
        assert {
            "key": "dedicated",
            "operator": "Equal",
            "value": "ml",
            "effect": "NoSchedule",
        } in pod["tolerations"]
        assert pod["priorityClassName"] == "inference"
        assert pod["imagePullSecrets"] == [{"name": "regcred"}]
        assert "podAntiAffinity" in pod["affinity"]
    # The GPU runtime is the predictor's: the download needs no GPU (issue 13, fix 9).
    assert children.deployment["spec"]["template"]["spec"]["runtimeClassName"] == "nvidia"
    assert children.download_job is not None
    assert "runtimeClassName" not in children.download_job["spec"]["template"]["spec"]
    plain = build_children(resolved(VALID["mini-preset"])).deployment
    assert "runtimeClassName" not in plain["spec"]["template"]["spec"]


def test_quantities_are_written_in_the_api_servers_canonical_form() -> None:
    """What the server stores is what the operator wrote: no drift on read-back (fix 5)."""
    sample = vxs({"model": {"preset": "voxtral-mini-3b"}, "resources": {"cpu": 0.5,
                  "memory": "65536Mi"}, "cache": {"size": "0.5Ti"}})  # fmt: skip
    children = build_children(resolved(sample))
    requests = children.deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert requests["requests"]["cpu"] == "500m" and requests["requests"]["memory"] == "64Gi"
    assert children.cache_claim is not None
    assert children.cache_claim["spec"]["resources"]["requests"]["storage"] == "512Gi"


def test_without_a_uid_there_is_no_owner_reference() -> None:
    for manifest in build_children(
        resolved(vxs({"model": {"preset": "voxtral-mini-3b"}}), uid=None)
    ).all():
        assert "ownerReferences" not in manifest["metadata"]


def test_the_multi_gpu_benchmark_starts_the_predictor_as_the_operator_does() -> None:
    """benchmarks/gpu/multigpu.py measures the predictor with the environment the
    operator's Deployment gives it for Voxtral Small on 2 GPUs."""
    import importlib.util
    import sys
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("multigpu", root / "benchmarks/gpu/multigpu.py")
    assert spec is not None and spec.loader is not None
    bench = sys.modules["multigpu"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    sample = yaml.safe_load((root / "manifests/samples/voxtral-small.yaml").read_text())
    env = env_of(build_children(resolved(sample)).deployment)
    assert {k: env.get(k) for k in bench.OPERATOR_ENV} == bench.OPERATOR_ENV
