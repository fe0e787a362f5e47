"""The request fields a client may send, checked before any work: types, ranges and
allowed values, with a 400 that names the field and says what it takes. Form fields
(multipart) arrive as strings and are converted; JSON and gRPC values must already have
the right type. What passes is what the engine is given (it never sees a value it would
refuse with a 500)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import ApiError


@dataclass(frozen=True)
class Field:
    kind: str  # "str", "float", "int", "bool", "list"
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is not allowed
    choices: tuple[str, ...] = ()
    hint: str = ""


def _num(kind: str, low: float | None, high: float | None, open_: bool = False) -> Field:
    return Field(kind, low, high, open_)


RESPONSE_FORMATS: Final = ("json", "text", "verbose_json", "srt", "vtt")
CHUNKING: Final = ("auto", "always", "never")
GRANULARITIES: Final = ("segment", "word")

# The transcription and translation fields (OpenAI's, vLLM's sampling extras, ours).
SPEECH: Final[dict[str, Field]] = {
    "model": Field("str"),
    "language": Field("str"),
    "prompt": Field("str", high=4000),
    "response_format": Field("str", choices=RESPONSE_FORMATS),
    "chunking": Field("str", choices=CHUNKING),
    "timestamp_granularities": Field("list", choices=GRANULARITIES),
    "stream": Field("bool"),
    "stream_include_usage": Field("bool"),
    "stream_continuous_usage_stats": Field("bool"),
    "temperature": _num("float", 0.0, 2.0),
    "top_p": _num("float", 0.0, 1.0, open_=True),
    "top_k": _num("int", -1, None),
    "min_p": _num("float", 0.0, 1.0),
    "seed": _num("int", -(2**63), 2**63 - 1),
    "frequency_penalty": _num("float", -2.0, 2.0),
    "presence_penalty": _num("float", -2.0, 2.0),
    "repetition_penalty": _num("float", 0.0, 2.0, open_=True),
    "max_completion_tokens": _num("int", 1, None),
    "task": Field("str", choices=("transcribe", "translate")),
}
# Sampling fields of a chat completion that the engine would refuse only once running.
CHAT: Final[dict[str, Field]] = {
    "temperature": _num("float", 0.0, 2.0),
    "top_p": _num("float", 0.0, 1.0, open_=True),
    "top_k": _num("int", -1, None),
    "min_p": _num("float", 0.0, 1.0),
    "frequency_penalty": _num("float", -2.0, 2.0),
    "presence_penalty": _num("float", -2.0, 2.0),
    "repetition_penalty": _num("float", 0.0, 2.0, open_=True),
    "max_tokens": _num("int", 1, None),
    "max_completion_tokens": _num("int", 1, None),
    "n": _num("int", 1, 1),
    "seed": _num("int", -(2**63), 2**63 - 1),
    "stream": Field("bool"),
}
_TRUE: Final = ("true", "1", "yes", "on")
_FALSE: Final = ("false", "0", "no", "off")


def _bad(name: str, message: str, code: str = "invalid_field") -> ApiError:
    return ApiError(400, f"{name}: {message}", code=code, param=name)


def _convert(name: str, field: Field, value: Any, form: bool) -> Any:
    """The value as ``field.kind``; strings are converted only for form fields."""
    kind = field.kind
    if kind == "str":
        if not isinstance(value, str):
            raise _bad(name, f"must be a string, got {type(value).__name__}")
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if form and isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise _bad(name, f"must be true or false, got {value!r}")
    if kind == "list":
        items = value if isinstance(value, list) else [value] if form else None
        if items is None or not all(isinstance(v, str) for v in items):
            raise _bad(name, f"must be a list of strings, got {value!r}")
        return items
    parse: Callable[[str], Any] = int if kind == "int" else float
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad(name, f"must be a number, got {type(value).__name__}")
    if isinstance(value, str):
        if not form:
            raise _bad(name, f"must be a number, not the string {value!r}")
        try:
            return parse(value.strip())
        except ValueError:
            raise _bad(name, f"must be {'a whole number' if kind == 'int' else 'a number'}, "
                             f"got {value!r}") from None  # fmt: skip
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise _bad(name, f"must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def _text(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _check(name: str, field: Field, value: Any) -> None:
    if field.choices:
        for item in value if isinstance(value, list) else [value]:
            if item not in field.choices:
                allowed = ", ".join(field.choices)
                raise _bad(
                    name, f"unknown {name} {item!r}: use one of {allowed}", f"invalid_{name}"
                )
        return
    if field.kind == "str":
        if field.high is not None and len(value) > field.high:
            raise _bad(name, f"is {len(value)} characters long: at most {field.high:g}")
        return
    if field.kind in ("int", "float"):
        if isinstance(value, float) and not math.isfinite(value):
            raise _bad(name, f"must be a finite number, got {value!r}")
        low, high = field.low, field.high
        below = low is not None and (value <= low if field.low_open else value < low)
        above = high is not None and value > high
        if below or above:
            lo = "-" if low is None else ("(" if field.low_open else "[") + _text(low)
            hi = "" if high is None else f"{_text(high)}]"
            span = f"{lo}, {hi or 'any'}" + ("" if hi else ")")
            raise _bad(name, f"{value!r} is out of range: use a value in {span}")


def checked(
    values: Mapping[str, Any], table: Mapping[str, Field], form: bool, strict: bool
) -> dict[str, Any]:
    """``values`` converted and checked against ``table``. ``strict``: a field the table
    does not know is refused; otherwise it is left for the engine's own model to check."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or (form and value == ""):
            continue
        field = table.get(name)
        if field is None:
            if strict:
                raise _bad(name, f"unknown field: this endpoint takes {', '.join(table)}")
            out[name] = value
            continue
        converted = _convert(name, field, value, form)
        _check(name, field, converted)
        out[name] = converted
    return out


def speech(values: Mapping[str, Any], form: bool) -> dict[str, Any]:
    """Transcription / translation fields, and what they mean together."""
    out = checked(values, SPEECH, form, strict=True)
    granularities = out.get("timestamp_granularities") or []
    if "word" in granularities:
        raise _bad(
            "timestamp_granularities",
            "'word' timestamps are not available for Voxtral: ask for 'segment' (with "
            "response_format verbose_json)",
        )
    if granularities and out.get("response_format") != "verbose_json":
        raise _bad(
            "timestamp_granularities",
            "timestamps come with response_format verbose_json: set it, or leave "
            "timestamp_granularities out",
        )
    return out


def chat(body: Mapping[str, Any]) -> None:
    """The sampling fields of a chat completion (the rest is vLLM's request model's)."""
    checked({k: body[k] for k in CHAT if k in body}, CHAT, form=False, strict=False)
