"""Helpers shared by the predictor tests: metrics scraping and waiting."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Predictor

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(predictor: Predictor) -> Samples:
    text = httpx.get(f"{predictor.http}/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def transcribe(
    server: Predictor, audio: bytes, filename: str = "a.wav", timeout: float = 120, **data: str
) -> httpx.Response:
    """POST ``audio`` to the OpenAI transcription route with ``data`` as form fields."""
    return httpx.post(
        f"{server.openai_base}/audio/transcriptions",
        files={"file": (filename, audio)},
        data={"model": "voxtral", **data},
        timeout=timeout,
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def busy(server: Predictor, running: int, queued: int) -> bool:
    s = scrape(server)
    return (
        value(s, "voxtral_requests_in_flight") == running
        and value(s, "voxtral_requests_queued") == queued
    )


def alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running (an exited child nobody has reaped is not)."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            pass
    return running
