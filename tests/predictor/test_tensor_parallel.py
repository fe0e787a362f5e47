"""Tensor parallelism on real vLLM worker processes (``--tensor-parallel-size 2``: one
engine core, two workers, the way a ``gpusPerReplica: 2`` pod runs; here on CPU, the
workers bound to one core each): ready only once both workers answered the warm-up,
SIGTERM drains and every worker exits, a killed worker stops the replica at once."""

from __future__ import annotations

import concurrent.futures
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import Predictor, start_predictor
from tests.predictor.audiofiles import wav
from tests.predictor.helpers import alive, busy, transcribe, wait_for

TP_ENV = {
    "VLLM_ENABLE_V1_MULTIPROCESSING": "1",  # the engine core is its own process
    "VLLM_CPU_OMP_THREADS_BIND": "0|1",  # vLLM's CPU workers need a core each here
}


def start_tp2(model: Path, workdir: Path) -> Predictor:
    return start_predictor(
        model, workdir, "--tensor-parallel-size", "2", "--api-servers", "2", env=TP_ENV
    )


def workers(server: Predictor) -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process(server.proc.pid).children(recursive=True)
        if p.name().startswith("VLLM::Worker")
    ]


def slow(server: Predictor) -> int:
    return transcribe(server, wav(1.0), max_completion_tokens="1500").status_code


def test_ready_after_both_workers_then_sigterm_drains_and_every_worker_exits(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = start_tp2(tiny_model, tmp_path_factory.mktemp("tp-drain"))
    first_ready = next(s for s in server.startup if s[2] == 200)
    assert first_ready[3] > 0, server.startup  # the warm-up ran through both workers
    assert sorted(p.name() for p in workers(server)) == ["VLLM::Worker_TP0", "VLLM::Worker_TP1"]
    everyone = [p.pid for p in psutil.Process(server.proc.pid).children(recursive=True)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = [pool.submit(slow, server) for _ in range(4)]
        wait_for(lambda: busy(server, 4, 0), timeout=30)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=120) == 0
        assert [a.result() for a in answers] == [200] * 4  # admitted: finished, not dropped
    wait_for(lambda: not alive(everyone), timeout=15)


def test_a_killed_worker_stops_the_replica_at_once(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = start_tp2(tiny_model, tmp_path_factory.mktemp("tp-dead"))
    everyone = [p.pid for p in psutil.Process(server.proc.pid).children(recursive=True)]
    assert transcribe(server, wav(1.0), max_completion_tokens="4").status_code == 200
    workers(server)[1].kill()
    started = time.monotonic()
    assert server.proc.wait(timeout=60) == 1, server.log.read_text()[-3000:]
    assert time.monotonic() - started < 30  # at once, not after a probe's threshold
    log = server.log.read_text()
    assert "died unexpectedly" in log and "the engine core died" in log
    wait_for(lambda: not alive(everyone), timeout=15)
