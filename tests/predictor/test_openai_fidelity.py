"""The OpenAI audio API as openai-python reads it: translation that asks the model to
translate, timestamp granularities sent as repeated form fields, verbose_json that
OpenAI's own types accept, and OpenAI-shaped errors for every failure on its routes."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.audio import TranscriptionVerbose, TranslationVerbose

from tests.conftest import Predictor
from tests.predictor.audiofiles import wav
from tests.predictor.helpers import scrape, value

LIMIT = {"max_completion_tokens": 4}
PROMPT_TOKENS = ("vllm:prompt_tokens_total", {"engine": "0", "model_name": "voxtral"})


@pytest.fixture(scope="module")
def client(predictor: Predictor) -> OpenAI:
    return OpenAI(base_url=predictor.openai_base, api_key="unused", max_retries=0)


def prompt_tokens(predictor: Predictor, call) -> float:  # type: ignore[no-untyped-def]
    """The prompt tokens the engine was given for ``call``."""
    before = value(scrape(predictor), PROMPT_TOKENS[0], **PROMPT_TOKENS[1])
    call()
    return value(scrape(predictor), PROMPT_TOKENS[0], **PROMPT_TOKENS[1]) - before


def test_translation_asks_the_model_to_translate(predictor: Predictor, client: OpenAI) -> None:
    """The same clip: a translation's prompt holds the instruction (more tokens than the
    transcription's), and the `prompt` field reaches the model as context (more again)."""
    clip = ("clip.wav", wav(2.0))
    transcribed = prompt_tokens(
        predictor,
        lambda: client.audio.transcriptions.create(model="voxtral", file=clip, extra_body=LIMIT),
    )
    translated = prompt_tokens(
        predictor,
        lambda: client.audio.translations.create(model="voxtral", file=clip, extra_body=LIMIT),
    )
    context = "Names: Mistral, Voxtral, Kubernetes. " * 5
    with_context = prompt_tokens(
        predictor,
        lambda: client.audio.translations.create(
            model="voxtral", file=clip, prompt=context, extra_body=LIMIT
        ),
    )
    assert transcribed > 0 and translated > transcribed + 10
    assert with_context > translated + 20


def test_translations_carry_usage_chunked_or_not(predictor: Predictor) -> None:
    for chunking in ("never", "always"):
        r = httpx.post(
            f"{predictor.openai_base}/audio/translations",
            files={"file": ("a.wav", wav(3.0))},
            data={"model": "voxtral", "chunking": chunking, **LIMIT},
        )
        assert r.status_code == 200, r.text
        assert r.json()["usage"] == {"type": "duration", "seconds": 3}
    r = httpx.post(
        f"{predictor.openai_base}/audio/translations",
        files={"file": ("a.wav", wav(3.0))},
        data={"model": "voxtral", "response_format": "verbose_json", "language": "fr", **LIMIT},
    )
    verbose = TranslationVerbose.model_validate(r.json())
    assert verbose.language == "french" and verbose.duration == 3.0
    assert r.json()["task"] == "translate"


def test_segment_timestamps_through_the_sdk(client: OpenAI) -> None:
    """openai-python sends `timestamp_granularities[]` as repeated form fields."""
    result = client.audio.transcriptions.create(
        model="voxtral",
        file=("clip.wav", wav(2.0)),
        response_format="verbose_json",
        timestamp_granularities=["segment"],
        language="de",
        extra_body=LIMIT,
    )
    verbose = TranscriptionVerbose.model_validate(result.model_dump())  # OpenAI's own type
    assert verbose.language == "german" and verbose.duration == 2.0
    assert verbose.segments is not None and len(verbose.segments) == 1
    segment = verbose.segments[0]
    assert (segment.start, segment.end, segment.seek) == (0.0, 2.0, 0)
    assert segment.text and segment.text == verbose.text
    assert verbose.usage is not None and verbose.usage.seconds == 2


def test_word_timestamps_are_a_clear_400(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(
            model="voxtral",
            file=("clip.wav", wav(1.0)),
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    error = refused.value.body
    assert isinstance(error, dict) and error["param"] == "timestamp_granularities"
    assert "'word' timestamps are not available" in error["message"]


def test_language_is_unknown_when_not_given(predictor: Predictor) -> None:
    r = httpx.post(
        f"{predictor.openai_base}/audio/transcriptions",
        files={"file": ("a.wav", wav(1.0))},
        data={"model": "voxtral", "response_format": "verbose_json", **LIMIT},
    )
    assert TranscriptionVerbose.model_validate(r.json()).language == "unknown"


def _openai_error(r: httpx.Response, status: int) -> dict[str, str]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("headers", "content", "says"),
    [
        ({"content-type": "multipart/form-data"}, b"x", "boundary"),
        ({"content-type": "multipart/form-data; boundary=b"}, b"--b\r\nnot a part", ""),
    ],
)
def test_unreadable_multipart_is_an_openai_error(
    predictor: Predictor, headers: dict[str, str], content: bytes, says: str
) -> None:
    r = httpx.post(
        f"{predictor.openai_base}/audio/transcriptions", headers=headers, content=content
    )
    error = _openai_error(r, 400)
    assert error["code"] in ("invalid_multipart", "missing_file") and says in error["message"]


def test_two_files_and_repeated_fields(predictor: Predictor) -> None:
    r = httpx.post(
        f"{predictor.openai_base}/audio/transcriptions",
        files=[("file", ("a.wav", wav(1.0))), ("file", ("b.wav", wav(1.0)))],
        data={"model": "voxtral"},
    )
    error = _openai_error(r, 400)
    assert error["code"] == "invalid_multipart" and "Too many files" in error["message"]
    r = httpx.post(
        f"{predictor.openai_base}/audio/transcriptions",
        files={"file": ("a.wav", wav(1.0))},
        data={"model": "voxtral", "language": ["en", "fr"]},
    )
    error = _openai_error(r, 400)
    assert error["param"] == "language" and "given more than once" in error["message"]


def test_unknown_routes_and_methods_are_openai_errors(predictor: Predictor) -> None:
    error = _openai_error(httpx.post(f"{predictor.openai_base}/audio/speech", json={}), 404)
    assert error["type"] == "invalid_request_error"
    _openai_error(httpx.get(f"{predictor.openai_base}/audio/transcriptions"), 405)
