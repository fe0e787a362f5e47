"""The API adapter's client set-up from kopf's credentials; client certificates against a
real TLS server that demands one."""

from __future__ import annotations

import httpx
import kopf
import pytest
from tls_server import tls_server

from voxtral_operator.cluster.kube import RESOURCES, client_for


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


@pytest.mark.parametrize("insecure", [False, True])
async def test_a_client_certificate_is_presented_with_or_without_server_checks(
    insecure: bool,
) -> None:
    """From kubeconfig data (no files): checked against the CA, or, with insecure-skip-tls-
    verify, not checked, and the certificate presented either way."""
    async with tls_server() as server:
        info = kopf.ConnectionInfo(
            server=server.url,
            ca_data=None if insecure else server.ca.cert,
            insecure=insecure,
            certificate_data=server.client.cert,
            private_key_data=server.client.key,
        )
        client = client_for(info)
        try:
            reply = await client.get("/api")
        finally:
            await client.aclose()
        assert reply.status_code == 200 and reply.text == "system:voxtral-operator"
        # without the certificate the server refuses the handshake: the check is real
        anonymous = client_for(kopf.ConnectionInfo(server=server.url, ca_data=server.ca.cert))
        try:
            with pytest.raises(httpx.HTTPError):
                await anonymous.get("/api")
        finally:
            await anonymous.aclose()
