"""The operator-mode autoscaling policy: /metrics parsing and the pure scaling decision,
replayed on recorded sequences of load (ramp, spike, decay, flapping, no GPUs...).

`Cluster` below plays the Deployment: it applies each decision, keeps new replicas
starting for a cold start, and spreads a recorded total demand over the ready replicas
(each admits 256 requests, the rest queue), as the predictor does."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from voxtral_operator.autoscaling import (
    Decision,
    Fleet,
    History,
    MetricsError,
    ReplicaSignals,
    ScaleDown,
    ScaleUp,
    ScalingConfig,
    Target,
    decide,
    parse_signals,
)
from voxtral_operator.autoscaling import defaults as d

TICK = d.INTERVAL_SECONDS
COLD_START = 120.0
ADMITS = 256  # the predictor's --max-concurrency: beyond, requests queue
KV_PER_REQUEST = 0.0033  # 30 s clips: 256 of them fill 84 % of Small's KV cache
CONFIG = ScalingConfig(max_replicas=40)

# What a predictor's /metrics looks like: vLLM's families (two engine cores of one
# replica, data parallel), with their HELP/TYPE lines and labels, beside ours and the
# process collectors.
METRICS_TEXT = """\
# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 8714.0
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="voxtral-small"} 61.0
vllm:num_requests_running{engine="1",model_name="voxtral-small"} 58.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="voxtral-small"} 3.0
vllm:num_requests_waiting{engine="1",model_name="voxtral-small"} 0.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="voxtral-small"} 0.42
vllm:kv_cache_usage_perc{engine="1",model_name="voxtral-small"} 0.37
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="voxtral-small"} 1234.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="voxtral-small"} 17.0
# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{engine="0",le="1.0",model_name="voxtral-small"} 400.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="voxtral-small"} 1251.0
vllm:e2e_request_latency_seconds_count{engine="0",model_name="voxtral-small"} 1251.0
vllm:e2e_request_latency_seconds_sum{engine="0",model_name="voxtral-small"} 2740.5
# HELP voxtral_requests_in_flight Inference requests being processed
# TYPE voxtral_requests_in_flight gauge
voxtral_requests_in_flight 40.0
# HELP voxtral_requests_queued Inference requests waiting for a slot
# TYPE voxtral_requests_queued gauge
voxtral_requests_queued 5.0
"""


# ------------------------------------------------------------------ parsing /metrics


def test_parse_real_metrics_text() -> None:
    s = parse_signals(METRICS_TEXT)
    assert s == ReplicaSignals(
        engine_running=119.0, engine_waiting=3.0, kv_cache_usage=0.42, in_flight=40.0, queued=5.0
    )
    # 40 requests hold a slot, but the engines run 119 sequences (chunks of long
    # recordings): the work admitted is the engines' count.
    assert s.queue == 8.0
    assert s.admitted == 119.0
    assert s.demand == 127.0


def test_parse_what_prometheus_client_writes() -> None:
    """The same families registered the way vLLM and the predictor register them."""
    registry = CollectorRegistry()
    labels = ["model_name", "engine"]
    running = Gauge("vllm:num_requests_running", "running", labels, registry=registry)
    waiting = Gauge("vllm:num_requests_waiting", "waiting", labels, registry=registry)
    kv = Gauge("vllm:kv_cache_usage_perc", "kv", labels, registry=registry)
    done = Counter("vllm:request_success", "done", labels, registry=registry)
    in_flight = Gauge("voxtral_requests_in_flight", "in flight", registry=registry)
    queued = Gauge("voxtral_requests_queued", "queued", registry=registry)
    answered = Counter("voxtral_requests", "requests", ["endpoint", "code"], registry=registry)
    answered.labels("transcriptions", "200").inc(5)
    answered.labels("v2", "429").inc(2)
    running.labels("voxtral-mini", "0").set(7)
    waiting.labels("voxtral-mini", "0").set(2)
    kv.labels("voxtral-mini", "0").set(0.9)
    done.labels("voxtral-mini", "0").inc(3)
    in_flight.set(9)
    queued.set(1)
    s = parse_signals(generate_latest(registry).decode())
    assert (s.engine_running, s.engine_waiting, s.kv_cache_usage) == (7, 2, 0.9)
    assert (s.in_flight, s.queued, s.demand) == (9, 1, 10)
    assert s.requests == 7  # the counter's _total samples, not its _created ones


def test_parse_plain_vllm_server() -> None:
    """A bare vLLM server has no voxtral_* gauges: its engine gauges still count."""
    text = "\n".join(line for line in METRICS_TEXT.splitlines() if "voxtral_" not in line)
    s = parse_signals(text)
    assert (s.in_flight, s.queued, s.demand) == (0, 0, 122)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3.5\n", "none"),
        ('vllm:num_requests_running{engine="0" 3\n', "not Prometheus"),
        ("voxtral_requests_queued -1\n", ">= 0"),
        ("voxtral_requests_queued NaN\n", ">= 0"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(MetricsError, match=message):
        parse_signals(text)


# ------------------------------------------------------------------ a recorded fleet


@dataclass
class Cluster:
    """The Deployment under the policy: counts, cold starts, and demand spread evenly
    over the ready replicas (each admits 256, the rest waits in its queue)."""

    ready: int
    config: ScalingConfig = CONFIG
    starting: list[float] = field(default_factory=list)  # when each will be ready
    pending: int = 0  # unschedulable: no GPU
    pending_since: float | None = None
    history: History = field(default_factory=History)
    decisions: list[Decision] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    answered: float = 0.0  # requests answered (by pod-0)
    held: int = 0  # requests voxtral-gateway holds

    @property
    def desired(self) -> int:
        return self.ready + len(self.starting) + self.pending

    def signals(self, demand: float, kv: float) -> list[ReplicaSignals]:
        """`kv`: KV cache fraction one admitted request holds."""
        if not self.ready:
            return []
        each = demand / self.ready
        admitted = min(each, ADMITS)
        kv_usage = min(1.0, admitted * kv)
        signal = ReplicaSignals(
            engine_running=admitted,
            in_flight=admitted,
            queued=each - admitted,
            kv_cache_usage=kv_usage,
        )
        return [signal] * self.ready

    def step(
        self, now: float, demand: float, kv: float = KV_PER_REQUEST, gpus_free: bool = True
    ) -> Decision:
        self.ready += sum(1 for t in self.starting if t <= now)
        self.starting = [t for t in self.starting if t > now]
        if gpus_free and self.pending:
            self.starting += [now + COLD_START] * self.pending
            self.pending, self.pending_since = 0, None
        fleet = Fleet(
            self.signals(demand, kv),
            self.desired,
            len(self.starting),
            self.pending,
            self.pending_since,
            self.held,
            # requests are counted on pod-0, which stays while the fleet shrinks
            {f"pod-{i}": self.answered if i == 0 else 0.0 for i in range(self.ready)},
        )
        decision = decide(now, fleet, self.history, self.config)
        self.history = decision.history
        self.decisions.append(decision)
        self.apply(now, decision.replicas, gpus_free)
        self.counts.append(self.desired)
        return decision

    def apply(self, now: float, replicas: int, gpus_free: bool) -> None:
        extra = replicas - self.desired
        if extra > 0 and gpus_free:
            self.starting += [now + COLD_START] * extra
        elif extra > 0:
            self.pending += extra
            self.pending_since = self.pending_since or now
        while extra < 0:  # Kubernetes removes Pending, then starting, then ready pods
            if self.pending:
                self.pending -= 1
            elif self.starting:
                self.starting.pop()
            else:
                self.ready -= 1
            extra += 1

    def replay(
        self,
        demands: Iterable[float],
        start: float = 0.0,
        kv: float = KV_PER_REQUEST,
        gpus_free: bool = True,
    ) -> list[int]:
        """One read per demand value, a tick apart; the desired count after each."""
        first = len(self.counts)
        for i, demand in enumerate(demands):
            self.step(start + i * TICK, demand, kv, gpus_free)
        return self.counts[first:]


def steady(cluster: Cluster, demand: float, seconds: float, start: float = 0.0) -> list[int]:
    return cluster.replay([demand] * int(seconds // TICK), start)


def changes(counts: list[int]) -> int:
    return sum(1 for a, b in itertools.pairwise(counts) if a != b)


# ------------------------------------------------------------------ recorded sequences


def test_steady_load_at_target_changes_nothing() -> None:
    c = Cluster(ready=4)
    counts = steady(c, 4 * 60, 1800)  # 60 a replica against 64
    assert set(counts) == {4}


def test_ramp_follows_demand_up_and_never_down() -> None:
    """A daily ramp: +1 request every second (4 per tick), from 2 replicas' worth."""
    c = Cluster(ready=2)
    counts = c.replay([128 + 4 * i for i in range(240)])  # one hour, up to 1084 requests
    assert all(b >= a for a, b in itertools.pairwise(counts))
    final_load = (128 + 4 * 239) / c.ready
    assert c.ready >= 16 and final_load <= 1.25 * d.CONCURRENCY_PER_REPLICA
    assert counts[-1] <= math.ceil(1084 / d.CONCURRENCY_PER_REPLICA) + 1  # no overshoot


def test_spike_is_answered_after_the_stabilization_window() -> None:
    """Demand jumps 10x at t=300: the fleet saturates and its queue grows every read."""
    c = Cluster(ready=2)
    steady(c, 120, 300)
    assert c.desired == 2
    spike = [1200 + 400 * i for i in range(3)]  # backlog grows while 2 replicas serve
    counts = c.replay(spike, start=300)
    assert counts[:2] == [2, 2]  # saturated for 15 s only: not yet
    assert counts[2] > 2
    last = c.decisions[-1]
    assert last.reason.startswith("queue ") and "and growing" in last.reason
    # sized on the latest read with the square-root step: 2 * sqrt(2000 / 128) = 7.9
    assert counts[2] == min(8, 2 + CONFIG.scale_up.max_step)


def test_one_long_recording_does_not_buy_gpus() -> None:
    """One read with 32 more sequences (a 30-minute recording's chunks) on 1 replica."""
    c = Cluster(ready=1)
    steady(c, 50, 600)
    counts = c.replay([50 + 32, 50, 50, 50], start=600)
    assert counts == [1, 1, 1, 1]


def test_starting_replicas_are_not_ordered_twice() -> None:
    c = Cluster(ready=2)
    steady(c, 120, 300)
    # the queue grows by 400 requests a read until the ordered replicas are ready
    counts = c.replay([1200 + 400 * i for i in range(10)], start=300)
    ordered = counts[2]
    assert ordered == 8  # ordered at 330 s, ready at 450 s
    assert set(counts[2:]) == {ordered}
    assert all("8 replicas starting" not in x.reason for x in c.decisions[-7:])
    assert all("starting for a need of 8" in x.reason for x in c.decisions[-7:])
    # ready: the 8 replicas now work the backlog off; it shrinks and nothing is added,
    # neither while they are saturated nor after (the demand is still falling)
    counts = c.replay([4800 - 600 * i for i in range(8)], start=450)
    assert set(counts) == {ordered}
    assert all("but draining" in x.reason for x in c.decisions[-8:-3])
    assert all("but falling" in x.reason for x in c.decisions[-3:])


def test_a_drained_backlog_is_not_taken_for_load() -> None:
    """Saturated reads measure a backlog, not a rate: once it is worked off, the load
    is read from the unsaturated reads only."""
    c = Cluster(ready=8)
    steady(c, 8 * 60, 300)
    c.replay([4000, 3400, 2800], start=300)  # a backlog on 8 replicas, shrinking
    counts = steady(c, 8 * 60, 180, start=345)  # then 60 a replica again
    assert set(counts) == {8}
    assert c.decisions[-1].reason.startswith("load 60 per replica")


def test_a_queue_that_keeps_growing_after_the_order_orders_again() -> None:
    """The first order was too small: once it is ready and the queue still grows, more."""
    c = Cluster(ready=2)
    steady(c, 120, 300)
    counts = c.replay([700, 800, 900], start=300)  # 2 * sqrt(900 / 128) = 5.3 -> 6
    assert counts[-1] == 6
    c.replay([1200] * 9, start=345)  # starting until 465 s
    counts = c.replay([2000 + 300 * i for i in range(3)], start=480)
    assert counts[-1] > 6


def test_slow_decay_removes_replicas_late_and_in_checked_steps() -> None:
    c = Cluster(ready=10)
    steady(c, 640, 600)
    assert c.desired == 10
    counts = steady(c, 160, 3600, start=600)  # a quarter of the load
    first_drop = next(i for i, n in enumerate(counts) if n < 10)
    assert first_drop * TICK >= CONFIG.scale_down.delay_seconds
    drops = [i for i, (a, b) in enumerate(itertools.pairwise(counts)) if b < a]
    gaps = [b - a for a, b in itertools.pairwise(drops)]
    assert all(g * TICK >= CONFIG.scale_down.delay_seconds for g in gaps)
    # 160 / 64 = 2.5, but the square-root step keeps a replica of margin at this size
    # (4 * sqrt(40 / 64) = 3.2 -> 4): below 4 replicas a replica's load climbs faster
    # than the demand it takes over.
    assert counts[-1] == 4


def test_no_removal_while_the_present_read_says_otherwise() -> None:
    """Minutes of quiet say fewer replicas would do, but the load comes back on the very
    read where the first one would go: it stays."""
    quiet = Cluster(ready=8)
    steady(quiet, 8 * 60, 300)
    counts = steady(quiet, 100, 900, start=300)
    first = next(i for i, n in enumerate(counts) if n < 8)  # when quiet would remove one
    busy = Cluster(ready=8)
    steady(busy, 8 * 60, 300)
    steady(busy, 100, first * TICK, start=300)
    assert busy.replay([8 * 70], start=300 + first * TICK) == [8]
    assert busy.replay([100], start=300 + (first + 1) * TICK)[0] < 8  # quiet again: it goes


def test_flapping_demand_does_not_flap_the_replicas() -> None:
    """Demand swinging between 40 % and 160 % of the target every 30 s for an hour."""
    c = Cluster(ready=4)
    pattern = [4 * 64 * 0.4] * 2 + [4 * 64 * 1.6] * 2
    counts = c.replay(pattern * 60)
    assert changes(counts) <= 2


def test_no_gpus_holds_the_count_and_says_why_then_resumes() -> None:
    c = Cluster(ready=2)
    steady(c, 120, 300)
    counts = c.replay([1200 + 400 * i for i in range(3)], start=300, gpus_free=False)
    ordered = counts[-1]
    assert ordered > 2 and c.pending == ordered - 2
    # the new pods stay Pending: the count is held, and the decision says so
    counts = c.replay([2500 + 400 * i for i in range(20)], start=345, gpus_free=False)
    assert set(counts) == {ordered}
    last = c.decisions[-1]
    assert last.limited is not None
    assert "Pending unschedulable for" in last.limited and "free GPUs" in last.limited
    assert last.need > ordered
    # a node frees up: the Pending pods start, and nothing is ordered on top of them
    counts = c.replay([9000] * 4, start=645)
    assert set(counts) == {ordered}
    assert c.decisions[-1].limited is None
    assert c.pending == 0 and len(c.starting) == ordered - 2
    # once ready (765 s) and the backlog still growing, scaling resumes
    counts = c.replay([9000 + 500 * i for i in range(6)], start=780)
    assert counts[-1] > ordered


def test_lowering_still_happens_while_gpus_are_scarce() -> None:
    c = Cluster(ready=6)
    c.pending, c.pending_since = 2, 0.0
    counts = c.replay([64] * 40, gpus_free=False)  # one replica's worth for 10 minutes
    assert counts[-1] < 8
    assert c.decisions[-1].limited is None or c.pending > 0


def test_max_replicas_clamp() -> None:
    c = Cluster(ready=3, config=replace(CONFIG, max_replicas=4))
    counts = c.replay([3000 + 500 * i for i in range(3)])
    assert counts[-1] == 4
    assert c.decisions[-1].need > 4
    assert "held at maxReplicas 4" in c.decisions[-1].reason


def test_min_replicas_clamp() -> None:
    c = Cluster(ready=5, config=replace(CONFIG, min_replicas=2))
    counts = steady(c, 0, 3600)
    assert counts[-1] == 2 and min(counts) == 2


def test_never_below_one_replica_by_the_load() -> None:
    """minReplicas 0 (scale to zero) still keeps one replica while requests come, however
    few: the load formula never asks for 0."""
    c = Cluster(ready=2, config=replace(CONFIG, min_replicas=0))
    for i in range(240):  # an hour: one short request between two reads, each minute
        c.answered += 1 if i % 4 == 0 else 0
        c.step(i * TICK, 0)
    assert c.counts[-1] == 1 and min(c.counts) == 1


def test_replicas_coming_and_going_are_not_requests() -> None:
    """Activity is a request counter that grew on the same pod: a pod that goes (its
    counter leaves the sum) or a new one (its own counter) does not restart the idle time."""
    config = replace(CONFIG, min_replicas=0, scale_down=ScaleDown(60, 8, 600))
    fleet = Fleet([ReplicaSignals(), ReplicaSignals()], 2, answered={"a": 40, "b": 7})
    first = decide(0, fleet, History(), config)
    shrunk = Fleet([ReplicaSignals()], 1, answered={"a": 40})
    later = decide(300, shrunk, replace(first.history, replicas=1), config)
    assert later.history.active_at == 0  # b went away: no request
    grown = Fleet([ReplicaSignals(), ReplicaSignals()], 2, answered={"a": 40, "c": 3})
    again = decide(450, grown, replace(later.history, replicas=2), config)
    assert again.history.active_at == 0  # c is new: its count is not news
    busy = Fleet([ReplicaSignals(), ReplicaSignals()], 2, answered={"a": 41, "c": 3})
    assert decide(465, busy, again.history, config).history.active_at == 465


def test_scales_to_zero_after_idle_seconds() -> None:
    idle = 600
    config = replace(CONFIG, min_replicas=0, scale_down=ScaleDown(300, 8, idle))
    c = Cluster(ready=2, config=config)
    c.answered = 40.0
    steady(c, 0, 900)
    zero = c.counts.index(0)
    assert zero * TICK >= idle
    assert (zero - 1) * TICK < idle + TICK  # no later than the tick after idleSeconds
    assert c.decisions[zero].reason == f"no request for {zero * TICK} s (scaleDown.idleSeconds 600)"
    assert set(c.counts[zero:]) == {0}  # nothing held: stays at zero


def test_a_held_request_orders_one_replica_from_zero() -> None:
    config = replace(CONFIG, min_replicas=0, scale_down=ScaleDown(300, 8, 600))
    c = Cluster(ready=0, config=config)
    assert c.step(0, 0).replicas == 0
    assert c.decisions[-1].reason == "scaled to zero: no request"
    c.held = 3
    woken = c.step(2, 0)
    assert woken.replicas == 1
    assert woken.reason == "3 request(s) held by voxtral-gateway: starting a replica"
    # while it starts, the order stands (and nothing more is ordered for the same requests)
    counts = [c.step(2 + t, 0).replicas for t in range(TICK, int(COLD_START), TICK)]
    assert set(counts) == {1}
    # ready: the held requests are answered; the idle time counts from then
    c.held, c.answered = 0, 3
    counts = c.replay([0] * 60, start=2 + COLD_START)
    assert counts.index(0) * TICK >= 600 - TICK


@pytest.mark.parametrize("step", [1, 3])
def test_max_step_limits_each_decision(step: int) -> None:
    config = replace(CONFIG, scale_up=ScaleUp(30, step), scale_down=ScaleDown(300, step))
    c = Cluster(ready=2, config=config)
    counts = c.replay([2000 + 400 * i for i in range(8)])
    first = next(i for i, n in enumerate(counts) if n > 2)
    need = c.decisions[first].need
    assert need > 2 + step  # the order is larger than one step
    # the rest of it arrives a step per decision while the first replicas start
    assert counts[first:] == [min(need, 2 + step * (k + 1)) for k in range(len(counts) - first)]
    c.replay([8000] * 10, start=120)  # all ready by 225 s
    counts = steady(c, 0, 3600, start=270)
    downs = [a - b for a, b in itertools.pairwise(counts) if b < a]
    assert downs and max(downs) <= step


def test_kv_cache_full_asks_for_more() -> None:
    """Few requests, but long recordings in one pass: 40 a replica fill 97 % of the cache."""
    c = Cluster(ready=3)
    counts = c.replay([3 * 40] * 40, kv=0.97 / 40)
    order = next(x for x in c.decisions if x.replicas > 3)
    assert order.reason == "KV cache 97% > 90% on 3 replicas"
    assert order.replicas == 4  # ceil(3 * 0.97 / 0.9)
    assert counts[-1] == 4  # on 4 replicas the cache is 73 % full: enough


def test_reason_names_the_queue_against_the_allowance() -> None:
    c = Cluster(ready=3, config=replace(CONFIG, target=Target(queue_per_replica=8)))
    for i, queue in enumerate([25, 31, 37]):  # above the allowance of 3 × 8 on every read
        decision = c.step(i * TICK, 3 * ADMITS + queue)
    assert decision.reason == "queue 37 > 3 replicas × 8 and growing (demand 805)"
    assert decision.replicas == math.ceil(3 * math.sqrt(805 / (3 * 64)))


def test_restart_with_empty_history_waits_a_full_delay_before_lowering() -> None:
    c = Cluster(ready=8)
    counts = steady(c, 64, CONFIG.scale_down.delay_seconds - TICK)
    assert set(counts) == {8}
    assert "not yet for 300 s" in c.decisions[-1].reason


def test_a_count_changed_by_someone_else_is_not_lowered_at_once() -> None:
    c = Cluster(ready=4)
    steady(c, 4 * 60, 900)
    c.ready = 9  # a person scaled the Deployment by hand
    counts = steady(c, 4 * 60, 285, start=900)
    assert set(counts) == {9}


def test_decide_is_pure() -> None:
    fleet = Fleet([ReplicaSignals(engine_running=300, in_flight=256, queued=44)] * 2, 2)
    history = History()
    a = decide(0.0, fleet, history, CONFIG)
    b = decide(0.0, fleet, history, CONFIG)
    assert a == b and history == History()
    assert decide(15.0, fleet, a.history, CONFIG) == decide(15.0, fleet, b.history, CONFIG)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_replicas": 3, "max_replicas": 2}, "minReplicas"),
        ({"max_replicas": 0}, "maxReplicas >= 1"),
        ({"target": Target(concurrency_per_replica=0)}, "greater than zero"),
        ({"target": Target(kv_cache_usage=90)}, "fraction"),
        ({"scale_up": ScaleUp(30, 0)}, "maxStep"),
        ({"scale_down": ScaleDown(-1, 1)}, "delaySeconds"),
    ],
)
def test_config_rejects(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScalingConfig(**kwargs)  # type: ignore[arg-type]


def test_defaults_are_the_documented_ones() -> None:
    """The API models reuse these constants: a change here is a change of the CRD."""
    config = ScalingConfig()
    assert (config.min_replicas, config.max_replicas) == (d.MIN_REPLICAS, d.MAX_REPLICAS)
    assert config.target == Target(8, 0.9, 64)
    assert config.scale_up == ScaleUp(30, 8)
    assert config.scale_down == ScaleDown(300, 8)
