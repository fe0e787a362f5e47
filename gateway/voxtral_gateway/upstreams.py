"""Pure: replicas given on the command line, ``--upstream NAME=HTTP_URL[|GRPC_HOST:PORT]``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

NAME = re.compile(r"^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$")


@dataclass(frozen=True)
class Upstream:
    service: str  # the served model name requests use
    http: str  # base URL, no trailing slash
    grpc: str | None  # host:port, or None when the replica has no gRPC

    @property
    def key(self) -> str:
        return self.http


def parse_upstream(spec: str) -> Upstream:
    """``voxtral=http://10.0.0.7:8080|10.0.0.7:8081`` -> Upstream; ValueError says what is
    wrong and what is expected."""
    usage = "expected NAME=HTTP_URL or NAME=HTTP_URL|GRPC_HOST:PORT"
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise ValueError(f"--upstream {spec!r}: {usage}")
    if not NAME.match(name):
        raise ValueError(
            f"--upstream {spec!r}: the name {name!r} must be a served model name "
            "(lower-case letters, digits, '-', '.', '_')"
        )
    http, _, grpc = rest.partition("|")
    url = urlsplit(http)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"--upstream {spec!r}: {http!r} is not an http(s) URL; {usage}")
    if grpc:
        host, colon, port = grpc.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"--upstream {spec!r}: {grpc!r} is not HOST:PORT; {usage}")
    return Upstream(name, http.rstrip("/"), grpc or None)
