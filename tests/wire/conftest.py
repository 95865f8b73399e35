"""Fixtures for the wire tests: test PKIs (facade/pki.py), a real mutual-TLS uvicorn server and a raw TLS server
that drops requests, both in threads; a VIHF-shaped assertion signed with signxml."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from lxml import etree

from facade.credentials import Credential, client_ssl_context
from facade.pki import TestPki, init_test_pki, make_foreign_ca_client
from facade.soap.envelope import build_response
from facade.soap.registry_response import RegistryResponse

STRUCTURE_ID = "10B0127189"


@pytest.fixture(scope="session")
def wire_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return init_test_pki(tmp_path_factory.mktemp("wire-pki"), structure_id=STRUCTURE_ID)


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """A second, unrelated CA (its server certificate must not be trusted by a client of wire_pki)."""
    return init_test_pki(tmp_path_factory.mktemp("other-pki"), structure_id="1999999999")


@pytest.fixture(scope="session")
def foreign_client(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_foreign_ca_client(tmp_path_factory.mktemp("foreign"))


TLS_MAX = {"tls1.2": ssl.TLSVersion.TLSv1_2, "tls1.3": ssl.TLSVersion.TLSv1_3}


@pytest.fixture(params=sorted(TLS_MAX))
def tls_max(request: pytest.FixtureRequest) -> ssl.TLSVersion:
    """Run a test with the client capped at TLS 1.2 (the DMP setting) and allowed TLS 1.3 (different failure shape)."""
    return TLS_MAX[request.param]


def client_context(
    pki: TestPki,
    *,
    maximum: ssl.TLSVersion | None = ssl.TLSVersion.TLSv1_2,
    cert: tuple[Path, Path] | None | str = "auth",
    trust: Path | None = None,
) -> ssl.SSLContext:
    """The production client context (facade.credentials.client_ssl_context), or one without a client cert."""
    ca = trust or pki.ca_cert
    if cert is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if maximum is not None:
            ctx.maximum_version = maximum
        ctx.load_verify_locations(cafile=str(ca))
        return ctx
    cert_path, key_path = (pki.auth_cert, pki.auth_key) if cert == "auth" else cert  # type: ignore[misc]
    credential = Credential.load_pem(cert_path, key_path)
    return client_ssl_context(credential, ca, maximum_version=maximum)


# --------------------------------------------------------------------------------------- uvicorn mTLS server


def ok_response(body: bytes) -> tuple[int, str, bytes]:
    answer = build_response(
        RegistryResponse.success(), relates_to=None, message_id="urn:uuid:00000000-0000-0000-0000-000000000001"
    )
    return 200, "application/soap+xml; charset=UTF-8", answer


@dataclass
class Received:
    body: bytes
    content_type: str
    client_port: int


@dataclass
class MtlsServer:
    url: str
    port: int
    received: list[Received] = field(default_factory=list)
    handler: Callable[[bytes], tuple[int, str, bytes]] = ok_response
    delay: float = 0.0


def _asgi_app(state: MtlsServer) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = dict(scope["headers"])
        state.received.append(Received(body, headers.get(b"content-type", b"").decode(), scope["client"][1]))
        if state.delay:
            await asyncio.sleep(state.delay)
        status, content_type, payload = state.handler(body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return app


def _serve(pki: TestPki) -> Iterator[MtlsServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    state = MtlsServer(url=f"https://localhost:{port}/si-dmp-server/v2/services/repository", port=port)
    config = uvicorn.Config(
        _asgi_app(state),
        log_level="critical",
        lifespan="off",
        ssl_certfile=str(pki.server_cert),
        ssl_keyfile=str(pki.server_key),
        ssl_ca_certs=str(pki.ca_cert),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield state
    finally:
        server.should_exit = True
        server.force_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def mtls_server(wire_pki: TestPki) -> Iterator[MtlsServer]:
    yield from _serve(wire_pki)


@pytest.fixture
def untrusted_server(other_pki: TestPki) -> Iterator[MtlsServer]:
    """An mTLS server whose certificate comes from another CA."""
    yield from _serve(other_pki)


# ------------------------------------------------------------------------ raw TLS server that drops requests


@dataclass
class DroppingServer:
    url: str
    requests_read: int = 0


@pytest.fixture
def dropping_server(wire_pki: TestPki) -> Iterator[DroppingServer]:
    """Accepts our client certificate, reads the whole request, then closes the connection without answering."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(wire_pki.server_cert), str(wire_pki.server_key))
    ctx.load_verify_locations(cafile=str(wire_pki.ca_cert))
    ctx.verify_mode = ssl.CERT_REQUIRED
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    state = DroppingServer(url=f"https://localhost:{port}/repository")
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(10)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = tls.recv(65536)
                    if not chunk:
                        return  # a probe connection: the client closed it
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(rest) < length:
                    rest += tls.recv(65536)
                state.requests_read += 1
                # drop: close without a response
        except (OSError, ssl.SSLError):
            pass

    def accept_loop() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@pytest.fixture
def closed_port() -> int:
    """A local port nobody listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------- signed assertion


def assertion_template(assertion_id: str = "_a1b2c3") -> etree._Element:
    """A VIHF-shaped SAML assertion with the signature placeholder after Issuer (stack-notes §3)."""
    xs = 'xmlns:xs="http://www.w3.org/2001/XMLSchema" xsi:type="xs:string"'
    xml = (
        '<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        f' ID="{assertion_id}" IssueInstant="2026-01-01T10:00:00.000Z" Version="2.0">'
        '<saml2:Issuer Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName">CN=TEST</saml2:Issuer>'
        '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="placeholder"/>'
        "<saml2:Subject><saml2:NameID>899900063480</saml2:NameID></saml2:Subject>\n  <saml2:AttributeStatement>\n"
        f'    <saml2:Attribute Name="VIHF_Version"><saml2:AttributeValue {xs}>3.0</saml2:AttributeValue>'
        "</saml2:Attribute>\n"
        f'    <saml2:Attribute Name="Identifiant_Structure"><saml2:AttributeValue {xs}>{STRUCTURE_ID}'
        "</saml2:AttributeValue></saml2:Attribute>\n  </saml2:AttributeStatement>\n</saml2:Assertion>"
    )
    return etree.fromstring(xml.encode())


@pytest.fixture(scope="session")
def signed_assertion(wire_pki: TestPki) -> etree._Element:
    from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner, methods

    signer = XMLSigner(
        method=methods.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    root = assertion_template()
    signed: etree._Element = signer.sign(
        root,
        key=wire_pki.sign_key.read_bytes(),
        cert=wire_pki.sign_cert.read_bytes().decode(),
        reference_uri="#" + root.get("ID", ""),
    )
    return signed
