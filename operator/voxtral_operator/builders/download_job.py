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
from voxtral_operator.api.resolve import MODELS_MOUNT, Resolved
from voxtral_operator.builders.meta import finish, labels
from voxtral_operator.builders.pod import container_security, pod_security, scheduling

DOWNLOAD_SCRIPT: Final = """\
import json, os
from huggingface_hub import snapshot_download
repo = os.environ["VOXTRAL_DOWNLOAD_REPO"]
path = snapshot_download(
    repo_id=repo,
    revision=os.environ["VOXTRAL_DOWNLOAD_REVISION"],
    local_dir=os.environ["VOXTRAL_DOWNLOAD_DIR"],
    allow_patterns=json.loads(os.environ["VOXTRAL_DOWNLOAD_ALLOW_PATTERNS"]) or None,
)
print(f"downloaded {repo} into {path}", flush=True)
"""
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
    }
    # The same placement as the replicas (GPU taint included, for a nodeSelector that picks
    # GPU nodes): with a zonal, wait-for-first-consumer volume, the Job's pod decides where
    # the cache lives, and the replicas must be able to reach it.
    placement = scheduling(resolved)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
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
                "template": {
                    "metadata": {"labels": labels(resolved.name, names.COMPONENT_DOWNLOAD)},
                    "spec": pod_spec,
                },
            }
        },
    )
