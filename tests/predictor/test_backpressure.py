"""Backpressure, client disconnects and graceful drain, on a predictor limited to one
request at a time with one queued. Requests are made slow by a long output (random
weights never stop early)."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import grpc
import httpx
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

from tests.conftest import Predictor, start_predictor, stop_predictor
from tests.predictor.audiofiles import wav
from tests.predictor.calls import grpc_request
from tests.predictor.helpers import busy, scrape, value, wait_for

SLOW = "800"  # output tokens: about 2-4 s on the tiny model here
FAST = "4"


def transcribe(server: Predictor, tokens: str, timeout: float = 120) -> httpx.Response:
    return httpx.post(
        f"{server.openai_base}/audio/transcriptions",
        files={"file": ("a.wav", wav(1.0))},
        data={"model": "voxtral", "max_completion_tokens": tokens},
        timeout=timeout,
    )


def in_background(fn, *args) -> tuple[threading.Thread, list]:  # type: ignore[no-untyped-def]
    out: list = []
    thread = threading.Thread(target=lambda: out.append(fn(*args)))
    thread.start()
    return thread, out


def test_overload_is_429_and_admitted_requests_all_finish(narrow: Predictor) -> None:
    before = scrape(narrow)
    first, first_out = in_background(transcribe, narrow, SLOW)
    wait_for(lambda: busy(narrow, 1, 0))
    second, second_out = in_background(transcribe, narrow, FAST)
    wait_for(lambda: busy(narrow, 1, 1))
    rejected = [transcribe(narrow, FAST) for _ in range(3)]
    for r in rejected:
        assert r.status_code == 429, r.text
        assert r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == "overloaded"
        assert "--max-concurrency" in r.json()["error"]["message"]
    # gRPC says the same thing its own way
    stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(narrow.grpc))
    request = grpc_request(wav(1.0))
    with pytest.raises(grpc.RpcError) as exhausted:
        stub.ModelInfer(request)
    assert exhausted.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    first.join()
    second.join()
    assert first_out[0].status_code == 200 and second_out[0].status_code == 200
    after = scrape(narrow)
    assert value(after, "voxtral_requests_rejected_total", reason="queue_full") >= 4

    def waits(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # both admitted requests are in the queue-wait histogram, the rejected ones are not;
    # only the second waited (for the first to finish)
    assert waits("voxtral_queue_wait_seconds_count") == 2
    assert waits("voxtral_queue_wait_seconds_bucket", le="0.01") == 1
    assert waits("voxtral_queue_wait_seconds_sum") > 0.01


def hang_up(server: Predictor, stream: bool) -> None:
    data = {"model": "voxtral", "max_completion_tokens": "3000"}
    if not stream:
        with pytest.raises(httpx.ReadTimeout):  # the client gives up after 1 s
            httpx.post(
                f"{server.openai_base}/audio/transcriptions",
                files={"file": ("a.wav", wav(1.0))},
                data=data,
                timeout=1.0,
            )
        return
    with httpx.stream(
        "POST",
        f"{server.openai_base}/audio/transcriptions",
        files={"file": ("a.wav", wav(1.0))},
        data=data | {"stream": "true"},
    ) as r:  # read the first streamed token, then hang up
        assert next(line for line in r.iter_lines() if line.startswith("data: "))


@pytest.mark.parametrize("stream", [False, True])
def test_client_disconnect_frees_the_slot_and_aborts_the_engine_request(
    narrow: Predictor, stream: bool
) -> None:
    tokens = ("vllm:generation_tokens_total", {"engine": "0", "model_name": "voxtral"})
    running = ("vllm:num_requests_running", {"engine": "0", "model_name": "voxtral"})
    before = value(scrape(narrow), tokens[0], **tokens[1])
    hang_up(narrow, stream)
    wait_for(lambda: busy(narrow, 0, 0), timeout=10)
    wait_for(lambda: value(scrape(narrow), running[0], **running[1]) == 0, timeout=10)
    generated = value(scrape(narrow), tokens[0], **tokens[1]) - before
    assert generated < 3000  # the engine stopped: the request was aborted, not finished
    time.sleep(1.0)
    assert value(scrape(narrow), tokens[0], **tokens[1]) - before == generated
    assert (
        value(
            scrape(narrow), "voxtral_requests_total", endpoint="openai_transcriptions", code="499"
        )
        >= 1
    )
    assert transcribe(narrow, FAST).status_code == 200  # the slot is free again


def test_sigterm_drains_in_flight_then_exits_zero(tiny_model: Path, tmp_path: Path) -> None:
    server = start_predictor(
        tiny_model, tmp_path, "--max-concurrency", "2", "--warmup", "false", "--drain-timeout", "60"
    )
    try:
        a, a_out = in_background(transcribe, server, SLOW)
        b, b_out = in_background(transcribe, server, SLOW)
        wait_for(lambda: busy(server, 2, 0))
        server.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: httpx.get(f"{server.http}/v2/health/ready").status_code == 503, timeout=5)
        refused = transcribe(server, FAST)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "draining"
        assert httpx.get(f"{server.http}/v2/health/live").status_code == 200
        a.join()
        b.join()
        assert a_out[0].status_code == 200 and b_out[0].status_code == 200
        assert server.proc.wait(timeout=60) == 0
    finally:
        stop_predictor(server)


def test_dead_engine_fails_liveness_and_exits(tiny_model: Path, tmp_path: Path) -> None:
    """Kill vLLM's worker process (as a GPU fault or an OOM kill would): the predictor
    notices and exits non-zero instead of hanging, so the pod restarts."""
    import psutil

    server = start_predictor(
        tiny_model, tmp_path, "--warmup", "false", env={"VLLM_ENABLE_V1_MULTIPROCESSING": "1"}
    )
    try:
        workers = [
            p
            for p in psutil.Process(server.proc.pid).children(recursive=True)
            if "Worker" in " ".join(p.cmdline()) or "Worker" in p.name()
        ]
        assert workers, "no vLLM worker process found"
        workers[0].kill()
        assert server.proc.wait(timeout=60) == 1
        log = server.log.read_text()
        assert "the engine core died" in log
    finally:
        stop_predictor(server)


def _stream_lines(server: Predictor, out: list[str], started: threading.Event) -> None:
    with httpx.stream(
        "POST",
        f"{server.openai_base}/audio/transcriptions",
        files={"file": ("a.wav", wav(1.0))},
        data={"model": "voxtral", "max_completion_tokens": "3000", "stream": "true"},
        timeout=120,
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                out.append(line[len("data: ") :])
                started.set()


def test_sigterm_tells_running_streams_and_stops_every_engine_process(
    tiny_model: Path, tmp_path: Path
) -> None:
    """With vLLM's engine core and worker in their own processes (as on GPUs) and a stream
    that outlasts --drain-timeout 1: the stream ends with an error event saying why, and
    [DONE]; SIGTERM ends with exit 0 and no process of the predictor left behind."""
    import psutil

    server = start_predictor(
        tiny_model, tmp_path, "--warmup", "false", "--drain-timeout", "1",
        env={"VLLM_ENABLE_V1_MULTIPROCESSING": "1"},
    )  # fmt: skip
    try:
        children = psutil.Process(server.proc.pid).children(recursive=True)
        assert len(children) >= 2  # engine core and its worker
        lines: list[str] = []
        started = threading.Event()
        stream = threading.Thread(target=_stream_lines, args=(server, lines, started))
        stream.start()
        assert started.wait(60)
        server.proc.send_signal(signal.SIGTERM)
        stream.join(timeout=30)
        assert not stream.is_alive()
        assert lines[-1] == "[DONE]"
        goodbye = json.loads(lines[-2])
        assert goodbye["type"] == "error" and goodbye["error"]["code"] == "shutting_down"
        assert "--drain-timeout" in goodbye["error"]["message"]
        assert all(json.loads(x)["type"] == "transcript.text.delta" for x in lines[:-2])
        assert server.proc.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, [p.pid for p in alive]
    finally:
        stop_predictor(server)


def test_by_default_a_replica_admits_what_the_engine_batches(predictor: Predictor) -> None:
    """Without --max-concurrency the limit is the engine's batch size: vLLM's max_num_seqs
    default for this device (on an H200 1024, so that c=512 is not held to 256)."""
    from vllm.engine.arg_utils import EngineArgs
    from vllm.usage.usage_lib import UsageContext

    batch = EngineArgs.get_batch_defaults(world_size=1)[1][UsageContext.OPENAI_API_SERVER]
    assert f"admitting {batch} requests at once, 512 more in the queue" in predictor.log.read_text()
