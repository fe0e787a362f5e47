"""The scaling decision: pure, so a recorded sequence of metrics replays exactly.

Every ``INTERVAL_SECONDS`` (15 s; ``ScalingConfig.interval_seconds``) the operator reads
each ready replica's ``/metrics`` into `ReplicaSignals` and calls `decide` with the time,
the fleet as the API server shows it and the `History` the previous call returned. Nothing
here reads a clock, the network or the cluster.

The formula. R is the number of ready replicas, c ``target.concurrencyPerReplica``,
q ``target.queuePerReplica``, k ``target.kvCacheUsage``. A replica's demand is the work
it holds: requests admitted (or engine sequences, if more: the 30 s chunks of long
recordings) plus those waiting::

    load = mean of sum(demand) / R over the reads of the last 3 minutes since R last
           changed, leaving out saturated reads (queue > q * R: a backlog, not a rate)
    need = ceil(R * sqrt(load / c))                     tracking, up and down
    need = max(need, ceil(R * kv / k))                  if the mean KV cache use kv > k
    need = ceil(R * sqrt(demand_now / (R * c)))         surge: queue > q * R on every read
                                                        of a full stabilization window

The fixed point is load = c. The square root halves the distance to it (in log space)
at each step rather than jumping there: a replica's concurrency is not conserved when
replicas come and go, it climbs far faster than its load near the throughput plateau
(Small gains 8 % throughput from 64 to 256 sequences), so a proportional step
overshoots up and undershoots down. Every step is judged again at the new size.

Then, knowing that a replica takes minutes to start:

- Fast up: replicas are added once the need has exceeded the current count on every
  read of the last ``scaleUp.stabilizationSeconds`` (30 s: one long recording's burst
  of chunks does not buy GPUs; a surge's window is the saturation itself), at most
  ``scaleUp.maxStep`` per decision.
- Capacity in flight: ordered replicas that are starting count as capacity. Until they
  are ready (or ``STARTUP_GRACE_SECONDS`` have passed) the order stands, still stepping
  up to the need it was placed for, and nothing more is ordered: the queue that builds
  meanwhile is what they are coming to serve, and re-reading it every 15 s would order
  the same demand again and again.
- Draining: a saturated fleet whose demand is not at a new high of the stabilization
  window is working off its backlog, and a demand below every earlier read of that
  window is falling: neither adds replicas.
- Slow down: replicas are removed only after the need has been lower on every read for
  ``scaleDown.delaySeconds`` since the count last changed, and the present read alone
  agrees, down to the highest need of that window, at most ``scaleDown.maxStep`` per
  decision; an empty History (operator restart) waits a full delay before removing.
- GPU-aware: while replicas are Pending unschedulable (no node has the GPUs) the count
  never rises (more Pending pods buy nothing), `Decision.limited` says why (the message
  of the ScalingLimited condition), and scaling up resumes once they schedule.
- Always within [minReplicas, maxReplicas], and never below one by the load: with no
  ready replica there is no load to read.
- Scale to zero (minReplicas 0, with voxtral-gateway): after ``scaleDown.idleSeconds``
  without activity (no request answered: no replica's request counter grew since its last
  read, no work in them, nothing held) the count goes to 0. At 0 the gateway holds the
  requests that come (``Fleet.held``, reported on the VoxtralService) and one replica is
  ordered as soon as one is held; the load decides from there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from voxtral_operator.autoscaling import defaults, needs
from voxtral_operator.autoscaling.config import ScalingConfig
from voxtral_operator.autoscaling.needs import Need, Sample
from voxtral_operator.autoscaling.signals import ReplicaSignals


@dataclass(frozen=True)
class Fleet:
    """The replicas as the API server shows them when the decision is taken."""

    ready: Sequence[ReplicaSignals]
    """The signals of each ready replica (read from its /metrics)."""
    desired: int
    """The Deployment's replicas now: ready, starting and Pending together."""
    starting: int = 0
    """Created, not unschedulable, not ready yet."""
    unschedulable: int = 0
    """Pending with PodScheduled=False, reason Unschedulable: no node has the GPUs (or
    takes the pod for another reason: more replicas would not schedule either)."""
    unschedulable_since: float | None = None
    """When the oldest of those became unschedulable."""
    held: int = 0
    """Requests voxtral-gateway holds for the service because no replica is ready."""
    answered: Mapping[str, float] = field(default_factory=dict)
    """Each ready replica's request counter (voxtral_requests_total), by pod."""


@dataclass(frozen=True)
class History:
    """What `decide` remembers between calls: pass back the one it returned. An empty
    History (operator restart) is safe: nothing is removed before a full delay."""

    samples: tuple[Sample, ...] = ()
    changed_at: float | None = None
    """When the replica count last changed, or when the policy first looked."""
    replicas: int | None = None
    """The count decided last time; a fleet with another count was changed by someone."""
    ordered_at: float | None = None
    """When replicas were last added."""
    ordered_need: int = 0
    """The need they were added for."""
    active_at: float | None = None
    """When the service last showed activity (a request answered, work in a replica, a
    request held), or when the policy first looked."""
    answered: Mapping[str, float] = field(default_factory=dict)
    """The request counter of each replica read last time, by pod."""


@dataclass(frozen=True)
class Decision:
    replicas: int
    """The Deployment's replicas from now on."""
    reason: str
    """Why, in a sentence for the status (e.g. "queue 37 > 3 replicas × 8 and growing")."""
    limited: str | None
    """Why the count may not grow (the ScalingLimited condition's message), or None."""
    need: int
    """What the load asks for this time, before stabilization, steps and GPU limits."""
    history: History


def _need(
    sample: Sample,
    samples: Sequence[Sample],
    fleet: Fleet,
    history: History,
    config: ScalingConfig,
    in_flight: bool,
) -> Need:
    if in_flight:
        return Need(
            history.ordered_need,
            f"{fleet.starting} replicas starting for a need of {history.ordered_need}: "
            "waiting for them before reading the load again",
        )
    if sample.ready == 0:
        return Need(fleet.desired, "no ready replica to measure")
    need = needs.level(samples, config)
    surge = needs.surge(samples, config)
    if surge is not None and surge.replicas >= need.replicas:
        need = surge
    if need.replicas > fleet.desired:
        q = config.target.queue_per_replica
        if needs.saturated(sample, config) and not needs.growing(samples, config):
            return Need(
                fleet.desired,
                f"queue {sample.queue:.0f} > {sample.ready} replicas × {q:g} but draining",
            )
        if needs.falling(samples, config):
            return Need(fleet.desired, f"{need.reason}, but falling")
    return need


def decide(now: float, fleet: Fleet, history: History, config: ScalingConfig) -> Decision:
    """The replicas the Deployment should have now, and why. See the module docstring."""
    up, down = config.scale_up, config.scale_down
    current = fleet.desired
    horizon = max(up.stabilization_seconds, down.delay_seconds, defaults.DEMAND_WINDOW_SECONDS)
    horizon += config.interval_seconds
    kept = tuple(s for s in history.samples if now - horizon <= s.time < now)
    sample = needs.measure(now, fleet.ready)
    changed_at = history.changed_at
    if changed_at is None or history.replicas != current:
        changed_at = now
    in_flight = (
        fleet.starting > 0
        and history.ordered_at is not None
        and now - history.ordered_at < defaults.STARTUP_GRACE_SECONDS
    )

    # A request answered since the last read shows as a counter that grew on the same pod:
    # replicas coming, going or unreadable for a read do not count as activity.
    answered = any(n > history.answered.get(pod, n) for pod, n in fleet.answered.items())
    active = sample.demand > 0 or fleet.held > 0 or answered
    active_at = now if active or history.active_at is None else history.active_at
    if config.min_replicas == 0 and current == 0:
        looked = replace(history, active_at=active_at, answered=dict(fleet.answered))
        return _from_zero(now, fleet, looked)

    floor = max(config.min_replicas, 1)  # with no ready replica there is no load to read
    need = _need(sample, (*kept, sample), fleet, history, config, in_flight)
    wanted = min(max(need.replicas, floor), config.max_replicas)
    samples = (*kept, replace(sample, need=wanted))
    reason = need.reason

    # A window counts only once the policy has looked that long (not after a restart);
    # half a tick of slack absorbs a late timer.
    slack = config.interval_seconds / 2
    seen = now - samples[0].time + slack
    up_window = [s.need for s in samples if s.time >= now - up.stabilization_seconds - slack]
    up_to = min(up_window) if seen >= up.stabilization_seconds else current
    if in_flight or need.settled:
        up_to = wanted
    down_to = max(s.need for s in samples if s.time >= max(now - down.delay_seconds, changed_at))
    # The present read must agree: a surge starting now is not met with a removal.
    busy_now = sample.ready > 0 and needs.scaled(
        sample.ready, sample.demand / (sample.ready * config.target.concurrency_per_replica)
    ) > max(down_to, floor)
    replicas = current
    if up_to > current:
        replicas = min(up_to, current + up.max_step)
    elif wanted > current:
        reason = f"{reason}; not yet for {up.stabilization_seconds:g} s"
    elif down_to < current and now - changed_at >= down.delay_seconds and not busy_now:
        replicas = max(down_to, current - down.max_step)
        reason = f"{reason}; fewer needed for {down.delay_seconds:g} s"
    elif wanted < current:
        reason = f"{reason}; not yet for {down.delay_seconds:g} s"
    replicas = min(max(replicas, floor), config.max_replicas)
    if replicas == config.max_replicas and need.replicas > config.max_replicas:
        reason = f"{reason}; held at maxReplicas {config.max_replicas}"

    limited = None
    if fleet.unschedulable > 0:
        waited = (
            ""
            if fleet.unschedulable_since is None
            else (f" for {now - fleet.unschedulable_since:.0f} s")
        )
        limited = (
            f"{fleet.unschedulable} of {current} replicas Pending unschedulable{waited} (no "
            f"node with free GPUs, or none that takes them): not adding more while the load "
            f"asks for {need.replicas}"
        )
        replicas = min(replicas, current)

    idle = now - active_at
    if config.min_replicas == 0 and not in_flight and idle >= down.idle_seconds:
        replicas = 0
        reason = f"no request for {idle:.0f} s (scaleDown.idleSeconds {down.idle_seconds:g})"

    ordered_at, ordered_need = history.ordered_at, history.ordered_need
    if replicas > current:
        ordered_at, ordered_need = now, max(wanted, replicas)
    elif fleet.unschedulable > 0 and ordered_at is not None:
        ordered_at = now  # their cold start begins when they are scheduled
    elif fleet.starting == 0:
        ordered_at, ordered_need = None, 0
    if replicas != current:
        changed_at = now
    return Decision(
        replicas,
        reason,
        limited,
        need.replicas,
        History(
            samples,
            changed_at,
            replicas,
            ordered_at,
            ordered_need,
            active_at,
            dict(fleet.answered),
        ),
    )


def _from_zero(now: float, fleet: Fleet, history: History) -> Decision:
    """At 0 replicas: one is ordered once voxtral-gateway holds a request, else none."""
    if fleet.held == 0:
        return Decision(
            0, "scaled to zero: no request", None, 0, replace(history, samples=(), replicas=0)
        )
    reason = f"{fleet.held} request(s) held by voxtral-gateway: starting a replica"
    return Decision(
        1,
        reason,
        None,
        1,
        replace(history, samples=(), changed_at=now, replicas=1, ordered_at=now, ordered_need=1),
    )
