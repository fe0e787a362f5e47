"""The API adapter's client set-up from kopf's credentials (no server needed for these)."""

from __future__ import annotations

import kopf

from voxtral_operator.kube import RESOURCES, client_for


async def test_a_token_becomes_a_bearer_header() -> None:
    client = client_for(
        kopf.ConnectionInfo(server="https://10.0.0.1:6443", token="abc", insecure=True)
    )
    try:
        assert client.headers["Authorization"] == "Bearer abc"
        assert str(client.base_url) == "https://10.0.0.1:6443"
        assert client.headers["User-Agent"].startswith("voxtral-operator/")
    finally:
        await client.aclose()


async def test_basic_auth_when_no_token() -> None:
    client = client_for(
        kopf.ConnectionInfo(server="http://127.0.0.1:1", username="u", password="p")
    )
    try:
        assert "Authorization" not in client.headers
        assert client.auth is not None
    finally:
        await client.aclose()


def test_paths_of_core_and_group_resources() -> None:
    assert RESOURCES["Service"].path("ns", "svc") == "/api/v1/namespaces/ns/services/svc"
    assert RESOURCES["Deployment"].path("ns") == "/apis/apps/v1/namespaces/ns/deployments"
    assert RESOURCES["VoxtralService"].path("ns", "v", "status") == (
        "/apis/voxtral.dev/v1alpha1/namespaces/ns/voxtralservices/v/status"
    )
