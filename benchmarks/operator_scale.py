"""How the operator scales: N VoxtralServices against the API emulator.

    python benchmarks/operator_scale.py [--services 500] [--resync 10]

The operator runs for real (kopf + voxtral_operator.handlers, its own thread and event loop)
against the kmock-based API emulator of the tests, over HTTP on localhost; this script plays
the user (creating the services) and the Job and Deployment controllers (marking downloads
complete and Deployments available). It prints:

- seconds until every service has all its children, and until every one reports Ready;
- API requests per service while converging, reads (get/list/watch) and writes, split into
  the reconciler's own and kopf's bookkeeping;
- requests during an idle resync of every service (target: 0 writes), and after a restart
  of the operator (target: 0 writes).

With BENCH_DEBUG=1 it also prints the reconciler's requests by (verb, group, resource).
Requests are told apart by User-Agent (voxtral-operator/..., kopf/..., this script's httpx).
Everything shares this machine's cores, the emulator included: the figures are an upper
bound of the operator's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "operator"))
KUBECONFIG = Path(tempfile.mkdtemp(prefix="voxtral-bench-")) / "kubeconfig"
os.environ["KUBECONFIG"] = str(KUBECONFIG)

import httpx
import kmock
from kube_emulator import VoxtralEmulator
from operator_harness import Cluster, OperatorRun, write_kubeconfig

from voxtral_operator import metrics
from voxtral_operator.config import Settings

READS = {"get", "list", "watch"}
AGENTS = ("voxtral-operator", "kopf")
PRESETS = ("voxtral-mini-3b", "voxtral-small-24b")


def count(emulator: VoxtralEmulator, since: int) -> dict[str, collections.Counter[str]]:
    """{agent: Counter(reads=..., writes=...)} of requests since request #since."""
    result: dict[str, collections.Counter[str]] = {}
    for agent in AGENTS:
        counter: collections.Counter[str] = collections.Counter()
        for verb, _, _ in emulator.requests(since, agent=agent):
            counter["reads" if verb in READS else "writes"] += 1
        result[agent] = counter
    return result


def ready(obj: dict[str, Any]) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == "Ready":
            return bool(cond["status"] == "True")
    return False


async def play_controllers(
    emulator: VoxtralEmulator, cluster: Cluster, stop: asyncio.Event
) -> None:
    """Complete every new Job and make every new Deployment available."""
    done: set[tuple[str, str]] = set()
    while not stop.is_set():
        for kind, resource in (("job", "batch/v1/jobs"), ("deployment", "apps/v1/deployments")):
            for obj in emulator.list(resource, "default", copy_=False):
                key = (kind, obj["metadata"]["name"])
                if key in done:
                    continue
                done.add(key)
                if kind == "job":
                    await cluster.mark_job_complete(key[1])
                else:
                    await cluster.mark_deployment_available(key[1])
        await asyncio.sleep(0.2)


async def wait_quiet(emulator: VoxtralEmulator, quiet: float, timeout: float) -> None:
    """Until no new request for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = emulator.request_count, time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = emulator.request_count
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise TimeoutError("the API never went quiet")


def per(n: int, counter: collections.Counter[str]) -> str:
    return f"{counter['reads'] / n:.2f} reads, {counter['writes'] / n:.2f} writes"


async def converge(n: int, emulator: VoxtralEmulator, cluster: Cluster) -> dict[str, Any]:
    stop = asyncio.Event()
    controllers = asyncio.create_task(play_controllers(emulator, cluster, stop))
    mark = emulator.request_count
    started = time.monotonic()
    sem = asyncio.Semaphore(20)

    async def create(i: int) -> None:
        async with sem:
            await cluster.create_vxs(f"vxs-{i:04d}", {"model": {"preset": PRESETS[i % 2]}})

    await asyncio.gather(*(create(i) for i in range(n)))
    created = time.monotonic() - started
    children_at = ready_at = None
    while ready_at is None:
        await asyncio.sleep(0.2)
        if controllers.done():
            controllers.result()  # raises what stopped it
        deployments = emulator.list("apps/v1/deployments", "default", copy_=False)
        if children_at is None and len(deployments) >= n:
            children_at = time.monotonic() - started
        services = emulator.list("voxtral.dev/v1alpha1/voxtralservices", "default", copy_=False)
        if sum(ready(s) for s in services) >= n:
            ready_at = time.monotonic() - started
        if time.monotonic() - started > 900:
            raise TimeoutError("not converged in 15 minutes")
    stop.set()
    await controllers
    await wait_quiet(emulator, quiet=2.0, timeout=300)
    if os.environ.get("BENCH_DEBUG"):
        print(collections.Counter(emulator.requests(mark, agent="voxtral-operator")))
    return {
        "created": created,
        "children": children_at,
        "ready": ready_at,
        "calls": count(emulator, mark),
    }


async def idle_resync(n: int, resync: float, emulator: VoxtralEmulator) -> dict[str, Any]:
    """Every service re-checked with nothing changed."""
    before = metrics.RECONCILES.labels("resync", "ok")._value.get()
    mark = emulator.request_count
    started = time.monotonic()
    while metrics.RECONCILES.labels("resync", "ok")._value.get() < before + n:
        await asyncio.sleep(0.1)
        if time.monotonic() - started > resync * 3 + 120:
            raise TimeoutError("no full resync")
    reconciles = metrics.RECONCILES.labels("resync", "ok")._value.get() - before
    return {"reconciles": reconciles, "calls": count(emulator, mark)}


async def restart(settings: Settings, emulator: VoxtralEmulator) -> dict[str, Any]:
    """A new operator re-lists everything and resumes every service."""
    mark = emulator.request_count
    started = time.monotonic()
    again = OperatorRun(settings)
    await again.start()
    try:
        await wait_quiet(emulator, quiet=2.0, timeout=300)
    finally:
        await again.stop()
    if os.environ.get("BENCH_DEBUG"):
        print(collections.Counter(emulator.requests(mark, agent="voxtral-operator")))
    return {"seconds": time.monotonic() - started - 2.0, "calls": count(emulator, mark)}


async def main(n: int, resync: float) -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kopf").setLevel(logging.ERROR)
    settings = Settings(metrics_port=0, resync_seconds=resync, wait_seconds=5)
    async with VoxtralEmulator() as emulator, kmock.Server(emulator) as server:
        write_kubeconfig(KUBECONFIG, str(server.url).rstrip("/"))
        url = str(server.url).rstrip("/")
        async with httpx.AsyncClient(
            base_url=url, timeout=60, limits=httpx.Limits(max_connections=20)
        ) as client:
            cluster = Cluster(client)
            run = OperatorRun(settings)
            await run.start()
            try:
                conv = await converge(n, emulator, cluster)
                idle = await idle_resync(n, resync, emulator)
            finally:
                await run.stop()
            again = await restart(settings, emulator)

    op, kp = conv["calls"]["voxtral-operator"], conv["calls"]["kopf"]
    print(
        f"VoxtralServices: {n} (half voxtral-mini-3b, half voxtral-small-24b; each gets a "
        f"PVC, a Job, a Service, a Deployment), {os.cpu_count()} CPU cores, the emulator "
        "in the same process"
    )
    print(
        f"created all in {conv['created']:.1f} s; all Deployments exist at "
        f"{conv['children']:.1f} s; all Ready at {conv['ready']:.1f} s"
    )
    print(
        f"converging, per service: reconciler {per(n, op)}; kopf {per(n, kp)} (kopf's "
        "reads are its list+watch streams, shared by all services)"
    )
    ic = idle["calls"]
    print(
        f"idle resync ({idle['reconciles']:.0f} reconciles): reconciler "
        f"{ic['voxtral-operator']['reads']} reads, {ic['voxtral-operator']['writes']} "
        f"writes; kopf {ic['kopf']['writes']} writes"
    )
    rc = again["calls"]
    print(
        f"restart (all {n} resumed in ~{again['seconds']:.1f} s): reconciler "
        f"{rc['voxtral-operator']['reads']} reads, {rc['voxtral-operator']['writes']} "
        f"writes; kopf {rc['kopf']['reads']} reads, {rc['kopf']['writes']} writes"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument(
        "--resync",
        type=float,
        default=10.0,
        help="operator resync period in seconds (default: %(default)s)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.services, args.resync))
