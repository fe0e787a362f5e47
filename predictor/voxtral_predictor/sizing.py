"""Pure: how many frontend processes a replica runs (``--api-servers``), from the GPUs and
the CPUs the process may use. On one H200 with Voxtral Mini and distinct audio, one
frontend process held the GPU to 0.47x of vLLM's own server with 8 API processes (the
frontend at 85 % CPU); with 8 frontends it matched that server and the engine core, at
4.8-5.5 cores, became the limit (BENCHMARKS.md, issue 15)."""

from __future__ import annotations

ENGINE_CORE_CPUS = 4  # what the engine-core process leaves idle for frontends (H200, Mini)
MOST_API_SERVERS = 8  # at 8 the engine core is already the limit; more were not measured


def default_api_servers(gpus: int, cpus: float) -> int:
    """One frontend on CPU (the engine takes the cores); on GPUs, the CPUs left beside the
    engine core, between 1 and MOST_API_SERVERS."""
    if gpus == 0:
        return 1
    return max(1, min(MOST_API_SERVERS, int(cpus) - ENGINE_CORE_CPUS))


def cgroup_cpus(cpu_max: str) -> float | None:
    """The CPUs a cgroup v2 ``cpu.max`` ("quota period", or "max period") allows."""
    parts = cpu_max.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    quota, period = float(parts[0]), float(parts[1])
    return quota / period if period > 0 else None
