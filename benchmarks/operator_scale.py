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

import httpx  # noqa: E402
import kmock  # noqa: E402
from operator_emulator import VoxtralEmulator  # noqa: E402
from operator_harness import Cluster, OperatorRun, write_kubeconfig  # noqa: E402

from voxtral_operator import metrics  # noqa: E402
from voxtral_operator.config import Settings  # noqa: E402

READS = {"get", "list", "watch"}
AGENTS = ("voxtral-operator", "kopf")


def count(emulator: VoxtralEmulator, since: int) -> dict[str, collections.Counter[str]]:
    """{agent: Counter(reads=..., writes=...)} of requests since request #since."""
    result: dict[str, collections.Counter[str]] = {}
    for agent in AGENTS:
        counter: collections.Counter[str] = collections.Counter()
        for verb, _, _ in emulator.api_calls(since, agent=agent):
            counter["reads" if verb in READS else "writes"] += 1
        result[agent] = counter
    return result


def ready(obj: dict[str, Any]) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == "Ready":
            return bool(cond["status"] == "True")
    return False


async def play_controllers(emulator: VoxtralEmulator, cluster: Cluster, stop: asyncio.Event) -> None:
    """Complete every new Job and make every new Deployment available."""
    done: set[tuple[str, str]] = set()
    while not stop.is_set():
        for job in emulator.list("batch/v1/jobs", "default"):
            key = ("job", job["metadata"]["name"])
            if key not in done:
                done.add(key)
                await cluster.mark_job_complete(job["metadata"]["name"])
        for dep in emulator.list("apps/v1/deployments", "default"):
            key = ("deployment", dep["metadata"]["name"])
            if key not in done:
                done.add(key)
                await cluster.mark_deployment_available(dep["metadata"]["name"])
        await asyncio.sleep(0.2)


async def wait_quiet(emulator: VoxtralEmulator, quiet: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last, since = emulator.request_count, time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = emulator.request_count
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def per(n: int, counter: collections.Counter[str]) -> str:
    return f"{counter['reads'] / n:.2f} reads, {counter['writes'] / n:.2f} writes"


async def main(n: int, resync: float) -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kopf").setLevel(logging.ERROR)
    settings = Settings(metrics_port=0, resync_seconds=resync, wait_seconds=5)
    async with VoxtralEmulator() as emulator, kmock.Server(emulator) as server:
        write_kubeconfig(KUBECONFIG, str(server.url).rstrip("/"))
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=str(server.url).rstrip("/"), limits=limits,
                                     timeout=60) as client:
            cluster = Cluster(client)
            run = OperatorRun(settings)
            await run.start()
            stop = asyncio.Event()
            controllers = asyncio.create_task(play_controllers(emulator, cluster, stop))
            mark = emulator.request_count
            started = time.monotonic()
            presets = ("voxtral-mini-3b", "voxtral-small-24b")
            sem = asyncio.Semaphore(20)

            async def create(i: int) -> None:
                async with sem:
                    await cluster.create_vxs(f"vxs-{i:04d}",
                                             {"model": {"preset": presets[i % 2]}})

            await asyncio.gather(*(create(i) for i in range(n)))
            created = time.monotonic() - started
            children_at = ready_at = None
            while ready_at is None:
                await asyncio.sleep(0.2)
                services = emulator.list("voxtral.dev/v1alpha1/voxtralservices", "default")
                if children_at is None and len(
                        emulator.list("apps/v1/deployments", "default")) >= n:
                    children_at = time.monotonic() - started
                if sum(ready(s) for s in services) >= n:
                    ready_at = time.monotonic() - started
                if time.monotonic() - started > 900:
                    raise TimeoutError("not converged in 15 minutes")
            stop.set()
            await controllers
            await wait_quiet(emulator, quiet=2.0, timeout=120)
            converge = count(emulator, mark)
            if os.environ.get("BENCH_DEBUG"):
                print(collections.Counter(emulator.api_calls(mark, agent="voxtral-operator")))
                seqs = collections.defaultdict(list)
                for r in list(emulator._requests)[mark:]:
                    if r.subresource == "status" and r.resource.plural == "voxtralservices":
                        d = r.data["status"]
                        seqs[r.name].append(tuple(c["reason"] for c in d.get("conditions", [])))
                print(collections.Counter(tuple(v) for v in seqs.values()).most_common(4))

            # An idle resync: nothing changed, every service is re-checked.
            before = metrics.RECONCILES.labels("resync", "ok")._value.get()
            mark = emulator.request_count
            t0 = time.monotonic()
            while metrics.RECONCILES.labels("resync", "ok")._value.get() < before + n:
                await asyncio.sleep(0.1)
                if time.monotonic() - t0 > resync * 3 + 60:
                    raise TimeoutError("no full resync")
            idle = count(emulator, mark)
            reconciles = metrics.RECONCILES.labels("resync", "ok")._value.get() - before

            # A restart: the new operator re-lists everything and resumes every service.
            await run.stop()
            mark = emulator.request_count
            t0 = time.monotonic()
            again = OperatorRun(settings)
            await again.start()
            await wait_quiet(emulator, quiet=2.0, timeout=120)
            restart_took = time.monotonic() - t0 - 2.0
            restart = count(emulator, mark)
            if os.environ.get("BENCH_DEBUG"):
                print(collections.Counter(emulator.api_calls(mark, agent="voxtral-operator")))
                for r in list(emulator._requests)[mark:]:
                    if str(r.headers.get("User-Agent", "")).startswith("voxtral-operator"):
                        print(r.name, r.subresource, str(r.data)[:600])
                        break
            await again.stop()

    op, kp = converge["voxtral-operator"], converge["kopf"]
    print(f"VoxtralServices: {n} (half voxtral-mini-3b, half voxtral-small-24b; one "
          f"replica each: PVC, Job, Service, Deployment), {os.cpu_count()} CPU cores, emulator in the same process")
    print(f"created all in {created:.1f} s; all Deployments exist at {children_at:.1f} s; "
          f"all Ready at {ready_at:.1f} s")
    print(f"converging, per service: reconciler {per(n, op)}; kopf {per(n, kp)} "
          f"(kopf's reads are its list+watch streams, shared by all services)")
    print(f"idle resync ({reconciles:.0f} reconciles): reconciler {idle['voxtral-operator']['reads']}"
          f" reads, {idle['voxtral-operator']['writes']} writes; kopf "
          f"{idle['kopf']['writes']} writes")
    print(f"restart (resume of {n} services in ~{restart_took:.1f} s): reconciler "
          f"{restart['voxtral-operator']['reads']} reads, "
          f"{restart['voxtral-operator']['writes']} writes; kopf "
          f"{restart['kopf']['reads']} reads, {restart['kopf']['writes']} writes")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--resync", type=float, default=10.0,
                        help="operator resync period in seconds (default: %(default)s)")
    args = parser.parse_args()
    asyncio.run(main(args.services, args.resync))
