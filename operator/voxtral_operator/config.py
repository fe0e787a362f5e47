"""Operator settings, from environment variables read once at start-up (never at import).

| variable | default | meaning |
|---|---|---|
| VOXTRAL_OPERATOR_NAMESPACES | (empty: all) | comma-separated namespaces (globs allowed) to serve |
| VOXTRAL_OPERATOR_LOG_FORMAT | full | plain, full or json |
| VOXTRAL_OPERATOR_LOG_LEVEL | info | debug, info or warning |
| VOXTRAL_OPERATOR_PEERING | (empty: standalone) | kopf peering name, for several replicas (HA) |
| VOXTRAL_OPERATOR_PRIORITY | 0 | this replica's peering priority, or `random` (see below) |
| VOXTRAL_OPERATOR_METRICS_PORT | 8000 | Prometheus metrics port (0: off) |
| VOXTRAL_OPERATOR_HEALTH_ENDPOINT | (empty: off) | kopf liveness URL, http://0.0.0.0:8080/healthz |
| VOXTRAL_OPERATOR_RESYNC_SECONDS | 300 | period of the full re-check of every service (0: off) |
| VOXTRAL_OPERATOR_WAIT_SECONDS | 30 | retry delay while waiting for a Secret or a claim |
| VOXTRAL_OPERATOR_CLUSTER_DOMAIN | cluster.local | DNS domain of the endpoints in status |
| VOXTRAL_OPERATOR_EVENTS_LEVEL | warning | least log level also posted as Kubernetes Events |
| VOXTRAL_OPERATOR_OBSERVE_CLUSTER | true | follow new CRDs and namespaces (see below) |
| VOXTRAL_OPERATOR_AUTOSCALE_SECONDS | 15 | period of the operator-mode autoscaler |
| VOXTRAL_OPERATOR_SCRAPE_TIMEOUT | 2 | seconds to wait for a replica's /metrics |
| VOXTRAL_OPERATOR_REPLICA_METRICS_PORT | 0 | replicas' /metrics port (0: the pod's `http`) |
| VOXTRAL_OPERATOR_PROMETHEUS_ADDRESS | (empty) | Prometheus URL of mode keda (spec's first) |
| VOXTRAL_OPERATOR_GATEWAY | false | voxtral-gateway installed: mode operator may scale to 0 |

Under kopf peering the replica with the highest priority serves and the others wait; replicas
of EQUAL priority all pause. Replicas of one Deployment cannot be told apart by their
environment, so each draws its own with `random`: 1 to 10**9, once at start (a developer's
`kopf run --priority` above 10**9 still takes over).

REPLICA_METRICS_PORT replaces the port the operator-mode autoscaler reads each pod's /metrics
on (their podIP stays): for the tests, whose emulated pods are served on one local port.

OBSERVE_CLUSTER=true needs cluster-wide list/watch of CRDs and namespaces (a ClusterRole);
false serves exactly the namespaces named (no patterns), with namespaced Roles only.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

PREFIX: Final = "VOXTRAL_OPERATOR_"
RANDOM_PRIORITY_MAX: Final = 10**9
LogFormat = Literal["plain", "full", "json"]
LogLevel = Literal["debug", "info", "warning"]


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = ()
    log_format: LogFormat = "full"
    log_level: LogLevel = "info"
    peering: str = ""
    priority: int = 0
    metrics_port: int = 8000
    health_endpoint: str = ""
    resync_seconds: float = 300.0
    wait_seconds: float = 30.0
    cluster_domain: str = "cluster.local"
    events_level: LogLevel = "warning"
    observe_cluster: bool = True
    autoscale_seconds: float = 15.0
    scrape_timeout: float = 2.0
    replica_metrics_port: int = 0
    prometheus_address: str = ""
    gateway: bool = False
    """voxtral-gateway is installed (the chart's gateway.enabled): it holds the requests of a
    service scaled to zero and wakes it, so mode operator may scale to zero."""

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def get(name: str) -> str | None:
            value = env.get(PREFIX + name)
            return value.strip() if value is not None and value.strip() else None

        def choice(name: str, allowed: tuple[str, ...], default: str) -> str:
            value = (get(name) or default).lower()
            if value not in allowed:
                raise ConfigError(f"{PREFIX}{name}={value!r}: use one of {', '.join(allowed)}")
            return value

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{PREFIX}{name}={raw!r} is not a number") from None
            if not low <= value <= high:
                raise ConfigError(f"{PREFIX}{name}={raw} must be between {low:g} and {high:g}")
            return value

        namespaces = tuple(n.strip() for n in (get("NAMESPACES") or "").split(",") if n.strip())
        for ns in namespaces:
            if not re.fullmatch(r"[a-z0-9*?\[\]!-]+", ns):
                raise ConfigError(f"{PREFIX}NAMESPACES: {ns!r} is not a namespace name or glob")
        domain = get("CLUSTER_DOMAIN") or "cluster.local"
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", domain):
            raise ConfigError(f"{PREFIX}CLUSTER_DOMAIN={domain!r} is not a DNS domain")
        levels = ("debug", "info", "warning")
        observe = choice("OBSERVE_CLUSTER", ("true", "false"), "true") == "true"
        if not observe and any(re.search(r"[*?\[\]!]", ns) for ns in namespaces):
            raise ConfigError(
                f"{PREFIX}NAMESPACES has patterns, which need {PREFIX}OBSERVE_CLUSTER=true "
                "(kopf matches them against the namespaces it lists): name the namespaces"
            )
        prometheus = get("PROMETHEUS_ADDRESS") or ""
        if prometheus and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", prometheus):
            raise ConfigError(
                f"{PREFIX}PROMETHEUS_ADDRESS={prometheus!r} is not an http(s) URL "
                "(e.g. http://prometheus-operated.monitoring.svc:9090)"
            )
        if (get("PRIORITY") or "").lower() == "random":
            priority = 1 + secrets.randbelow(RANDOM_PRIORITY_MAX)
        else:
            priority = int(number("PRIORITY", 0, -(2**31), 2**31 - 1))
        return cls(
            namespaces=namespaces,
            log_format=choice("LOG_FORMAT", ("plain", "full", "json"), "full"),  # type: ignore[arg-type]
            log_level=choice("LOG_LEVEL", levels, "info"),  # type: ignore[arg-type]
            peering=get("PEERING") or "",
            priority=priority,
            metrics_port=int(number("METRICS_PORT", 8000, 0, 65535)),
            health_endpoint=get("HEALTH_ENDPOINT") or "",
            resync_seconds=number("RESYNC_SECONDS", 300.0, 0, 86400),
            wait_seconds=number("WAIT_SECONDS", 30.0, 0.1, 3600),
            cluster_domain=domain,
            events_level=choice("EVENTS_LEVEL", levels, "warning"),  # type: ignore[arg-type]
            observe_cluster=observe,
            autoscale_seconds=number("AUTOSCALE_SECONDS", 15.0, 0.05, 3600),
            scrape_timeout=number("SCRAPE_TIMEOUT", 2.0, 0.05, 60),
            replica_metrics_port=int(number("REPLICA_METRICS_PORT", 0, 0, 65535)),
            prometheus_address=prometheus,
            gateway=choice("GATEWAY", ("true", "false"), "false") == "true",
        )
