"""Our Prometheus metrics (``voxtral_*``), beside vLLM's ``vllm:*`` on the same /metrics.

With several frontends (Prometheus' multiprocess mode: PROMETHEUS_MULTIPROC_DIR set before
any frontend starts) every frontend's /metrics shows the replica: counters and histograms
summed over the frontends, our gauges summed over the live ones (``livesum``), vLLM's
engine gauges as the engine last reported them (vLLM's ``mostrecent``)."""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640)
RTF_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5)
AUDIO_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 2400, 3600, 7200, 14400)
QUEUE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160, 320)
DECODE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

AUDIO_SECONDS = Counter("voxtral_audio_seconds", "Seconds of input audio processed", ["task"])
REQUEST_DURATION = Histogram(
    "voxtral_request_duration_seconds",
    "Time from request accepted to response complete",
    ["endpoint", "task"],
    buckets=LATENCY_BUCKETS,
)
REAL_TIME_FACTOR = Histogram(
    "voxtral_real_time_factor",
    "Processing seconds per second of audio (lower is faster; 0.01 = 100x real time)",
    ["task"],
    buckets=RTF_BUCKETS,
)
REQUESTS = Counter(
    "voxtral_requests", "Inference requests by endpoint and status code", ["endpoint", "code"]
)
FRONTEND_REQUESTS = Counter(
    "voxtral_frontend_requests",
    "Inference requests by the frontend process that took them (--api-servers)",
    ["frontend", "endpoint"],
)
IN_FLIGHT = Gauge(
    "voxtral_requests_in_flight", "Inference requests being processed", multiprocess_mode="livesum"
)
QUEUED = Gauge(
    "voxtral_requests_queued", "Inference requests waiting for a slot", multiprocess_mode="livesum"
)
QUEUE_WAIT = Histogram(
    "voxtral_queue_wait_seconds",
    "Time an admitted request waited for a slot (0 when one was free)",
    buckets=QUEUE_BUCKETS,
)
REJECTED = Counter(
    "voxtral_requests_rejected",
    "Inference requests refused before processing, by reason",
    ["reason"],
)
BODY_BYTES = Gauge(
    "voxtral_request_body_bytes_buffered",
    "Bytes of request bodies held in memory (read before admission, kept until done)",
    multiprocess_mode="livesum",
)
AUDIO_HELD = Gauge(
    "voxtral_decoded_audio_seconds_held",
    "Seconds of decoded audio that requests hold (reserved a minute at a time as it decodes)",
    multiprocess_mode="livesum",
)
DECODE_SECONDS = Histogram(
    "voxtral_audio_decode_seconds",
    "Time to decode and resample one audio input",
    buckets=DECODE_BUCKETS,
)
INPUT_AUDIO_SECONDS = Histogram(
    "voxtral_input_audio_seconds", "Duration of each audio input", buckets=AUDIO_BUCKETS
)


def observe_audio(task: str, audio_seconds: float, processing_seconds: float) -> None:
    """One finished transcription/translation of ``audio_seconds`` of audio."""
    AUDIO_SECONDS.labels(task=task).inc(audio_seconds)
    if audio_seconds > 0:
        REAL_TIME_FACTOR.labels(task=task).observe(processing_seconds / audio_seconds)


def observe_decode(decode_seconds: float, audio_seconds: float) -> None:
    DECODE_SECONDS.observe(decode_seconds)
    INPUT_AUDIO_SECONDS.observe(audio_seconds)


def registry() -> CollectorRegistry:
    """What /metrics shows: this process's metrics, or every frontend's of the replica."""
    if not os.environ.get(MULTIPROCESS_DIR):
        return REGISTRY
    replica = CollectorRegistry()
    multiprocess.MultiProcessCollector(replica)  # type: ignore[no-untyped-call]
    return replica
