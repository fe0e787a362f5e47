"""Pure: which service (served model name) a request names. KServe v1/v2 paths carry it;
OpenAI requests carry it in the `model` field of their JSON or multipart body; KServe v2
gRPC requests in field 1 (`model_name` / `name`) of the message, read from the wire format
without the proto classes."""

from __future__ import annotations

import json
import re

# KServe v1 (/v1/models/NAME[:predict]) and v2 (/v2/models/NAME[/infer|/ready|...])
KSERVE_PATH = re.compile(r"^/v[12]/models/([^/:]+)")
OPENAI_PREFIXES = ("/v1/", "/openai/v1/")


class NoModel(Exception):
    """The request names no model and more than one is served."""


def is_openai(path: str) -> bool:
    return path.startswith(OPENAI_PREFIXES) and not path.startswith("/v1/models/")


def from_path(path: str) -> str | None:
    match = KSERVE_PATH.match(path)
    return match.group(1) if match else None


def from_body(content_type: str, body: bytes) -> str | None:
    """The `model` field of an OpenAI request body (JSON or multipart), or None."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            value = json.loads(body).get("model")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None
    if kind == "multipart/form-data":
        boundary = _param(content_type, "boundary")
        return _form_field(body, boundary, "model") if boundary else None
    return None


def _param(header: str, name: str) -> str | None:
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == name:
            return value.strip('"')
    return None


def _form_field(body: bytes, boundary: str, name: str) -> str | None:
    """A small text field of a multipart body, found by its part header."""
    mark = f'name="{name}"'.encode()
    delimiter = b"--" + boundary.encode()
    at = 0
    while (at := body.find(delimiter, at)) != -1:
        head_end = body.find(b"\r\n\r\n", at)
        if head_end == -1:
            return None
        head = body[at:head_end]
        at = head_end + 4
        if mark in head and b"filename=" not in head:
            end = body.find(b"\r\n" + delimiter, at)
            return body[at:end].decode("utf-8", "replace").strip() if end != -1 else None
    return None


def from_grpc_message(message: bytes) -> str | None:
    """Field 1 (length-delimited) of a protobuf message: `model_name` of ModelInferRequest,
    `name` of ModelReadyRequest and ModelMetadataRequest; None when absent or malformed."""
    try:
        return _field_one(message)
    except (ValueError, IndexError):
        return None


def _field_one(message: bytes) -> str | None:
    at = 0
    while at < len(message):
        key, at = _varint(message, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, at = _varint(message, at)
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        elif wire == 2:
            size, at = _varint(message, at)
            if number == 1:
                return message[at : at + size].decode("utf-8", "replace")
            at += size
        else:
            return None
    return None


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data):
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
    raise ValueError("truncated protobuf varint")
