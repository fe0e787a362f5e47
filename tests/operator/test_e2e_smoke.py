from __future__ import annotations

from operator_harness import Cluster, OperatorRun, eventually


async def test_smoke(cluster: Cluster, operator: OperatorRun, emulator) -> None:
    await cluster.create_vxs("mini", {"model": {"preset": "voxtral-mini-3b"}})

    async def job():
        jobs = emulator.list("batch/v1/jobs", "default")
        return jobs
    jobs = await eventually(job, what="job")
    print(jobs[0]["metadata"]["name"])
    await cluster.mark_job_complete(jobs[0]["metadata"]["name"])
    dep = await eventually(lambda: cluster.get("apps/v1", "deployments", "mini"), what="deployment")
    await cluster.mark_deployment_available("mini")
    async def ready():
        vxs = await cluster.vxs("mini")
        conds = {c["type"]: c["status"] for c in vxs.get("status", {}).get("conditions", [])}
        return vxs if conds.get("Ready") == "True" else None
    vxs = await eventually(ready, what="ready")
    print(vxs["status"])
    import collections; print(collections.Counter(emulator.api_calls()))
