"""The Job that downloads a Hugging Face checkpoint into the model cache, once.

Its name carries a hash of what it downloads: a new repo or revision is a new Job (a Job's
pod template cannot change), and the finished Job is the record that the cache is filled.
The token reaches the container only through a secretKeyRef: never args, never logs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from voxtral_operator.api import names
from voxtral_operator.api.resolve import COMPILE_CACHE_DIR, MODELS_MOUNT, Resolved
from voxtral_operator.builders.meta import finish, labels
from voxtral_operator.builders.pod import RUN_AS, container_security, pod_security, scheduling

# The script's exit code and first words when it cannot write the cache (EACCES): the Job
# fails at once (its pod failure policy), and the status says why (status/blockers.py).
PERMISSION_EXIT: Final = 13
PERMISSION_TEXT: Final = "permission denied"
DOWNLOAD_SCRIPT: Final = """\
import json, os, sys
target = os.environ["VOXTRAL_DOWNLOAD_DIR"]
try:  # a volume whose driver ignores fsGroup is not writable by this non-root user
    os.makedirs(target, exist_ok=True)
    os.makedirs(os.environ["HF_HOME"], exist_ok=True)
    # the replicas' compile cache: theirs to write (a directory the kubelet made for a
    # subPath would be root's)
    os.makedirs(os.environ["VOXTRAL_COMPILE_CACHE_DIR"], exist_ok=True)
    probe = os.path.join(target, ".voxtral-write-test")
    open(probe, "w").close()
    os.remove(probe)
except PermissionError as exc:
    print(f"PERMISSION_TEXT: uid {os.getuid()} gid {os.getgid()} cannot write "
          f"{exc.filename or target}", file=sys.stderr, flush=True)
    sys.exit(PERMISSION_EXIT)
from huggingface_hub import snapshot_download
repo = os.environ["VOXTRAL_DOWNLOAD_REPO"]
path = snapshot_download(
    repo_id=repo,
    revision=os.environ["VOXTRAL_DOWNLOAD_REVISION"],
    local_dir=os.environ["VOXTRAL_DOWNLOAD_DIR"],
    allow_patterns=json.loads(os.environ["VOXTRAL_DOWNLOAD_ALLOW_PATTERNS"]) or None,
)
print(f"downloaded {repo} into {path}", flush=True)
""".replace("PERMISSION_TEXT", PERMISSION_TEXT).replace("PERMISSION_EXIT", str(PERMISSION_EXIT))
BACKOFF_LIMIT: Final = 4


def source_hash(resolved: Resolved) -> str:
    hf = resolved.hugging_face
    assert hf is not None
    what = [hf.repo, hf.revision, sorted(hf.allow_patterns), resolved.model_dir]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]


def download_job_name(resolved: Resolved) -> str | None:
    if resolved.hugging_face is None:
        return None
    return names.download_job(resolved.name, source_hash(resolved))


def _fail_at_once(resolved: Resolved) -> list[dict[str, Any]]:
    """No retry can write a volume this user may not write to, nor chown one that refuses
    it: the Job fails at once, and the status says why."""
    rules: list[dict[str, Any]] = [
        {
            "action": "FailJob",
            "onExitCodes": {
                "containerName": "download",
                "operator": "In",
                "values": [PERMISSION_EXIT],
            },
        }
    ]
    if resolved.service.spec.cache.fix_permissions:
        rules.append(
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": "cache-permissions",
                    "operator": "NotIn",
                    "values": [0],
                },
            }
        )
    return rules


def _fix_permissions(resolved: Resolved) -> dict[str, Any]:
    """spec.cache.fixPermissions: an init container that gives the cache to the download's
    uid/gid before it runs, for volume drivers that ignore fsGroup (NFS and other RWX
    drivers). It runs as root with CHOWN and FOWNER only: a namespace that enforces the
    restricted Pod Security level refuses it, and an export with root_squash refuses the
    chown; the status then says so."""
    if not resolved.service.spec.cache.fix_permissions:
        return {}
    owner = f"{RUN_AS}:{RUN_AS}"
    init = {
        "name": "cache-permissions",
        "image": resolved.service.spec.image,
        "imagePullPolicy": resolved.service.spec.image_pull_policy,
        "command": ["sh", "-c", f"chown -R {owner} {MODELS_MOUNT} && chmod u+rwx {MODELS_MOUNT}"],
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "volumeMounts": [{"name": "model", "mountPath": MODELS_MOUNT}],
    }
    return {"initContainers": [init]}


def build_download_job(resolved: Resolved) -> dict[str, Any] | None:
    hf = resolved.hugging_face
    name = download_job_name(resolved)
    if hf is None or name is None:
        return None
    spec = resolved.service.spec
    env: list[dict[str, Any]] = [
        {"name": "VOXTRAL_DOWNLOAD_REPO", "value": hf.repo},
        {"name": "VOXTRAL_DOWNLOAD_REVISION", "value": hf.revision},
        {"name": "VOXTRAL_DOWNLOAD_DIR", "value": resolved.model_dir},
        {"name": "VOXTRAL_DOWNLOAD_ALLOW_PATTERNS", "value": json.dumps(hf.allow_patterns)},
        {"name": "HF_HOME", "value": f"{MODELS_MOUNT}/.hf-home"},
        {"name": "VOXTRAL_COMPILE_CACHE_DIR", "value": f"{MODELS_MOUNT}/{COMPILE_CACHE_DIR}"},
        {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
        # The predictor image runs offline (HF_HUB_OFFLINE=1): this Job is the one place
        # that must reach the Hub.
        {"name": "HF_HUB_OFFLINE", "value": "0"},
        {"name": "HOME", "value": "/tmp"},
    ]
    if hf.token_secret_ref is not None:
        env.append(
            {
                "name": "HF_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": hf.token_secret_ref.name,
                        "key": hf.token_secret_ref.key,
                    }
                },
            }
        )
    container = {
        "name": "download",
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": ["python3", "-c", DOWNLOAD_SCRIPT],
        "env": env,
        "resources": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"memory": "4Gi"},
        },
        "securityContext": container_security(),
        "volumeMounts": [{"name": "model", "mountPath": MODELS_MOUNT}],
        # A failed download's last log lines become its termination message (the status
        # quotes it: a 401 from the Hub, a repository not found, a full volume).
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    # The same placement as the replicas (GPU taint included, for a nodeSelector that picks
    # GPU nodes): with a zonal, wait-for-first-consumer volume, the Job's pod decides where
    # the cache lives, and the replicas must be able to reach it.
    placement = scheduling(resolved)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        **_fix_permissions(resolved),
        "containers": [container],
        "volumes": [{"name": "model", "persistentVolumeClaim": {"claimName": resolved.claim_name}}],
        "securityContext": pod_security(),
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        **placement,
    }
    return finish(
        resolved,
        api_version="batch/v1",
        kind="Job",
        name=name,
        component=names.COMPONENT_DOWNLOAD,
        body={
            "spec": {
                "backoffLimit": BACKOFF_LIMIT,
                "podFailurePolicy": {"rules": _fail_at_once(resolved)},
                "template": {
                    "metadata": {"labels": labels(resolved.name, names.COMPONENT_DOWNLOAD)},
                    "spec": pod_spec,
                },
            }
        },
    )
