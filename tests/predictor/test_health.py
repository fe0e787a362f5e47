"""Readiness: false while the engine loads and until the warm-up transcription has run;
liveness answers throughout."""

from __future__ import annotations

import httpx

from tests.conftest import Predictor


def test_not_ready_while_loading_but_live(predictor: Predictor) -> None:
    loading = [s for s in predictor.startup if s[2] == 503]
    assert loading, f"readiness never reported 503 during start-up: {predictor.startup}"
    assert all(live == 200 for _, live, _, _ in predictor.startup)


def test_ready_only_after_warmup(predictor: Predictor) -> None:
    first_ready = next(s for s in predictor.startup if s[2] == 200)
    # the warm-up transcription had completed (vLLM counted it) when ready turned true
    assert first_ready[3] >= 1


def test_model_ready_routes(predictor: Predictor) -> None:
    assert httpx.get(f"{predictor.http}/v2/models/voxtral/ready").status_code == 200
    assert httpx.get(f"{predictor.http}/v2/models/nope/ready").status_code == 404
    assert httpx.get(f"{predictor.http}/v2/health/live").json() == {"live": True}
