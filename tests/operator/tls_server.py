"""A local HTTPS server that demands a client certificate, with a throwaway CA: enough of
an API server's TLS for the adapter's client set-up to be tested for real."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Pem:
    cert: bytes
    key: bytes


def _issue(name: str, issuer: Pem | None, server: bool) -> Pem:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    if issuer is None:
        signer, issuer_name = key, subject
    else:
        signer_key = serialization.load_pem_private_key(issuer.key, None)
        assert isinstance(signer_key, ec.EllipticCurvePrivateKey)
        signer = signer_key
        issuer_name = x509.load_pem_x509_certificate(issuer.cert).subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    cert = builder.sign(signer, hashes.SHA256())
    return Pem(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@dataclass(frozen=True)
class TlsServer:
    url: str
    ca: Pem
    client: Pem


@asynccontextmanager
async def tls_server() -> AsyncIterator[TlsServer]:
    """Answers 200 with the client certificate's common name, and refuses the handshake
    of a client that presents none."""
    ca = _issue("test-ca", None, server=False)
    server_pem = _issue("localhost", ca, server=True)
    client_pem = _issue("system:voxtral-operator", ca, server=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca.cert.decode())
    context.verify_mode = ssl.CERT_REQUIRED
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp, "server.pem"), Path(tmp, "server.key")
        cert.write_bytes(server_pem.cert)
        key.write_bytes(server_pem.key)
        context.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        name = next((v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"), "")
        await reader.readuntil(b"\r\n\r\n")
        body = name.encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "localhost", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield TlsServer(f"https://localhost:{port}", ca, client_pem)
    finally:
        server.close()
