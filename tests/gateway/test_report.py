"""The gateway's reports of held requests (report.py) against the API emulator: written at
the first held request, rewritten when the count changes, removed at 0, and withdrawn when
the gateway stops (the operator's side of the contract is tests/operator/test_held.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import kmock
import pytest
import yaml
from kube_emulator import VoxtralEmulator  # tests/operator, on the path by conftest.py
from voxtral_gateway.kube import Kube
from voxtral_gateway.report import Reporter

SAMPLE = Path(__file__).parent.parent.parent / "manifests/samples/voxtral-mini.yaml"
PATH = "/apis/voxtral.dev/v1alpha1/namespaces/team-a/voxtralservices/voxtral-mini"
KEY = "held.gateway.voxtral.dev/gateway-7d9f-abcde"


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with (
        VoxtralEmulator() as em,
        kmock.Server(em) as server,
        httpx.AsyncClient(base_url=str(server.url).rstrip("/")) as client,
    ):
        sample = yaml.safe_load(SAMPLE.read_text())
        sample["metadata"]["namespace"] = "team-a"
        created = await client.post(PATH.rsplit("/", 1)[0], json=sample)
        assert created.status_code == 201, created.text
        yield client


async def report(api: httpx.AsyncClient) -> dict[str, Any] | None:
    annotations = (await api.get(PATH)).json()["metadata"].get("annotations") or {}
    return json.loads(annotations[KEY]) if KEY in annotations else None


async def until(check: Any, timeout: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := await check()):
        assert asyncio.get_running_loop().time() < deadline, "not reached"
        await asyncio.sleep(0.02)
    return found


async def test_a_report_follows_the_held_count_and_is_withdrawn_on_stop(
    api: httpx.AsyncClient,
) -> None:
    kube = Kube(str(api.base_url))
    reporter = Reporter(kube, lambda served: ("team-a", "voxtral-mini"), "gateway-7d9f-abcde")
    running = asyncio.create_task(reporter.run())
    try:
        reporter.held("voxtral", 1)
        first = await until(lambda: report(api))
        assert first["held"] == 1 and first["since"].endswith("Z") and first["at"].endswith("Z")
        reporter.held("voxtral", 3)

        async def three() -> bool:
            return (await report(api) or {}).get("held") == 3

        await until(three)
        reporter.held("voxtral", 0)

        async def gone() -> bool:
            return await report(api) is None

        await until(gone)
        reporter.held("voxtral", 2)
        await until(lambda: report(api))
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    assert await report(api) is None  # a stopping gateway leaves no report behind
