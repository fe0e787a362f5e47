"""KServe's inference protocols on the speech path: v1 ``instances``, v2 / Open Inference
Protocol tensors (REST and gRPC). Parsing is pure; running calls the same ``speech`` code
as the OpenAI routes, all inputs of a request concurrently so the engine batches them."""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import fields, speech
from .decoding import decode_audio
from .errors import ApiError
from .runtime import Runtime
from .tasks import all_or_nothing

TASKS = ("transcribe", "translate")
# request-level settings, as v1 instance keys, v2 parameters or v2 BYTES inputs
SETTINGS = (
    "task", "language", "prompt", "temperature", "max_completion_tokens",
    "response_format", "chunking",
)  # fmt: skip
V1_KEYS = ("audio", *SETTINGS)

INPUTS: list[dict[str, Any]] = [
    {"name": "audio", "datatype": "BYTES", "shape": [-1]},
    {"name": "task", "datatype": "BYTES", "shape": [-1]},
    {"name": "language", "datatype": "BYTES", "shape": [-1]},
    {"name": "prompt", "datatype": "BYTES", "shape": [-1]},
]
OUTPUTS: list[dict[str, Any]] = [
    {"name": "text", "datatype": "BYTES", "shape": [-1]},
    # only with response_format=verbose_json: each element the JSON list of segments
    {"name": "segments", "datatype": "BYTES", "shape": [-1]},
]


@dataclass
class SpeechInput:
    """One audio to transcribe or translate; ``where`` names it in error messages."""

    audio: bytes
    where: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> speech.Task:
        task = self.settings.get("task") or "transcribe"
        if task not in TASKS:
            raise ApiError(
                400,
                f"{self.where}: unknown task {task!r}: use one of {', '.join(TASKS)}",
                code="invalid_task",
                param="task",
            )
        return "translate" if task == "translate" else "transcribe"


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, code="invalid_request", param=param)


def byte_count(value: object, where: str) -> int:
    """A length the client sent (a header, binary_data_size): a whole number >= 0."""
    try:
        count = int(str(value))
    except ValueError:
        count = -1
    if count < 0:
        raise _bad(f"{where} must be a whole number of bytes >= 0, got {value!r}", where)
    return count


def _b64(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise _bad(f"{where} must be a base64 string", where)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad(f"{where} is not valid base64: {exc}", where) from exc


def _at_most(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise _bad(
            f"{count} {what} in one request: this server takes at most {limit} "
            "(--max-inputs): send them in several requests",
            what,
        )


def parse_v1(body: object, max_inputs: int) -> list[SpeechInput]:
    """``{"instances": [{"audio": {"b64": ...}, "task", "language", "prompt"}, ...]}``."""
    if not isinstance(body, Mapping):
        raise _bad(
            'the body must be a JSON object, {"instances": [...]}, sent with content-type '
            "application/json",
            "instances",
        )
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise _bad(
            'the body needs "instances": a non-empty list of '
            '{"audio": {"b64": "..."}, "task": "transcribe"}',
            "instances",
        )
    _at_most(len(instances), max_inputs, "instances")
    out = []
    for i, instance in enumerate(instances):
        where = f"instances[{i}]"
        if not isinstance(instance, dict):
            raise _bad(f"{where} must be an object", where)
        unknown = sorted(set(instance) - set(V1_KEYS))
        if unknown:
            raise _bad(
                f"{where} has unknown keys {unknown}: allowed are {', '.join(V1_KEYS)}", where
            )
        audio = instance.get("audio")
        if not isinstance(audio, dict) or "b64" not in audio:
            raise _bad(
                f'{where}.audio must be {{"b64": "<base64 of the audio file>"}}', f"{where}.audio"
            )
        settings = {k: instance[k] for k in SETTINGS if instance.get(k) is not None}
        out.append(SpeechInput(_b64(audio["b64"], f"{where}.audio.b64"), where, settings))
    return out


def parse_v2(
    inputs: Sequence[tuple[str, Sequence[Any]]], parameters: Mapping[str, Any], max_inputs: int
) -> list[SpeechInput]:
    """Open Inference Protocol: ``(name, elements)`` per input tensor. ``audio`` elements
    are file bytes (or base64 strings from JSON); the other BYTES inputs, of length N or 1,
    and the request parameters carry the settings."""
    tensors = {name: list(data) for name, data in inputs}
    unknown = sorted(set(tensors) - {i["name"] for i in INPUTS})
    if unknown:
        raise _bad(
            f"unknown inputs {unknown}: this model takes {', '.join(i['name'] for i in INPUTS)}",
            "inputs",
        )
    audios = tensors.get("audio")
    if not audios:
        raise _bad(
            'the request needs an input named "audio" (BYTES, one element per file)', "inputs"
        )
    _at_most(len(audios), max_inputs, "audio elements")
    bad_params = sorted(set(parameters) - set(SETTINGS) - {"binary_data_output"})
    if bad_params:
        raise _bad(
            f"unknown parameters {bad_params}: allowed are {', '.join(SETTINGS)}", "parameters"
        )
    out = []
    for i, element in enumerate(audios):
        where = f"audio[{i}]"
        audio = element if isinstance(element, bytes) else _b64(element, where)
        settings = {k: v for k, v in parameters.items() if k in SETTINGS and v is not None}
        for name in ("task", "language", "prompt"):
            values = tensors.get(name)
            if values:
                if len(values) not in (1, len(audios)):
                    raise _bad(
                        f"input {name!r} has {len(values)} elements: give 1 or one "
                        f"per audio ({len(audios)})",
                        name,
                    )
                value = values[i if len(values) > 1 else 0]
                if isinstance(value, bytes):
                    try:
                        value = value.decode()
                    except UnicodeDecodeError:
                        raise _bad(f"input {name!r} is not UTF-8 text", name) from None
                settings[name] = value
        out.append(SpeechInput(audio, where, settings))
    return out


def request_tensors(inputs: Sequence[Any], max_inputs: int) -> list[tuple[str, list[Any]]]:
    """``(name, elements)`` of KServe InferInputs: from ``bytes_contents``/JSON data, or
    from gRPC ``raw_input_contents`` (BYTES elements length-prefixed)."""
    out = []
    for tensor in inputs:
        raw = getattr(tensor, "_raw_data", None)
        if raw is None:
            elements = list(tensor.data or [])
        elif tensor.datatype == "BYTES":
            elements = split_bytes_tensor(raw, tensor.name, max_inputs)
        else:
            elements = [raw]
        if raw is None or tensor.datatype == "BYTES":
            _shape_holds(tensor.name, list(tensor.shape or []), len(elements))
        elif tensor.datatype == "UINT8":  # one file as raw bytes
            _shape_holds(tensor.name, list(tensor.shape or []), len(raw))
        out.append((tensor.name, elements))
    return out


def plain_parameters(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """gRPC parameters arrive as InferParameter messages: take the value they hold."""
    out = {}
    for key, value in (parameters or {}).items():
        if hasattr(value, "WhichOneof"):
            choice = value.WhichOneof("parameter_choice")
            value = getattr(value, choice) if choice else None
        out[key] = value
    return out


def split_bytes_tensor(raw: bytes, where: str, most: int) -> list[bytes]:
    """Elements of a BYTES tensor in binary form: each a 4-byte little-endian length,
    then that many bytes. More than ``most`` elements is a 400 as soon as it is seen
    (before the rest is split)."""
    out: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if len(out) == most:
            _at_most(most + 1, most, f"elements in {where} (or more)")
        if offset + 4 > len(raw):
            raise _bad(f"{where}: truncated BYTES element length at offset {offset}", where)
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise _bad(f"{where}: BYTES element of {size} bytes runs past the data", where)
        out.append(raw[offset : offset + size])
        offset += size
    return out


async def _one(model: Runtime, item: SpeechInput) -> dict[str, Any]:
    item.settings = fields.speech(item.settings, form=False)
    task = item.task
    speech.check_fields(item.settings, model.serving.languages)
    limit = speech.audio_limit(model, item.settings)
    clip = await decode_audio(item.audio, limit, item.where)
    result = await speech.run(model, task, clip, item.settings)
    assert isinstance(result, dict)
    out = {
        "text": result["text"],
        "language": item.settings.get("language"),
        "audio_seconds": round(clip.duration, 3),
    }
    if "segments" in result:
        out["segments"] = result["segments"]
    return out


async def run(model: Runtime, items: list[SpeechInput]) -> list[dict[str, Any]]:
    """Every input at once: the engine batches them. One failure cancels the others."""
    return await all_or_nothing(_one(model, item) for item in items)


def v2_outputs(results: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """Output tensors: ``text``, and ``segments`` (JSON per input) when asked for."""
    outputs = [("text", [str(r["text"]) for r in results])]
    if any("segments" in r for r in results):
        outputs.append(("segments", [json.dumps(r.get("segments", [])) for r in results]))
    return outputs


def v2_rest_tensors(
    header: Mapping[str, Any], binary: bytes, max_inputs: int
) -> tuple[list[tuple[str, list[Any]]], dict[str, Any]]:
    """The inputs and parameters of a v2 REST request: JSON ``data`` (base64 strings for
    audio), or KServe's binary tensor extension (``parameters.binary_data_size``, data
    appended after the JSON; BYTES elements length-prefixed, or one raw file as UINT8)."""
    inputs = header.get("inputs")
    if not isinstance(inputs, list):
        raise _bad('the body needs "inputs": a list of tensors', "inputs")
    tensors: list[tuple[str, list[Any]]] = []
    offset = 0
    for i, tensor in enumerate(inputs):
        name = (
            str(tensor.get("name", f"inputs[{i}]")) if isinstance(tensor, dict) else f"inputs[{i}]"
        )
        if not isinstance(tensor, dict):
            raise _bad(f"{name} must be an object", name)
        datatype = tensor.get("datatype")
        tensor_parameters = tensor.get("parameters") or {}
        if not isinstance(tensor_parameters, dict):
            raise _bad(f"{name}: 'parameters' must be an object", name)
        raw_size = tensor_parameters.get("binary_data_size")
        shape = tensor.get("shape")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise _bad(f"{name}: 'shape' must be a list of whole numbers >= 0, got {shape!r}", name)
        if raw_size is not None:
            size = byte_count(raw_size, f"{name}: binary_data_size")
            chunk = binary[offset : offset + size]
            if len(chunk) != size:
                raise _bad(f"{name}: binary_data_size {size} runs past the body", name)
            offset += size
            if datatype == "BYTES":
                elements = split_bytes_tensor(chunk, name, max_inputs)
                _shape_holds(name, shape, len(elements))
                tensors.append((name, elements))
            elif datatype == "UINT8" and name == "audio":
                _shape_holds(name, shape, len(chunk))
                tensors.append((name, [chunk]))  # one audio file as raw bytes
            else:
                raise _bad(f"{name}: binary data must be BYTES (or UINT8 for one audio)", name)
        elif isinstance(tensor.get("data"), list):
            if datatype != "BYTES":
                raise _bad(f"{name}: datatype must be BYTES, got {datatype!r}", name)
            _shape_holds(name, shape, len(tensor["data"]))
            tensors.append((name, tensor["data"]))
        else:
            raise _bad(f"{name} needs 'data' or parameters.binary_data_size", name)
    parameters = header.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise _bad("'parameters' must be an object", "parameters")
    return tensors, parameters


def _shape_holds(name: str, shape: Sequence[int], count: int) -> None:
    size = 1
    for dim in shape:
        size *= dim
    if size != count:
        raise _bad(f"{name}: shape {list(shape)} holds {size} elements, the data {count}", name)


@dataclass(frozen=True)
class Wanted:
    """The outputs a v2 request asks for (None: all), and which of them in binary."""

    names: tuple[str, ...] | None
    binary: frozenset[str]


def requested_outputs(
    requested: object, parameters: Mapping[str, Any], model_outputs: Sequence[str]
) -> Wanted:
    """A v2 request's ``outputs``: names the model has (400 otherwise), each possibly
    with ``parameters.binary_data``; the request's ``binary_data_output`` is the default."""
    every_binary = parameters.get("binary_data_output") is True
    if requested is None:
        return Wanted(None, frozenset(model_outputs) if every_binary else frozenset())
    if not isinstance(requested, list):
        raise _bad("'outputs' must be a list of {\"name\": ...}", "outputs")
    names, binary = [], set()
    for i, item in enumerate(requested):
        name = item.get("name") if isinstance(item, dict) else None
        if name not in model_outputs:
            raise _bad(
                f"outputs[{i}]: unknown output {name!r}: this model gives "
                f"{', '.join(model_outputs)}",
                "outputs",
            )
        names.append(str(name))
        own_parameters = item.get("parameters") or {}
        if not isinstance(own_parameters, dict):
            raise _bad(f"outputs[{i}]: 'parameters' must be an object", "outputs")
        own = own_parameters.get("binary_data")
        if own is True or (own is None and every_binary):
            binary.add(str(name))
    return Wanted(tuple(names), frozenset(binary))


def v2_response(
    model_name: str, request_id: str, results: list[dict[str, Any]], wanted: Wanted
) -> tuple[dict[str, Any], bytes]:
    """The JSON header of a v2 response and the binary data that follows it (empty unless
    an output is asked for in binary: BYTES elements length-prefixed)."""
    outputs, binary = [], b""
    for name, data in v2_outputs(results):
        if wanted.names is not None and name not in wanted.names:
            continue
        output: dict[str, Any] = {"name": name, "datatype": "BYTES", "shape": [len(data)]}
        if name in wanted.binary:
            raw = b"".join(struct.pack("<I", len(b)) + b for b in (s.encode() for s in data))
            output["parameters"] = {"binary_data_size": len(raw)}
            binary += raw
        else:
            output["data"] = data
        outputs.append(output)
    return {"model_name": model_name, "id": request_id, "outputs": outputs}, binary
