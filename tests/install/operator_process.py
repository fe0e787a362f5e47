"""The operator as the chart deploys it: the image's entrypoint (operator/Dockerfile) with the
container's args and environment from the rendered Deployment, as a process of its own that
talks to the API emulator; only the ports move (several replicas share this machine)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dockerfile_entrypoint(path: Path) -> list[str]:
    """The exec-form ENTRYPOINT of a Dockerfile."""
    found = re.findall(r"^ENTRYPOINT\s+(\[.*\])\s*$", path.read_text(), re.M)
    assert len(found) == 1, f"{path}: one exec-form ENTRYPOINT expected"
    entrypoint: list[str] = json.loads(found[-1])
    return entrypoint


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


@dataclass
class OperatorProcess:
    proc: subprocess.Popen[bytes]
    metrics_port: int
    health_url: str
    log: Path

    @classmethod
    def start(
        cls,
        deployment: dict[str, Any],
        kubeconfig: Path,
        log: Path,
        env: dict[str, str] | None = None,
    ) -> OperatorProcess:
        """The operator with the container's environment, and `env` over it."""
        container = container_of(deployment)
        command = dockerfile_entrypoint(ROOT / "operator" / "Dockerfile") + container["args"]
        assert command[0] == "python"
        command[0] = sys.executable
        extra = env or {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOXTRAL_OPERATOR_")}
        env |= {e["name"]: e["value"] for e in container["env"]} | extra
        metrics_port, health_port = free_port(), free_port()
        endpoint = re.sub(r":\d+/", f":{health_port}/", env["VOXTRAL_OPERATOR_HEALTH_ENDPOINT"])
        env |= {
            "KUBECONFIG": str(kubeconfig),
            "VOXTRAL_OPERATOR_METRICS_PORT": str(metrics_port),
            "VOXTRAL_OPERATOR_HEALTH_ENDPOINT": endpoint,
        }
        proc = subprocess.Popen(
            command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=log.parent
        )
        return cls(proc, metrics_port, endpoint.replace("0.0.0.0", "127.0.0.1"), log)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    async def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the operator exited {self.proc.returncode}:\n{self.output()}")
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(self.health_url, timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False

    async def metric(self, name: str, label: str = "") -> float:
        """The sum of this replica's samples of a metric, of those with a label (k="v")."""
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name + "{") and label in line
        )

    async def reconciles(self, trigger: str = "") -> float:
        """How many reconciles this replica ran (its voxtral_operator_reconciles_total), of
        one trigger or all."""
        label = f'trigger="{trigger}"' if trigger else ""
        return await self.metric("voxtral_operator_reconciles_total", label)

    async def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)
        return self.proc.returncode
