"""Run the real operator (kopf + voxtral_operator.handlers) against the emulator, in the
test's event loop, and act on the cluster as a user would: over HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import kopf
import yaml
from kube_emulator import VoxtralEmulator

import voxtral_operator.handlers  # noqa: F401  (registers the real handlers)
from voxtral_operator.config import Settings

T = TypeVar("T")
VXS = "/apis/voxtral.dev/v1alpha1"


def write_kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "test-token"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester"}}],
        "current-context": "emulator",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def fast_settings() -> kopf.OperatorSettings:
    """kopf settings for tests: the same behaviour, shorter waits."""
    settings = kopf.OperatorSettings()
    settings.batching.batch_window = 0.01
    settings.batching.idle_timeout = 1.0
    settings.batching.exit_timeout = 0.5
    settings.watching.reconnect_backoff = 0.1
    settings.posting.enabled = True
    return settings


class OperatorRun:
    """One run of the operator, in its own thread and event loop (as in a pod of its own:
    it shares nothing with the test but the API); `stop()` ends it like SIGTERM would."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def _main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        try:
            kopf.run(
                loop=loop,
                clusterwide=True,
                standalone=True,
                settings=fast_settings(),
                stop_flag=self._stop,
                ready_flag=ready,
                memo=kopf.Memo(settings=self.settings),
            )
        except BaseException as exc:  # reported by start()/stop()
            self.error = exc
        finally:
            loop.close()

    async def start(self) -> None:
        self._stop = threading.Event()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._main, args=(ready,), daemon=True, name="voxtral-operator"
        )
        self._thread.start()
        while not ready.is_set():
            if not self._thread.is_alive():
                raise RuntimeError(f"the operator exited at start-up: {self.error!r}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        await asyncio.to_thread(self._thread.join, 30)
        assert not self._thread.is_alive(), "the operator did not stop in 30 s"
        self._thread = None
        if self.error is not None:
            raise self.error


class Cluster:
    """A user of the cluster: creates, edits and reads objects over HTTP."""

    def __init__(self, client: httpx.AsyncClient, namespace: str = "default") -> None:
        self.http = client
        self.namespace = namespace

    @staticmethod
    def _check(response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise AssertionError(
                f"{response.request.method} {response.request.url}: "
                f"{response.status_code} {response.text[:500]}"
            )
        result: dict[str, Any] = response.json()
        return result

    def path(self, api: str, plural: str, name: str | None = None, sub: str | None = None) -> str:
        base = f"/api/{api}" if api == "v1" else f"/apis/{api}"
        path = f"{base}/namespaces/{self.namespace}/{plural}"
        return path + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    async def create(self, api: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._check(await self.http.post(self.path(api, plural), json=body))

    async def get(self, api: str, plural: str, name: str) -> dict[str, Any] | None:
        response = await self.http.get(self.path(api, plural, name))
        return None if response.status_code == 404 else self._check(response)

    async def patch(
        self, api: str, plural: str, name: str, patch: dict[str, Any], sub: str | None = None
    ) -> dict[str, Any]:
        response = await self.http.patch(
            self.path(api, plural, name, sub),
            content=__import__("json").dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        return self._check(response)

    async def delete(self, api: str, plural: str, name: str) -> None:
        self._check(await self.http.delete(self.path(api, plural, name)))

    async def create_vxs(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": "voxtral.dev/v1alpha1",
            "kind": "VoxtralService",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }
        return await self.create("voxtral.dev/v1alpha1", "voxtralservices", body)

    async def vxs(self, name: str) -> dict[str, Any]:
        found = await self.get("voxtral.dev/v1alpha1", "voxtralservices", name)
        assert found is not None, f"VoxtralService {name} is gone"
        return found

    async def mark_job_complete(self, name: str) -> None:
        await self.patch(
            "batch/v1",
            "jobs",
            name,
            {
                "status": {
                    "succeeded": 1,
                    "conditions": [{"type": "Complete", "status": "True"}],
                }
            },
            sub="status",
        )

    async def mark_deployment_available(self, name: str, replicas: int = 1) -> None:
        await self.patch(
            "apps/v1",
            "deployments",
            name,
            {
                "status": {
                    "observedGeneration": 1,
                    "replicas": replicas,
                    "readyReplicas": replicas,
                    "availableReplicas": replicas,
                    "updatedReplicas": replicas,
                    "conditions": [
                        {
                            "type": "Available",
                            "status": "True",
                            "reason": "MinimumReplicasAvailable",
                        }
                    ],
                }
            },
            sub="status",
        )

    async def create_pod(
        self, name: str, instance: str = "voxtral", port: int = 8080
    ) -> dict[str, Any]:
        """A predictor pod of the service's Deployment, as its ReplicaSet would create it
        (the status comes from pod_ready / pod_unschedulable, as the kubelet and the
        scheduler would write it)."""
        labels = {
            "app.kubernetes.io/name": "voxtral",
            "app.kubernetes.io/instance": instance,
            "app.kubernetes.io/component": "predictor",
            "app.kubernetes.io/managed-by": "voxtral-operator",
            "app.kubernetes.io/part-of": "voxtral-operator",
        }
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "containers": [
                    {
                        "name": "predictor",
                        "image": "voxtral-predictor",
                        "ports": [{"name": "http", "containerPort": port}],
                    }
                ]
            },
        }
        return await self.create("v1", "pods", body)

    async def pod_ready(self, name: str, ip: str) -> None:
        now = _rfc3339()
        await self.patch(
            "v1",
            "pods",
            name,
            {
                "status": {
                    "phase": "Running",
                    "podIP": ip,
                    "conditions": [
                        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                        {"type": "Ready", "status": "True", "lastTransitionTime": now},
                    ],
                }
            },
            sub="status",
        )

    async def pod_unschedulable(self, name: str) -> None:
        await self.patch(
            "v1",
            "pods",
            name,
            {
                "status": {
                    "phase": "Pending",
                    "conditions": [
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
                            "lastTransitionTime": _rfc3339(),
                        }
                    ],
                }
            },
            sub="status",
        )


def _rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout: float = 10.0, what: str = "the condition"
) -> T:
    """Poll until check() returns something truthy; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except AssertionError as exc:
            last = exc
        if last and not isinstance(last, AssertionError):
            return last  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


async def settle(emulator: Any, quiet: float = 0.5, timeout: float = 15.0) -> None:
    """Wait until the API has seen no write for `quiet` seconds."""
    deadline = time.monotonic() + timeout

    def writes() -> int:
        return sum(1 for verb, _, _ in emulator.api_calls() if verb not in ("get", "list", "watch"))

    last, since = writes(), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        now = writes()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise AssertionError("the API never went quiet")


# --- what the end-to-end tests look at --------------------------------------------------

VXS_API = "voxtral.dev/v1alpha1"
WRITES = {"create", "patch", "update", "delete"}
CHILD_RESOURCES = {
    "Deployment": "apps/v1/deployments",
    "Service": "v1/services",
    "PodDisruptionBudget": "policy/v1/poddisruptionbudgets",
    "PersistentVolumeClaim": "v1/persistentvolumeclaims",
    "Job": "batch/v1/jobs",
    "HorizontalPodAutoscaler": "autoscaling/v2/horizontalpodautoscalers",
    "ConfigMap": "v1/configmaps",
    "ScaledObject": "keda.sh/v1alpha1/scaledobjects",
    "ServiceMonitor": "monitoring.coreos.com/v1/servicemonitors",
    "PrometheusRule": "monitoring.coreos.com/v1/prometheusrules",
    "InferencePool": "inference.networking.k8s.io/v1/inferencepools",
    "InferenceService": "serving.kserve.io/v1beta1/inferenceservices",
}


def children(
    emulator: VoxtralEmulator, instance: str = "voxtral"
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for kind, resource in CHILD_RESOURCES.items():
        for obj in emulator.list(resource, "default"):
            labels = obj["metadata"].get("labels") or {}
            if labels.get("app.kubernetes.io/instance") == instance:
                found.setdefault(kind, []).append(obj)
    return found


def condition(vxs: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (vxs.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return {}


def operator_writes(emulator: VoxtralEmulator, since: int) -> list[tuple[str, str, str]]:
    calls = emulator.api_calls(since, agent="voxtral-operator") + emulator.api_calls(
        since, agent="kopf"
    )
    return [call for call in calls if call[0] in WRITES]


async def until_condition(
    cluster: Cluster,
    type_: str,
    status: str,
    reason: str | None = None,
    name: str = "voxtral",
    timeout: float = 10,
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        vxs = await cluster.vxs(name)
        cond = condition(vxs, type_)
        ok = cond.get("status") == status and (reason is None or cond.get("reason") == reason)
        return vxs if ok else None

    return await eventually(check, timeout, f"{type_}={status} ({reason})")


async def ready_service(
    cluster: Cluster, emulator: VoxtralEmulator, sample: dict[str, Any]
) -> dict[str, Any]:
    """Create a service and play the Job and Deployment controllers until it is Ready."""
    await cluster.create_vxs(sample["metadata"]["name"], sample["spec"])
    job = await eventually(lambda: first_child(emulator, "Job"), what="the download Job")
    await cluster.mark_job_complete(job["metadata"]["name"])
    await eventually(lambda: first_child(emulator, "Deployment"), what="the Deployment")
    replicas = sample["spec"].get("replicas", 1)
    await cluster.mark_deployment_available("voxtral", replicas)
    return await until_condition(cluster, "Ready", "True")


async def first_child(emulator: VoxtralEmulator, kind: str) -> dict[str, Any] | None:
    found = children(emulator).get(kind)
    return found[0] if found else None


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}
