"""HTTP/1.1 over a plain socket, for clients that misbehave on purpose (stall mid-body,
send a chunked body without end): no HTTP library lets a test do that."""

from __future__ import annotations

import json
import select
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def connect(base: str, path: str, headers: dict[str, str], body: bytes = b"") -> socket.socket:
    """Open a connection and send the request line, ``headers`` and ``body`` (however much
    of the body the test chooses to send: the rest never comes)."""
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    lines = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return sock


def readable(sock: socket.socket, timeout: float = 0.0) -> bool:
    return bool(select.select([sock], [], [], timeout)[0])


def read_response(sock: socket.socket, timeout: float = 30) -> Response:
    """The response the server sent (read to its Content-Length, or to the close)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Response(int(status_line.split()[1]), headers, body)


def multipart_head(boundary: str, filename: str = "a.wav") -> bytes:
    """The start of a transcription form: the model field, then the file's part header."""
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nvoxtral\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
