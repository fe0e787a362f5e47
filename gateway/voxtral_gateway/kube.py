"""Reads from the Kubernetes API: list, then watch from the list's resourceVersion, again
after the watch ends (the server closes watches after minutes) and from a fresh list after
410 Gone (the resourceVersion is too old; k8s.io/apiserver's watch cache). In a pod: the
ServiceAccount's token (re-read on each request: projected tokens rotate) and CA."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
RETRY_SECONDS = 2.0
WATCH_SECONDS = 300  # timeoutSeconds of each watch

Object = dict[str, Any]


class Gone(Exception):
    """410: the watch's resourceVersion is no longer served; list again."""


@dataclass(frozen=True)
class Kube:
    server: str
    token_file: Path | None = None
    ca_file: Path | None = None

    @classmethod
    def in_cluster(cls) -> Kube:
        host, port = (
            os.environ.get("KUBERNETES_SERVICE_HOST"),
            os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
        )
        if not host:
            raise RuntimeError(
                "not in a pod (KUBERNETES_SERVICE_HOST unset): give --kube-api URL, or "
                "--upstream NAME=HTTP_URL for replicas outside a cluster"
            )
        host = f"[{host}]" if ":" in host else host
        return cls(f"https://{host}:{port}", SERVICE_ACCOUNT / "token", SERVICE_ACCOUNT / "ca.crt")

    def client(self) -> httpx.AsyncClient:
        verify: Any = str(self.ca_file) if self.ca_file and self.ca_file.exists() else True
        return httpx.AsyncClient(
            base_url=self.server,
            verify=verify,
            timeout=httpx.Timeout(10.0, read=WATCH_SECONDS + 30.0),
            headers={"User-Agent": "voxtral-gateway"},
        )

    def headers(self) -> dict[str, str]:
        if self.token_file and self.token_file.exists():
            return {"Authorization": f"Bearer {self.token_file.read_text().strip()}"}
        return {}


async def follow(
    kube: Kube,
    client: httpx.AsyncClient,
    path: str,
    selector: str,
    reset: Callable[[list[Object]], None],
    change: Callable[[str, Object], None],
) -> None:
    """Keep ``reset`` (the whole list) and ``change`` (ADDED, MODIFIED, DELETED) informed of
    the objects at ``path`` that match ``selector``; forever."""
    while True:
        try:
            version = await _list(kube, client, path, selector, reset)
            while True:
                version = await _watch(kube, client, path, selector, version, change)
        except Gone:
            continue
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("%s: %s; again in %.0f s", path, exc, RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)


async def _list(
    kube: Kube,
    client: httpx.AsyncClient,
    path: str,
    selector: str,
    reset: Callable[[list[Object]], None],
) -> str:
    response = await client.get(path, params={"labelSelector": selector}, headers=kube.headers())
    response.raise_for_status()
    body = response.json()
    reset(list(body.get("items") or []))
    return str(body["metadata"]["resourceVersion"])


async def _watch(
    kube: Kube,
    client: httpx.AsyncClient,
    path: str,
    selector: str,
    version: str,
    change: Callable[[str, Object], None],
) -> str:
    params = {
        "labelSelector": selector,
        "watch": "true",
        "resourceVersion": version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(WATCH_SECONDS),
    }
    async with client.stream("GET", path, params=params, headers=kube.headers()) as response:
        if response.status_code == 410:
            raise Gone()
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.strip():
                continue
            event = json.loads(line)
            kind, obj = event["type"], event["object"]
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise Gone()
                raise ValueError(f"watch error: {obj.get('message')}")
            version = str(obj.get("metadata", {}).get("resourceVersion") or version)
            if kind != "BOOKMARK":
                change(kind, obj)
    return version
