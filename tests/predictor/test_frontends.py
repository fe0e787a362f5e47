"""Two frontend processes on one engine core (``--api-servers 2``), tiny model, real vLLM:
requests spread over both, every protocol answered by either, one /metrics for the replica,
limits of the whole replica, readiness of every frontend, drain, and a dead frontend or
engine core stopping the replica."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import Predictor, free_port, start_predictor, stop_predictor
from tests.predictor.audiofiles import encode, wav
from tests.predictor.calls import CALLS, SLOW, openai_audio
from tests.predictor.helpers import alive, busy, scrape, value, wait_for
from tests.predictor.recordings import speech_like
from voxtral_predictor.options import Options
from voxtral_predictor.replica import Replica, Tally
from voxtral_predictor.runtime import Runtime
from voxtral_predictor.server import VoxtralDataPlane

TRIES = 40  # requests on new connections until both frontends have taken one (2^-39)
ENGINE_KEYS = {"engine": "0", "model_name": "voxtral"}


def start_pair(model: Path, workdir: Path, *extra: str) -> Predictor:
    return start_predictor(
        model,
        workdir,
        "--api-servers", "2", *extra,
        env={"VLLM_ENABLE_V1_MULTIPROCESSING": "1"},  # the engine core is its own process
    )  # fmt: skip


@pytest.fixture(scope="module")
def pair(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Predictor]:
    """Two frontends; three requests at a time in the whole replica, one queued."""
    server = start_pair(
        tiny_model, tmp_path_factory.mktemp("pair"), "--max-concurrency", "3", "--max-queue", "1"
    )
    yield server
    assert stop_predictor(server) == 0


def per_frontend(server: Predictor, endpoint: str) -> tuple[float, float]:
    samples = scrape(server)
    name = "voxtral_frontend_requests_total"
    return tuple(  # type: ignore[return-value]
        value(samples, name, frontend=str(f), endpoint=endpoint) for f in (0, 1)
    )


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_each_protocol_is_answered_by_either_frontend(pair: Predictor, endpoint: str) -> None:
    before = per_frontend(pair, endpoint)
    sent = 0
    for _ in range(TRIES):
        assert CALLS[endpoint](pair) == 200
        sent += 1
        now = per_frontend(pair, endpoint)
        if all(n > b for n, b in zip(now, before, strict=True)):
            break
    now = per_frontend(pair, endpoint)
    assert all(n > b for n, b in zip(now, before, strict=True)), (before, now)
    # one /metrics for the replica: every frontend's counts, whichever frontend answers it
    assert sum(now) - sum(before) == sent
    for _ in range(4):
        assert per_frontend(pair, endpoint) == now


def test_the_replicas_metrics_are_the_sum_of_its_frontends(pair: Predictor) -> None:
    samples = scrape(pair)
    by_frontend = sum(
        v for (name, _), v in samples.items() if name == "voxtral_frontend_requests_total"
    )
    by_endpoint = sum(v for (name, _), v in samples.items() if name == "voxtral_requests_total")
    assert by_frontend == by_endpoint > 0
    # the engine's own count: every request above, and each frontend's warm-up
    engine = sum(v for (name, _), v in samples.items() if name == "vllm:request_success_total")
    assert engine >= by_endpoint + 2


def test_readiness_waited_for_both_frontends(pair: Predictor) -> None:
    """Ready only once both frontends had warmed up (each warm-up is one engine request)."""
    first_ready = next(i for i, s in enumerate(pair.startup) if s[2] == 200)
    assert pair.startup[first_ready][3] >= 2
    assert all(s[2] == 503 for s in pair.startup[:first_ready])


slow = functools.partial(openai_audio, tokens=SLOW, timeout=120)


def test_limits_hold_for_the_whole_replica(pair: Predictor) -> None:
    """Ten slow requests at once, spread over both frontends: three run and one waits in
    the whole replica (--max-concurrency 3 --max-queue 1), six are refused."""
    before = per_frontend(pair, "openai_transcriptions")
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = [pool.submit(slow, pair) for _ in range(10)]
        wait_for(lambda: busy(pair, 3, 1), timeout=30)
        codes = sorted(a.result() for a in answers)
    assert codes == [200] * 4 + [429] * 6
    after = per_frontend(pair, "openai_transcriptions")
    assert all(a > b for a, b in zip(after, before, strict=True))
    assert busy(pair, 0, 0)


def test_long_form_and_disconnects_from_either_frontend(pair: Predictor) -> None:
    """A chunked recording fans out from whichever frontend took it; a client that leaves
    aborts its engine requests there."""
    pcm, _ = speech_like(75.0, seed=3)
    flac = encode(pcm, "flac")
    for _ in range(4):
        r = httpx.post(
            f"{pair.openai_base}/audio/transcriptions",
            files={"file": ("long.flac", flac)},
            data={"model": "voxtral", "response_format": "verbose_json", "chunking": "always"},
            timeout=120,
        )
        assert r.status_code == 200, r.text
        assert len(r.json()["segments"]) >= 3
    generated = ("vllm:generation_tokens_total", ENGINE_KEYS)
    running = ("vllm:num_requests_running", ENGINE_KEYS)
    for _ in range(4):
        before = value(scrape(pair), generated[0], **generated[1])
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{pair.openai_base}/audio/transcriptions",
                files={"file": ("a.wav", wav(1.0))},
                data={"model": "voxtral", "max_completion_tokens": "3000"},
                timeout=1.0,
            )
        wait_for(lambda: busy(pair, 0, 0), timeout=15)
        wait_for(lambda: value(scrape(pair), running[0], **running[1]) == 0, timeout=15)
        assert value(scrape(pair), generated[0], **generated[1]) - before < 3000


def children(server: Predictor) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """(frontends, engine cores) of a replica's supervisor."""
    kids = psutil.Process(server.proc.pid).children()
    engines = [p for p in kids if "EngineCore" in " ".join(p.cmdline())]
    frontends = [p for p in kids if p not in engines and "spawn_main" in " ".join(p.cmdline())]
    return frontends, engines


def wait_exit(server: Predictor, timeout: float = 60) -> int:
    return server.proc.wait(timeout=timeout)


def test_sigterm_drains_every_frontend(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = start_pair(tiny_model, tmp_path_factory.mktemp("drain"))
    everyone = [p.pid for p in psutil.Process(server.proc.pid).children(recursive=True)]
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = [pool.submit(slow, server) for _ in range(12)]
        wait_for(lambda: busy(server, 12, 0), timeout=30)
        server.proc.send_signal(signal.SIGTERM)
        assert wait_exit(server) == 0
        assert [a.result() for a in answers] == [200] * 12  # admitted: finished, not dropped
    drained = [
        line
        for line in server.log.read_text().splitlines()
        if "stopping: SIGTERM; draining" in line
    ]
    assert len(drained) == 2 and all(" 0 running" not in line for line in drained), drained
    assert not alive(everyone)


@pytest.mark.parametrize("victim", ["frontend", "engine core"])
def test_a_dead_process_stops_the_replica(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory, victim: str
) -> None:
    server = start_pair(tiny_model, tmp_path_factory.mktemp("dead"))
    everyone = [p.pid for p in psutil.Process(server.proc.pid).children(recursive=True)]
    frontends, engines = children(server)
    assert len(frontends) == 2 and len(engines) == 1
    (frontends[1] if victim == "frontend" else engines[0]).kill()
    started = time.monotonic()
    assert wait_exit(server) == 1, server.log.read_text()[-3000:]
    assert time.monotonic() - started < 30  # at once, not after a probe's threshold
    said = "exited with -9: stopping" if victim == "frontend" else "the engine core died"
    assert said in server.log.read_text()
    wait_for(lambda: not alive(everyone), timeout=15)


def test_frontends_whose_supervisor_is_gone_stop_even_while_loading(
    tiny_model: Path, tmp_path: Path
) -> None:
    """The supervisor killed outright (SIGKILL: no drain, no clean-up) while the engine
    loads: the frontends notice and exit, rather than serve on half a replica. (vLLM's
    engine core does not watch its parent: in a pod the container goes with its main
    process; here the test ends it.)"""
    log = tmp_path / "orphans.log"
    cmd = [
        sys.executable, "-m", "voxtral_predictor", "--model", str(tiny_model),
        "--host", "127.0.0.1", "--http-port", str(free_port()), "--grpc-port", str(free_port()),
        "--max-model-len", "4096", "--kv-cache-memory-bytes", str(128 << 20),
        "--api-servers", "2",
    ]  # fmt: skip
    env = os.environ | {"VLLM_CACHE_ROOT": str(tmp_path / "cache")}
    supervisor = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        replica = Predictor(supervisor, "", "", log)
        # both frontends and the engine core started (it has taken its name)
        wait_for(lambda: [len(kind) for kind in children(replica)] == [2, 1], timeout=120)
        frontends, _ = children(replica)
        supervisor.kill()
        supervisor.wait()
        wait_for(lambda: not alive([p.pid for p in frontends]), timeout=60)
        assert "the supervisor is gone" in log.read_text()
    finally:
        for process in psutil.process_iter():  # the engine core, now init's child
            with contextlib.suppress(psutil.Error):
                if str(tmp_path) in process.environ().get("VLLM_CACHE_ROOT", ""):
                    process.kill()


async def test_ready_only_when_every_frontend_is_warm_and_none_drains() -> None:
    """Any frontend answers the probe: it says ready only for the whole replica."""
    runtime = Runtime(Options(model="unused"))
    runtime.ready = True  # this frontend's engine client is up and warm
    replica = Replica(frontends=2, counts=Tally(shared=True))
    plane = VoxtralDataPlane(runtime, registry=None, replica=replica)  # type: ignore[arg-type]
    assert not await plane.ready()
    replica.warmed_up()
    assert not await plane.ready()  # the other frontend is still warming up
    replica.warmed_up()
    assert await plane.ready()
    Replica(frontends=2, counts=replica.counts).drain()  # another frontend starts draining
    assert not await plane.ready()


def test_a_port_in_use_is_said_plainly(tiny_model: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = [
            sys.executable, "-m", "voxtral_predictor", "--model", str(tiny_model),
            "--host", "127.0.0.1", "--http-port", str(port), "--api-servers", "2",
        ]  # fmt: skip
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in run.stderr
    assert "choose another --http-port" in run.stderr
