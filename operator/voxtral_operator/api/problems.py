"""Turn validation errors into messages a person can act on: where, what, and what to do."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any, Union

from pydantic import BaseModel, ValidationError


class SpecError(ValueError):
    """A VoxtralService the operator cannot serve. `reason` is a CamelCase condition reason;
    the message says what was wrong and what to do."""

    def __init__(self, message: str, reason: str = "InvalidSpec") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class found at a location of an error, following field aliases."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            continue  # list index: _unwrap already went inside the list
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        for name, info in current.model_fields.items():
            if part in (name, info.alias):
                current = info.annotation
                break
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """Optional[X] -> X, list[X] -> X, dict[K, X] -> X, Annotated[X, ...] -> X."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = models[0] if models else args[0]
        elif origin in (list, tuple, set):
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return tp


def _known_fields(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _where(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(the object)"


def describe(error: ValidationError, root: type[BaseModel]) -> list[str]:
    """One line per problem, e.g. "spec.cache.size: '10GB' is not a Kubernetes quantity..."."""
    lines: list[str] = []
    for item in error.errors():
        loc = list(item["loc"])
        kind = item["type"]
        where = _where(loc)
        if kind == "extra_forbidden":
            field = str(loc[-1])
            parent = _model_at(root, loc[:-1])
            known = _known_fields(parent) if parent else []
            hint = difflib.get_close_matches(field, known, n=1)
            advice = f"did you mean {hint[0]!r}? " if hint else ""
            lines.append(
                f"{where}: unknown field {field!r}: {advice}remove it or check its spelling"
                + (f" (known fields here: {', '.join(known)})" if known else "")
            )
        elif kind == "missing":
            lines.append(f"{where}: required field is missing")
        elif kind in ("value_error", "assertion_error"):
            message = str(item["msg"]).removeprefix("Value error, ")
            # A rule's message already names its place; a field's message does not.
            lines.append(message if message.startswith(where) and where else f"{where}: {message}")
        elif kind == "literal_error":
            expected = item.get("ctx", {}).get("expected", "")
            lines.append(f"{where}: {item['input']!r} is not allowed: use one of {expected}")
        else:
            lines.append(f"{where}: {item['msg']} (got {item.get('input')!r})")
    return lines
