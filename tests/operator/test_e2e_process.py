"""The operator as it is deployed: a process of its own (`voxtral-operator run`, and kopf's
module mode `kopf run -m voxtral_operator.handlers`), settings from the environment,
talking to the API emulator over HTTP, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from kube_emulator import VoxtralEmulator
from operator_harness import Cluster, eventually


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def jobs(emulator: VoxtralEmulator) -> list[dict[str, object]]:
    return emulator.list("batch/v1/jobs", "default")


@pytest.mark.parametrize("mode", ["voxtral-operator run", "kopf run -m"])
async def test_the_operator_process_serves_and_stops_cleanly(
    cluster: Cluster, emulator: VoxtralEmulator, tmp_path: Path, mode: str
) -> None:
    port = free_port()
    env = os.environ | {
        "VOXTRAL_OPERATOR_NAMESPACES": "default",
        "VOXTRAL_OPERATOR_METRICS_PORT": str(port),
        "VOXTRAL_OPERATOR_LOG_FORMAT": "json",
    }
    if mode == "kopf run -m":
        cmd = [
            sys.executable,
            "-m",
            "kopf",
            "run",
            "--standalone",
            "-n",
            "default",
            "-m",
            "voxtral_operator.handlers",
        ]
    else:
        cmd = [sys.executable, "-m", "voxtral_operator", "run"]
    log = (tmp_path / "operator.log").open("w+")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        await cluster.create_vxs("voxtral", {"model": {"preset": "voxtral-mini-3b"}})
        try:
            await eventually(
                lambda: asyncio.to_thread(jobs, emulator),
                timeout=30,
                what="the download Job from the operator process",
            )
        except AssertionError:
            log.seek(0)
            raise AssertionError(log.read()[-3000:]) from None

        async def scraped() -> str | None:
            try:
                async with httpx.AsyncClient() as client:
                    text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            except httpx.HTTPError:
                return None
            return text if 'trigger="create"' in text else None

        text = await eventually(scraped, timeout=10, what="the operator's metrics")
        assert "voxtral_operator_reconciles_total" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
        log.seek(0)
        output = log.read()
    assert code == 0, output[-3000:]
