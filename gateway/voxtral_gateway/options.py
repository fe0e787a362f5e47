"""The gateway's flags, each also an environment variable (VOXTRAL_GATEWAY_<NAME>)."""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from . import keys
from .upstreams import Upstream, parse_upstream

ENV_PREFIX = "VOXTRAL_GATEWAY_"


@dataclass(frozen=True)
class Options:
    host: str = "0.0.0.0"
    http_port: int = 8080
    grpc_port: int = 8081
    upstreams: tuple[Upstream, ...] = ()
    health_interval: float = 2.0
    max_body_mb: float = 400.0  # the predictor's upload limit (384 MiB) and the form around it
    access_log: bool = False
    kube_api: str = ""  # discovery: the API server (default: in the pod's cluster)
    namespaces: tuple[str, ...] = ()  # discovery: where to look (default: everywhere)
    api_keys_file: str = ""  # keys.py: who may call, and their audio seconds a minute
    hold_seconds: float = 300.0  # hold.py: a GPU replica's cold start, and some
    max_held: int = 100  # hold.py: requests held a service
    pod_name: str = ""  # report.py: the annotation this replica reports held requests under

    @property
    def discover(self) -> bool:
        return not self.upstreams


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name.upper(), default)


def _numeric(parser: argparse.ArgumentParser, flag: str, kind: type, help: str) -> None:
    """A number flag whose default is its env var, else the Options default: argparse
    converts either with `kind`, so a bad value names the flag (exit 2), env or not."""
    name = flag.removeprefix("--").replace("-", "_")
    default = _env(name, str(getattr(Options, name)))
    parser.add_argument(
        flag, type=kind, default=default, help=f"{help} [env {ENV_PREFIX}{name.upper()}]"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voxtral-gateway",
        description="Route OpenAI, KServe v1/v2 REST and v2 gRPC requests to the ready "
        "replicas of Voxtral services, each request to the replica with the least work.",
    )
    parser.add_argument("--host", default=_env("host", Options.host))
    _numeric(parser, "--http-port", int, "HTTP port: OpenAI, KServe REST, health, metrics")
    _numeric(parser, "--grpc-port", int, "gRPC port: KServe v2")
    parser.add_argument(
        "--upstream",
        action="append",
        default=[u for u in _env("upstreams", "").split() if u],
        metavar="NAME=HTTP_URL[|GRPC_HOST:PORT]",
        help="a replica of the service NAME (its served model name); repeat the flag for "
        "each replica (env: space-separated)",
    )
    _numeric(
        parser,
        "--health-interval",
        float,
        "seconds between readiness checks of each replica (/v2/health/ready)",
    )
    _numeric(parser, "--max-body-mb", float, "largest request body accepted (413 beyond)")
    _numeric(
        parser,
        "--hold-seconds",
        float,
        "how long a request for a service without a ready replica waits for one (scale from "
        "zero: a GPU replica's cold start); then 503",
    )
    _numeric(
        parser,
        "--max-held",
        int,
        "requests that may wait so, per service (0: none wait); beyond, 503",
    )
    parser.add_argument(
        "--access-log", choices=["true", "false"], default=_env("access_log", "false")
    )
    parser.add_argument(
        "--kube-api",
        default=_env("kube_api", ""),
        metavar="URL",
        help="without --upstream: the Kubernetes API server to find the operator's services "
        "in (default: the pod's own cluster)",
    )
    parser.add_argument(
        "--api-keys-file",
        default=_env("api_keys_file", ""),
        metavar="PATH",
        help='require API keys, from a JSON file: {"NAME": {"key": "...", '
        '"audioSecondsPerMinute": N}} (read again when it changes)',
    )
    parser.add_argument(
        "--namespace",
        action="append",
        default=[n for n in _env("namespaces", "").split() if n],
        help="without --upstream: a namespace to find services in; repeat (default: all)",
    )
    parser.add_argument(
        "--pod-name",
        default=_env("pod_name", "") or socket.gethostname(),
        help="with discovery: this replica's name in its reports of held requests (the "
        "held.gateway.voxtral.dev/<name> annotation of a VoxtralService; default: the host "
        "name, which is the pod's)",
    )
    return parser


def parse(argv: list[str] | None = None) -> Options:
    """Flags -> Options; an error names the flag and what it expects (exit 2)."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        upstreams = tuple(parse_upstream(spec) for spec in ns.upstream)
    except ValueError as exc:
        parser.error(str(exc))
    if not upstreams and not ns.kube_api and not os.environ.get("KUBERNETES_SERVICE_HOST"):
        parser.error(
            "no replica to route to: give --upstream NAME=HTTP_URL[|GRPC_HOST:PORT], or run "
            "in a cluster (or give --kube-api URL) to route to the operator's services"
        )
    for flag, value in (("--http-port", ns.http_port), ("--grpc-port", ns.grpc_port)):
        if not 0 < value < 65536:
            parser.error(f"{flag} {value}: a port is 1 to 65535")
    if ns.api_keys_file:
        try:
            keys.parse(Path(ns.api_keys_file).read_text(), f"--api-keys-file {ns.api_keys_file}")
        except (OSError, ValueError) as exc:
            parser.error(str(exc))
    if ns.hold_seconds < 0 or ns.max_held < 0:
        parser.error("--hold-seconds and --max-held must be 0 or more")
    if ns.health_interval <= 0 or ns.max_body_mb <= 0:
        parser.error("--health-interval and --max-body-mb must be positive")
    return Options(
        host=ns.host,
        http_port=ns.http_port,
        grpc_port=ns.grpc_port,
        upstreams=upstreams,
        health_interval=ns.health_interval,
        max_body_mb=ns.max_body_mb,
        access_log=ns.access_log == "true",
        kube_api=ns.kube_api,
        namespaces=tuple(ns.namespace),
        api_keys_file=ns.api_keys_file,
        hold_seconds=ns.hold_seconds,
        max_held=ns.max_held,
        pod_name=ns.pod_name,
    )
