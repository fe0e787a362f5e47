"""Peered operator replicas (issue 13, fix 8): a replica that a higher-priority peer pauses
does nothing at all, its periodic resync included: its caches stop with its watches, and a
resync from them would apply a stale desired state over the active replica's writes. Two
operator processes as the chart runs them, under the chart's RBAC."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

from install_chart import NAMESPACE, find, render
from operator_harness import (
    VXS_API,
    Cluster,
    children,
    env_of,
    eventually,
    ready_service,
    settle,
)
from operator_process import OperatorProcess
from operator_samples import VALID
from rbac_emulator import RbacEmulator
from test_rbac import SA, api, install

MANAGED = "voxtral_operator_managed_services"


async def test_a_paused_standby_neither_resyncs_nor_counts_services(
    api: tuple[RbacEmulator, Cluster, Path], tmp_path: Path
) -> None:
    em, cluster, kubeconfig = api
    docs = render("--set", "replicaCount=2,peering.enabled=true")
    await install(cluster, em, docs)
    deployment = find(docs, "Deployment")
    fast = {"VOXTRAL_OPERATOR_RESYNC_SECONDS": "0.2", "VOXTRAL_OPERATOR_WAIT_SECONDS": "0.2"}

    def start(name: str, priority: int) -> OperatorProcess:
        env = fast | {"VOXTRAL_OPERATOR_PRIORITY": str(priority)}
        return OperatorProcess.start(deployment, kubeconfig, tmp_path / f"{name}.log", env)

    first = start("first", 1)
    second: OperatorProcess | None = None
    try:
        await eventually(first.healthy, timeout=30, what="the first replica")
        await ready_service(cluster, em, VALID["mini-preset"])
        await eventually(lambda: _resyncs_grow(first), timeout=10, what="the first's resyncs")
        assert await first.metric(MANAGED) == 1

        # A replica of higher priority arrives: the first pauses.
        second = start("second", 2)
        await eventually(second.healthy, timeout=30, what="the second replica")
        await eventually(lambda: _paused(first), timeout=20, what="the first to pause")
        await eventually(lambda: _serves(second), timeout=20, what="the second to serve")
        assert await first.metric(MANAGED) == 0  # a standby serves nothing

        # A spec change: the active replica applies it, once; the standby never undoes it.
        before = await first.reconciles()
        mark = em.request_count
        await cluster.patch(
            VXS_API, "voxtralservices", "voxtral", {"spec": {"engine": {"maxConcurrency": 8}}}
        )
        await eventually(lambda: _max_concurrency(em, "8"), what="the new spec applied")
        await asyncio.sleep(1.5)  # several resync periods of both replicas
        await settle(em)
        patches = collections.Counter(em.api_calls(mark, agent="voxtral-operator"))
        assert patches[("patch", "apps", "deployments")] == 1, patches
        assert await _max_concurrency(em, "8")
        assert await first.reconciles() == before, "the paused replica reconciled"
        assert await second.reconciles("resync") > 0
        assert em.denied == []

        # The active replica goes: the standby resumes, resyncs again and counts the service.
        assert await second.stop() == 0, second.output()
        await eventually(lambda: _resyncs_grow(first), timeout=30, what="the first to resume")
        assert await first.metric(MANAGED) == 1
    finally:
        codes = [await p.stop() for p in (first, second) if p is not None]
    assert set(codes) == {0}, first.output()


async def _resyncs_grow(replica: OperatorProcess) -> bool:
    before = await replica.reconciles("resync")
    await asyncio.sleep(0.5)
    return await replica.reconciles("resync") > before


async def _paused(replica: OperatorProcess) -> bool:
    return "Pausing operations in favour of" in replica.log.read_text(errors="replace")


async def _serves(replica: OperatorProcess) -> bool:
    return await replica.metric(MANAGED) == 1


async def _max_concurrency(em: RbacEmulator, value: str) -> bool:
    (deployment,) = children(em)["Deployment"]
    return env_of(deployment).get("VOXTRAL_MAX_CONCURRENCY") == value


__all__ = ["NAMESPACE", "SA", "api"]  # api: the fixture, from test_rbac
