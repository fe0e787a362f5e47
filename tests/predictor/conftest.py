"""Predictors with non-default settings, each started once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Predictor, start_predictor, stop_predictor


@pytest.fixture(scope="session")
def limited(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Predictor]:
    """Small size and duration limits, so limit tests need no large files."""
    server = start_predictor(
        tiny_model, tmp_path_factory.mktemp("limited"),
        "--max-audio-seconds", "5", "--max-chat-audio-seconds", "6", "--max-upload-mb", "0.5",
        "--max-long-audio-seconds", "20", "--warmup", "false",
    )  # fmt: skip
    yield server
    stop_predictor(server)


@pytest.fixture(scope="session")
def budgeted(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Predictor]:
    """Small budgets: of decoded audio (300 s for all requests at once), of bodies held
    (8 MiB), of inputs per request (2), and 5 s of pause in a body; so that bombs and
    floods need no hours of audio nor gigabytes."""
    server = start_predictor(
        tiny_model, tmp_path_factory.mktemp("budgeted"),
        "--max-decoded-audio-seconds", "300", "--max-buffered-mb", "8", "--max-inputs", "2",
        "--body-timeout", "5", "--warmup", "false",
    )  # fmt: skip
    yield server
    stop_predictor(server)
