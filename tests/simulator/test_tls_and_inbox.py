"""The simulator's listener: mutual TLS enforced at the handshake, the client certificate visible to the app, and
every request stored verbatim in STATE/inbox/<n>.http (numbering survives restarts)."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import httpx
import pytest

from facade.pki import TestPki, make_foreign_ca_client
from facade.simulator import REPOSITORY_PATH, SimulatorServer

from .builders import STRUCTURE_ID
from .conftest import client_context


def test_url_has_the_dmp_repository_shape(server: SimulatorServer) -> None:
    assert server.url == f"https://127.0.0.1:{server.port}/si-dmp-server/v2/services/repository"
    assert server.port > 0


def test_client_certificate_subject_is_seen_by_the_app(server: SimulatorServer, client: httpx.Client) -> None:
    seen = client.get(server.base_url + "/_simulator/tls").json()
    assert f"OU={STRUCTURE_ID}" in seen["client_cert_name"]
    assert seen["tls_version"] == 0x0303  # TLS 1.2: the DMP offers nothing else (spec §2.3)
    assert seen["cipher_suite"].startswith("ECDHE-RSA-")


def test_client_without_certificate_is_rejected_at_tls(server: SimulatorServer, pki: TestPki) -> None:
    with httpx.Client(verify=client_context(pki)) as anonymous, pytest.raises(httpx.ConnectError):
        anonymous.post(server.url, content=b"x")
    assert not list((server.simulator.state_dir / "inbox").iterdir())


def test_client_from_a_foreign_ca_is_rejected_at_tls(server: SimulatorServer, pki: TestPki, tmp_path: Path) -> None:
    cert, key = make_foreign_ca_client(tmp_path / "foreign")
    with httpx.Client(verify=client_context(pki, cert, key)) as foreign, pytest.raises(httpx.ConnectError):
        foreign.post(server.url, content=b"x")
    assert not list((server.simulator.state_dir / "inbox").iterdir())


def test_tls_1_3_only_client_is_refused_like_the_dmp(server: SimulatorServer, pki: TestPki) -> None:
    ctx = client_context(pki, pki.auth_cert, pki.auth_key)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw, pytest.raises(ssl.SSLError):
        ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def _raw_exchange(server: SimulatorServer, pki: TestPki, request: bytes) -> bytes:
    ctx = client_context(pki, pki.auth_cert, pki.auth_key)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(request)
            chunks = []
            while chunk := tls.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


def test_inbox_file_is_the_request_verbatim(server: SimulatorServer, pki: TestPki, client: httpx.Client) -> None:
    body = b"--b\r\nnot really MTOM \x00\xff\r\n bare LF\n--b--\r\n"
    request = (
        f"POST {REPOSITORY_PATH} HTTP/1.1\r\n".encode()
        + f"Host: 127.0.0.1:{server.port}\r\n".encode()
        + b'Content-Type: multipart/related; boundary="b"; type="application/xop+xml"\r\n'
        + b"X-Odd-CASING: Value  with  spaces\r\n"
        + f"Content-Length: {len(body)}\r\n".encode()
        + b"Connection: close\r\n\r\n"
        + body
    )
    answer = _raw_exchange(server, pki, request)
    assert answer.startswith(b"HTTP/1.1 400 ")  # malformed MTOM -> SOAP Fault Sender

    stored = (server.simulator.state_dir / "inbox" / "000001.http").read_bytes()
    assert stored == request

    listing = client.get(server.base_url + "/_simulator/requests").json()
    assert listing == [
        {"n": 1, "file": "000001.http", "size": len(request), "request_line": f"POST {REPOSITORY_PATH} HTTP/1.1"}
    ]
    raw = client.get(server.base_url + "/_simulator/requests/1")
    assert raw.status_code == 200 and raw.content == request
    assert client.get(server.base_url + "/_simulator/requests/2").status_code == 404


def test_inbox_numbering_survives_a_restart(pki: TestPki, state_dir: Path, client: httpx.Client) -> None:
    for expected in ([1, 2], [1, 2, 3]):
        with SimulatorServer(
            state_dir, ca_cert=pki.ca_cert, server_cert=pki.server_cert, server_key=pki.server_key
        ) as sim:
            client.post(sim.url, content=b"<x/>", headers={"content-type": "application/soap+xml"})
            if len(expected) == 2:
                client.post(sim.url, content=b"<y/>", headers={"content-type": "application/soap+xml"})
            numbers = [e["n"] for e in client.get(sim.base_url + "/_simulator/requests").json()]
        assert numbers == expected
    assert (state_dir / "inbox" / "000003.http").read_bytes().endswith(b"\r\n\r\n<x/>")


def test_admin_endpoints_are_not_written_to_the_inbox(server: SimulatorServer, client: httpx.Client) -> None:
    client.get(server.base_url + "/_simulator/requests")
    client.post(server.base_url + "/_simulator/script", content=json.dumps(["ok"]))
    assert client.get(server.base_url + "/_simulator/requests").json() == []
