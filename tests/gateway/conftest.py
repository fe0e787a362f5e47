"""A real voxtral-gateway process in front of real tiny-model predictors on loopback."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Predictor, free_port

START_TIMEOUT_S = 30
ROOT = Path(__file__).resolve().parent.parent.parent
# The API emulator (tests/operator), the chart renderer (tests/install) and helm (tools/).
for extra in (ROOT / "tests" / "operator", ROOT / "tools", ROOT / "tests" / "install"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))


def upstream(server: Predictor, name: str = "voxtral") -> str:
    return f"{name}={server.http}|{server.grpc}"


def start_gateway(
    workdir: Path, *upstreams: str, extra: tuple[str, ...] = (), expect: int | None = None
) -> Predictor:
    """The gateway, ready once it routes to every upstream (or to ``expect`` replicas of
    `voxtral` it found itself); its addresses in a Predictor (the same HTTP, gRPC and
    OpenAI addresses a client of a predictor uses)."""
    expect = len(upstreams) if expect is None else expect
    http_port, grpc_port = free_port(), free_port()
    log = workdir / f"gateway-{http_port}.log"
    cmd = [
        sys.executable, "-m", "voxtral_gateway", "--host", "127.0.0.1",
        "--http-port", str(http_port), "--grpc-port", str(grpc_port),
        "--health-interval", "0.5", *extra,
    ]  # fmt: skip
    for spec in upstreams:
        cmd += ["--upstream", spec]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    gateway = Predictor(proc, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited {proc.returncode}:\n{log.read_text()}")
        try:
            text = httpx.get(f"{gateway.http}/metrics", timeout=2).text
        except httpx.HTTPError:
            time.sleep(0.1)
            continue
        if f'voxtral_gateway_ready_replicas{{model="voxtral"}} {expect}.0' in text:
            return gateway
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"gateway not routing in {START_TIMEOUT_S} s:\n{log.read_text()}")


def stop_gateway(gateway: Predictor) -> int:
    gateway.proc.terminate()
    try:
        return gateway.proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        gateway.proc.kill()
        return gateway.proc.wait()


@pytest.fixture(scope="module")
def gateway(
    predictor: Predictor, narrow: Predictor, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Predictor]:
    """In front of two replicas of `voxtral`: the default predictor and one that runs one
    request at a time with one queued (its 429s are easy to cause)."""
    server = start_gateway(
        tmp_path_factory.mktemp("gateway"), upstream(predictor), upstream(narrow)
    )
    yield server
    assert stop_gateway(server) == 0
