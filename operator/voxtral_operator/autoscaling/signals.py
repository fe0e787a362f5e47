"""One replica's load, read from the Prometheus text its ``/metrics`` serves.

The predictor's ``/metrics`` carries vLLM's engine gauges (``vllm:num_requests_running``,
``vllm:num_requests_waiting``, ``vllm:kv_cache_usage_perc``, labelled ``engine`` and
``model_name``: one series per engine core) beside our own admission gauges
(``voxtral_requests_in_flight``, ``voxtral_requests_queued``, no labels). Pure: text in,
numbers out; fetching the text is the caller's business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from prometheus_client.parser import text_string_to_metric_families

ENGINE_RUNNING: Final = "vllm:num_requests_running"
ENGINE_WAITING: Final = "vllm:num_requests_waiting"
KV_CACHE_USAGE: Final = "vllm:kv_cache_usage_perc"
IN_FLIGHT: Final = "voxtral_requests_in_flight"
QUEUED: Final = "voxtral_requests_queued"
REQUESTS: Final = "voxtral_requests_total"
"""The predictor's counter of inference requests answered (all endpoints and codes): the
sign of activity that scale to zero waits to stop (a short request between two reads
leaves the gauges at 0)."""
KNOWN: Final = frozenset({ENGINE_RUNNING, ENGINE_WAITING, KV_CACHE_USAGE, IN_FLIGHT, QUEUED})


class MetricsError(ValueError):
    """The text is not Prometheus exposition, or carries none of the load gauges."""


@dataclass(frozen=True)
class ReplicaSignals:
    """The load of one ready replica at one moment.

    ``engine_running``/``engine_waiting`` count engine sequences (a long recording split
    into 30 s chunks is several); ``in_flight``/``queued`` count client requests in the
    predictor's admission (holding a slot / waiting for one). ``kv_cache_usage`` is a
    fraction (vLLM's ``_perc`` gauge is 0..1), the fullest engine's.
    """

    engine_running: float = 0.0
    engine_waiting: float = 0.0
    kv_cache_usage: float = 0.0
    in_flight: float = 0.0
    queued: float = 0.0
    requests: float = 0.0
    """Inference requests answered since the replica started (a counter)."""

    @property
    def queue(self) -> float:
        """Requests accepted but not being computed: the predictor's queue plus the
        engine's waiting sequences."""
        return self.queued + self.engine_waiting

    @property
    def admitted(self) -> float:
        """Work in the replica beyond its queue: requests holding a slot, or the engine's
        sequences if more (chunks of long recordings, or a server without our gauges)."""
        return max(self.in_flight, self.engine_running + self.engine_waiting) - self.engine_waiting

    @property
    def demand(self) -> float:
        """Everything this replica has been asked to do and has not finished."""
        return self.admitted + self.queue


def _value(raw: float, name: str) -> float:
    if math.isnan(raw) or raw < 0:
        raise MetricsError(f"{name} has the value {raw}: a load gauge must be a number >= 0")
    return raw


def parse_signals(text: str) -> ReplicaSignals:
    """Sum the engine gauges over engines (data-parallel cores of one replica), keep the
    fullest engine's KV cache, and read our two unlabelled gauges. A gauge that is absent
    counts as 0 (a replica without the predictor still has vLLM's); text with none of them
    is an error: it is not a Voxtral replica's ``/metrics``."""
    totals: dict[str, float] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        raise MetricsError(f"not Prometheus text exposition: {exc}") from exc
    requests = 0.0
    for family in families:
        for sample in family.samples:
            if sample.name == REQUESTS:
                requests += _value(sample.value, sample.name)
            if sample.name not in KNOWN:
                continue
            value = _value(sample.value, sample.name)
            if sample.name == KV_CACHE_USAGE:
                totals[sample.name] = max(totals.get(sample.name, 0.0), value)
            else:
                totals[sample.name] = totals.get(sample.name, 0.0) + value
    if not totals:
        raise MetricsError(
            "none of the load gauges is in this /metrics text (expected "
            f"{', '.join(sorted(KNOWN))}): is this a Voxtral predictor or vLLM server?"
        )
    return ReplicaSignals(
        engine_running=totals.get(ENGINE_RUNNING, 0.0),
        engine_waiting=totals.get(ENGINE_WAITING, 0.0),
        kv_cache_usage=totals.get(KV_CACHE_USAGE, 0.0),
        in_flight=totals.get(IN_FLIGHT, 0.0),
        queued=totals.get(QUEUED, 0.0),
        requests=requests,
    )
