"""The operator mode around the pure policy: counting the pods (census), reading the
replicas' /metrics over HTTP (scrape, against a local server speaking Prometheus text),
one tick's decision and what it tells the status (step), and the discovery cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from replica_metrics import ReplicaMetrics

from voxtral_operator.autoscaling import scrape
from voxtral_operator.autoscaling.census import Census, Replica, census, parse_time
from voxtral_operator.autoscaling.config import ScaleDown, ScaleUp, ScalingConfig
from voxtral_operator.autoscaling.policy import History
from voxtral_operator.autoscaling.signals import ReplicaSignals
from voxtral_operator.autoscaling.step import ScalingState, tick
from voxtral_operator.cluster.discovery import Discovery
from voxtral_operator.cluster.optional_apis import CUSTOM_METRICS, SCALED_OBJECTS

T0 = 1_800_000_000.0


def pod(
    name: str,
    ready: bool = False,
    ip: str | None = None,
    scheduled: bool | None = None,
    since: str = "2027-01-15T08:00:00Z",
    **meta: Any,
) -> dict[str, Any]:
    conditions = []
    if scheduled is False:
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "lastTransitionTime": since,
            }
        )
    elif scheduled:
        conditions.append({"type": "PodScheduled", "status": "True"})
    if ready:
        conditions.append({"type": "Ready", "status": "True"})
    status: dict[str, Any] = {"phase": "Running" if ready else "Pending", "conditions": conditions}
    if ip:
        status["podIP"] = ip
    return {"metadata": {"name": name, **meta}, "spec": {"containers": []}, "status": status}


def test_census_counts_ready_starting_and_unschedulable_pods() -> None:
    found = census(
        [
            pod("b", ready=True, ip="10.0.0.2", scheduled=True),
            pod("a", ready=True, ip="fd00::1", scheduled=True),
            pod("loading", scheduled=True),
            pod("no-gpu-1", scheduled=False, since="2027-01-15T08:00:10Z"),
            pod("no-gpu-2", scheduled=False, since="2027-01-15T08:00:00Z"),
            pod("going", ready=True, ip="10.0.0.9", deletionTimestamp="2027-01-15T08:00:00Z"),
            pod("ready-without-ip", ready=True),
        ]
    )
    assert [r.name for r in found.ready] == ["a", "b"]
    assert found.ready[0].url() == "http://[fd00::1]:8080/metrics"
    assert found.ready[1].url(9999) == "http://10.0.0.2:9999/metrics"
    assert (found.starting, found.unschedulable) == (2, 2)
    assert found.unschedulable_since == parse_time("2027-01-15T08:00:00Z")


def test_census_finds_the_http_port_of_the_pod() -> None:
    body = pod("a", ready=True, ip="10.0.0.2")
    body["spec"]["containers"] = [
        {"ports": [{"name": "grpc", "containerPort": 81}, {"name": "http", "containerPort": 9000}]}
    ]
    assert census([body]).ready[0].port == 9000


CONFIG = ScalingConfig(min_replicas=1, max_replicas=3, scale_up=ScaleUp(0, 8), interval_seconds=1)


def signals(demand: float) -> ReplicaSignals:
    return ReplicaSignals(engine_running=demand, in_flight=demand)


def test_a_tick_scales_up_and_records_why() -> None:
    one = Census(ready=(Replica("a", "10.0.0.2", 8080),))
    result = tick(T0, one, {"a": signals(200)}, 1, History(), CONFIG, ScalingState())
    assert result.replicas == 2
    assert result.state.last_decision is not None
    assert result.state.last_decision.startswith("1 → 2 replicas: load 200 per replica")
    assert result.state.last_scale_time == "2027-01-15T08:00:00Z"
    again = tick(T0 + 1, one, {"a": signals(200)}, 2, result.history, CONFIG, result.state)
    assert again.replicas is None and again.state == result.state  # nothing new to say


def test_no_readable_replica_means_no_decision() -> None:
    two = Census(ready=(Replica("a", "10.0.0.2", 8080), Replica("b", "10.0.0.3", 8080)))
    reads = {"a": "HTTP 500 from http://10.0.0.2:8080/metrics", "b": "timed out"}
    result = tick(T0, two, reads, 2, History(), CONFIG, ScalingState())
    assert result.replicas is None and result.decision is None
    assert result.state.unreadable is not None and "HTTP 500" in result.state.unreadable
    back = tick(T0 + 1, two, {"a": signals(0), "b": signals(0)}, 2, History(), CONFIG, result.state)
    assert back.state.unreadable is None


def test_with_some_replicas_unread_none_is_removed() -> None:
    config = ScalingConfig(
        min_replicas=1, max_replicas=4, scale_down=ScaleDown(0, 8), interval_seconds=1
    )
    three = Census(ready=tuple(Replica(n, f"10.0.0.{i}", 8080) for i, n in enumerate("abc", 2)))
    history = History()
    for t in range(3):  # idle for long enough to remove replicas, had all been read
        partial = tick(
            T0 + t,
            three,
            {"a": signals(0), "b": "timed out", "c": signals(0)},
            3,
            history,
            config,
            ScalingState(),
        )
        history = partial.history
        assert partial.replicas is None
    assert partial.decision is not None and partial.decision.replicas < 3
    full = tick(
        T0 + 3,
        three,
        {"a": signals(0), "b": signals(0), "c": signals(0)},
        3,
        history,
        config,
        ScalingState(),
    )
    assert full.replicas is not None and full.replicas < 3


def test_the_gpu_limit_message_stays_the_same_while_it_lasts() -> None:
    fleet = Census(
        ready=(Replica("a", "10.0.0.2", 8080),), unschedulable=1, unschedulable_since=T0 - 30
    )
    first = tick(T0, fleet, {"a": signals(600)}, 2, History(), CONFIG, ScalingState())
    later = tick(T0 + 20, fleet, {"a": signals(900)}, 2, first.history, CONFIG, first.state)
    assert first.replicas is None and later.replicas is None
    assert first.state.limited_reason == "GPUsUnavailable"
    assert first.state == later.state  # no status write per tick
    assert "Pending unschedulable since 2027-01-15T07:59:30Z" in str(first.state.limited)


def test_a_limit_says_what_the_scheduler_said() -> None:
    """GPUsUnavailable when the scheduler names a GPU resource; a taint or an affinity that
    no node meets is a limit too, under its own reason."""
    taint = pod("b", scheduled=False)
    taint["status"]["conditions"][0]["message"] = (
        "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: ml}."
    )
    gpu = pod("c", scheduled=False, since="2027-01-15T08:05:00Z")
    gpu["status"]["conditions"][0]["message"] = (
        "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    )
    ready = pod("a", ready=True, ip="10.0.0.2", scheduled=True)
    fleet = census([ready, gpu, taint])
    assert fleet.unschedulable == 2 and "untolerated taint" in fleet.scheduler_message
    result = tick(T0, fleet, {"a": signals(600)}, 3, History(), CONFIG, ScalingState())
    assert result.state.limited_reason == "ReplicasUnschedulable"
    assert "untolerated taint" in str(result.state.limited)
    assert "scheduling constraints" in str(result.state.limited)
    fleet = census([ready, gpu])
    result = tick(T0, fleet, {"a": signals(600)}, 3, History(), CONFIG, ScalingState())
    assert result.state.limited_reason == "GPUsUnavailable"
    assert "Insufficient nvidia.com/gpu" in str(result.state.limited)


def test_held_at_max_replicas_is_a_limit_too() -> None:
    one = Census(ready=(Replica("a", "10.0.0.2", 8080),))
    result = tick(T0, one, {"a": signals(2000)}, 3, History(), CONFIG, ScalingState())
    assert result.state.limited_reason == "TooManyReplicas"
    assert "maxReplicas 3" in str(result.state.limited)


# --- reading /metrics over HTTP ----------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[ReplicaMetrics]:
    metrics = ReplicaMetrics()
    await metrics.start()
    try:
        yield metrics
    finally:
        await metrics.stop()


async def test_read_all_reads_each_replica_and_reports_failures(server: ReplicaMetrics) -> None:
    server.set("127.0.0.2", running=10, waiting=3, queued=2, in_flight=11, kv_cache=0.25)
    server.set("127.0.0.3", status=503)
    server.set("127.0.0.4", hang=True)
    replicas = [
        Replica(n, ip, 1) for n, ip in (("a", "127.0.0.2"), ("b", "127.0.0.3"), ("c", "127.0.0.4"))
    ]
    replicas.append(Replica("d", "127.0.0.1", 1))  # nothing listens there
    async with scrape.client(timeout=0.5) as http:
        reads = await scrape.read_all(http, replicas, port=server.port)
    a = reads["a"]
    assert isinstance(a, ReplicaSignals)
    assert (a.engine_running, a.engine_waiting, a.queued, a.kv_cache_usage) == (10, 3, 2, 0.25)
    assert a.demand == 10 + 3 + 2
    assert reads["b"] == f"HTTP 503 from http://127.0.0.3:{server.port}/metrics"
    assert "no answer" in str(reads["c"]) and "ConnectError" in str(reads["d"])


async def test_a_page_that_is_not_a_replicas_metrics_is_unread() -> None:
    import httpx

    pages = {
        "/html": "<html>login</html>",
        "/other": "# TYPE go_goroutines gauge\ngo_goroutines 12\n",
    }

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=pages[request.url.path])

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        html = await scrape.read_one(http, "http://10.0.0.2:8080/html")
        other = await scrape.read_one(http, "http://10.0.0.2:8080/other")
    assert isinstance(html, str) and "not Prometheus text exposition" in html
    assert isinstance(other, str) and "none of the load gauges" in other


# --- discovery ------------------------------------------------------------------------------


class FakeKube:
    """kube.Kube's discovery, answering from a set."""

    def __init__(self) -> None:
        self.apis: set[str] = set()
        self.asked: list[str] = []

    async def served(self, group: str, version: str | None, plural: str | None) -> bool:
        key = "/".join(p for p in (group, version or "", plural or "") if p)
        self.asked.append(key)
        return key in self.apis


async def test_discovery_remembers_what_is_served_and_asks_again_for_what_is_not() -> None:
    kube = FakeKube()
    now = [0.0]
    discovery = Discovery(kube, ttl=60, clock=lambda: now[0])  # type: ignore[arg-type]
    assert await discovery.lookup([SCALED_OBJECTS, CUSTOM_METRICS]) == {
        "keda.sh/v1alpha1/scaledobjects": False,
        "custom.metrics.k8s.io": False,
    }
    kube.apis.add("keda.sh/v1alpha1/scaledobjects")
    assert await discovery.served(SCALED_OBJECTS)
    asked = len(kube.asked)
    assert await discovery.served(SCALED_OBJECTS) and len(kube.asked) == asked  # remembered
    now[0] = 61
    kube.apis.clear()
    assert not await discovery.served(SCALED_OBJECTS)  # asked again after the ttl
