"""Fixtures of the operator's tests: the API emulator on a real port, the real operator
running against it, and a user's HTTP client."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import kmock
import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # the helper modules beside this file

from kube_emulator import VoxtralEmulator  # noqa: E402
from operator_harness import Cluster, OperatorRun, write_kubeconfig  # noqa: E402

from voxtral_operator.config import Settings  # noqa: E402

REPO = HERE.parent.parent
CRD_PATH = REPO / "manifests" / "crds" / "voxtral.dev_voxtralservices.yaml"


# The kubernetes client library reads $KUBECONFIG when it is imported: point it, once, at a
# file that each test rewrites with its own emulator's address.
KUBECONFIG = Path(tempfile.mkdtemp(prefix="voxtral-operator-tests-")) / "kubeconfig"
os.environ["KUBECONFIG"] = str(KUBECONFIG)


@pytest.fixture
async def emulator() -> AsyncIterator[VoxtralEmulator]:
    async with VoxtralEmulator() as em, kmock.Server(em) as server:
        write_kubeconfig(KUBECONFIG, str(server.url).rstrip("/"))
        yield em


@pytest.fixture
async def cluster(emulator: VoxtralEmulator) -> AsyncIterator[Cluster]:
    async with httpx.AsyncClient(base_url=str(emulator.url).rstrip("/")) as client:
        yield Cluster(client)


@pytest.fixture
def operator_settings() -> Settings:
    return Settings(metrics_port=0, resync_seconds=0, wait_seconds=0.3)


@pytest.fixture
def resync_settings() -> Settings:
    """An operator that re-checks every service five times a second."""
    return Settings(metrics_port=0, resync_seconds=0.2, wait_seconds=0.3)


@pytest.fixture
async def operator(
    emulator: VoxtralEmulator, operator_settings: Settings
) -> AsyncIterator[OperatorRun]:
    run = OperatorRun(operator_settings)
    await run.start()
    try:
        yield run
    finally:
        await run.stop()
