"""Defaults of ``spec.autoscaling`` and the policy's fixed constants, sized for Voxtral
Small (24 B parameters, 2 GPUs a replica).

Each value is justified from the figures measured on one H100 with the Small shapes
(BENCHMARKS.md, "GPU: one H100"; FACTS.md for the offline batch of 256): 30 s clips with
75 output tokens gave RTFx 22 at concurrency 1, ~159 at 8, 812-880 at 64 and 914 at 256
(vLLM's max_num_seqs on GPU, also the predictor's --max-concurrency), with a p50 of
1.36 s a clip at 1 and 2.0-2.2 s at 64; an engine starts in 74-94 s once the weights are
on local disk. `benchmarks/autoscaling_sim.py` checks them together on simulated traffic.
The API models reuse these constants, so the CRD's defaults and the policy's agree.
"""

from __future__ import annotations

from typing import Final

# ---- spec.autoscaling defaults --------------------------------------------------------

MIN_REPLICAS: Final = 1
"""One warm replica: a Small replica needs ~2 minutes to come back (engine start 74-94 s
plus the pod), so scale-to-zero makes the first request wait that long."""

MAX_REPLICAS: Final = 10
"""20 GPUs of Small: a guard against a runaway signal, not a sizing. At ~13 requests/s a
replica (the simulation's mix of lengths) that is ~130 requests/s."""

CONCURRENCY_PER_REPLICA: Final = 64
"""Requests (engine sequences: a recording cut into 30 s chunks counts each chunk) a
replica should carry. At 64, Small reached 89-96 % of the throughput it reaches at 256
(RTFx 812-880 against 914) at 2.0-2.2 s a clip; from 64 to 256 it gains at most ~8 %
for ~4x the latency (256 clips at ~30 clips/s is ~8.4 s each), and the 192 admission
slots left above 64 absorb bursts without queueing. Below 64 GPUs idle: at 8 a replica
does a sixth of the work."""

QUEUE_PER_REPLICA: Final = 8
"""Requests a replica may hold waiting (predictor queue plus engine waiting) before it
counts as saturated. Nothing waits before a replica holds 256 requests, 4x the target,
so a queue means saturation; 8 lets through the few chunks vLLM parks for an engine
step when a long recording sends 32 at once."""

KV_CACHE_USAGE: Final = 0.9
"""KV cache fraction (the fullest engine) above which a replica is full whatever its
request count. Small on one H100 has 140k tokens of KV cache; 256 clips of 30 s hold
~118k (384 audio tokens + up to 75 generated each), 84 %: above 90 % only long
single-pass recordings (7.5k+ tokens each) fill it, and vLLM starts preempting."""

SCALE_UP_STABILIZATION_SECONDS: Final = 30
"""A higher need (or a saturated fleet) must be seen on every read for this long (three
reads) before replicas are ordered: one 30-minute recording's 32 chunks do not buy GPUs,
while a real surge is answered 30 s into it, small against a 2-minute cold start."""

SCALE_UP_MAX_STEP: Final = 8
"""Replicas ordered at most per decision (16 GPUs of Small). A 10x surge on 2 replicas
needs ~17 more: three decisions, 45 s, all well inside one cold start."""

SCALE_DOWN_DELAY_SECONDS: Final = 300
"""A lower need must hold for this long, measured at the present size, before replicas
are removed, and again after each removal. A replica costs ~2 minutes and 2 GPUs to bring
back; 5 minutes (the HorizontalPodAutoscaler's default window) rides out lulls of that
order, and longer delays cost more GPU-hours than they save on daily traffic."""

SCALE_DOWN_MAX_STEP: Final = 8
"""Replicas removed at most per decision. Each removal waits for a full delay of lower
need measured at the present size, and the square-root step only halves the gap, so
large steps are safe; this bounds the rest (after a surge to 40 replicas on a
20 requests/s baseline the simulation comes back in 8 steps: 40, 32, 24, 20, 17, 9, 5,
4, 3, 2)."""

SCALE_TO_ZERO_IDLE_SECONDS: Final = 600
"""With minReplicas 0, the service goes to 0 replicas after this long without a request.
Bringing a Small replica back costs the first request ~2 minutes (engine start 74-94 s
plus the pod) and the GPUs that time: 10 minutes, five cold starts, is long enough that a
pause inside a working session (a meeting, lunch at a desk) does not cost one, and short
enough that nights and weekends are free (`benchmarks/autoscaling_sim.py`, office hours)."""

# ---- constants of the formula (not in the spec) -----------------------------------------

INTERVAL_SECONDS: Final = 15
"""How often the operator reads every ready replica's /metrics and decides (the period of
the HorizontalPodAutoscaler's sync)."""

DEMAND_WINDOW_SECONDS: Final = 180
"""The load per replica is averaged over this window (and never across a change in the
number of ready replicas). One 30-minute recording puts 32 chunks into an engine at once:
single reads swing by half a replica's target; three minutes smooth that out and still
follow a daily ramp, which moves a few percent in that time."""

STEP_EXPONENT: Final = 0.5
"""Replicas move by the square root of the load ratio: ceil(R * (load/target) ** 0.5).
A Voxtral replica's concurrency is not conserved when replicas are added: it climbs much
faster than its load near the throughput plateau (from 64 to 256 sequences Small gains
8 % throughput), so 5 replicas at 1.8x the target need 6-7, not 9, and 40 replicas at a
tenth of it need more than 4. The fixed point (load = target) is the same; only the step
is halved, in log space, and judged again at the new size."""

STARTUP_GRACE_SECONDS: Final = 600
"""How long ordered replicas that are still starting count as capacity on its way (and
the policy waits for them). A Small replica is ready in ~2 minutes with cached weights,
more with a first download of 48 GB; after 10 minutes the order is taken as stuck (an
image that does not pull, a crash loop) and the load is read again."""
