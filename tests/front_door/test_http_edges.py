"""Issue 14 items 5-7, against a real ``facade serve`` server (uvicorn + the facade's protocol) on loopback, driven
with raw sockets: headers that never finish, idle and crowded connections, Content-Length with Transfer-Encoding
(RFC 9112 §6.1) and a client that disconnects mid-body.

No timed assertion: a socket timeout is a watchdog far above the configured timeouts (a connection still open when it
fires is the defect); what is asserted is who closed the connection and what was answered."""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facade.app import create_app, server_config
from facade.logs import configure_logging
from facade.settings import Settings

from .conftest import ServerThread

WATCHDOG = 20.0  # seconds: far above the 1 s header / keep-alive timeouts configured below
HEADER_TIMEOUT = 1.0


@pytest.fixture
def log_buffer(restore_logging: None) -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def server(tmp_path: Path, log_buffer: io.StringIO) -> Iterator[ServerThread]:
    settings = Settings(environment="development", state_dir=tmp_path / "state")
    settings.input.header_timeout_seconds = HEADER_TIMEOUT
    settings.input.keep_alive_seconds = 1
    settings.input.max_connections = 16
    app = create_app(settings)
    with ServerThread(lambda port: server_config(settings, app, host="127.0.0.1", port=port)) as running:
        configure_logging(level="INFO", fmt="json", stream=log_buffer)  # server_config logged to stderr: capture
        yield running


def _connect(server: ServerThread) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=WATCHDOG)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a watchdog timeout fails the test)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"the server kept the connection open for {WATCHDOG} s; received {data[:200]!r}")
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def _responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split a byte stream of HTTP/1.1 responses (Content-Length framed) into (status, headers, body)."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        size = int(headers.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), headers, rest[:size]))
        data = rest[size:]
    return out


def _log_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------- item 5: timeouts


def test_headers_that_never_finish_are_cut_off(server: ServerThread) -> None:
    """Slowloris: one header byte at a time, never the blank line. uvicorn's keep-alive timer stops at the first
    byte, so the stock server held this connection for as long as the client kept trickling."""
    with _connect(server) as sock:
        sock.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < WATCHDOG:
            try:
                sock.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sock.settimeout(0.2)
            try:
                if sock.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except ConnectionResetError:  # closed while our last byte was on its way: the kernel answers RST
                closed = True
                break
        assert closed, "the server kept a connection whose headers never finished"


def test_a_silent_connection_is_closed(server: ServerThread) -> None:
    with _connect(server) as sock:
        assert _read_until_closed(sock) == b""


def test_a_kept_alive_connection_must_finish_the_next_headers_too(server: ServerThread) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: localhost\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first:
            first += sock.recv(65536)
        sock.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: localhost\r\n")  # the second request's headers never end
        rest = _read_until_closed(sock)
    (status, _, _), *more = _responses(first + rest)
    assert status == 200 and not more


def test_many_idle_connections_are_all_closed(server: ServerThread) -> None:
    """The tester's 300 half-open connections were never closed."""
    socks = [_connect(server) for _ in range(40)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: localhost\r\n" if i % 2 else b"GE")
        assert all(_read_until_closed(sock) == b"" for sock in socks)
    finally:
        for sock in socks:
            sock.close()


def test_connections_beyond_the_cap_are_refused_with_503(server: ServerThread) -> None:
    idle = [_connect(server) for _ in range(16)]
    try:
        for sock in idle:
            sock.sendall(b"GE")  # open, unfinished
        time.sleep(0.2)  # let the server accept them (not an assertion on time)
        with _connect(server) as sock:
            sock.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: localhost\r\n\r\n")
            ((status, headers, _),) = _responses(_read_until_closed(sock))
        assert status == 503 and headers.get("connection") == "close"
    finally:
        for sock in idle:
            sock.close()


def test_a_header_block_over_16_kib_is_refused(server: ServerThread) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        ((status, headers, body),) = _responses(_read_until_closed(sock))
    assert status == 400 and headers["connection"] == "close"
    assert json.loads(body)["resourceType"] == "OperationOutcome"


def test_a_normal_request_is_served(server: ServerThread) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        ((status, _, body),) = _responses(_read_until_closed(sock))
    assert status == 200 and json.loads(body)["resourceType"] == "CapabilityStatement"


# --------------------------------------------------------------------------- item 6: Content-Length + Transfer-Encoding


def test_content_length_with_transfer_encoding_is_400_and_closes_the_connection(server: ServerThread) -> None:
    smuggled = (
        b"POST /fhir/Bundle/$preview HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/fhir+json\r\n"
        b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /fhir/metadata HTTP/1.1\r\nHost: localhost\r\n\r\n"  # pipelined: must never be served
    )
    with _connect(server) as sock:
        sock.sendall(smuggled)
        answers = _responses(_read_until_closed(sock))
    assert len(answers) == 1, [a[0] for a in answers]
    ((status, headers, body),) = answers
    assert status == 400 and headers["connection"] == "close"
    outcome = json.loads(body)
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "http-framing"
    assert "Transfer-Encoding" in outcome["issue"][0]["details"]["text"]


# ------------------------------------------------------------------------------------ item 7: client abort mid-body


def test_a_client_disconnecting_mid_body_is_a_client_abort_not_a_500(
    server: ServerThread, log_buffer: io.StringIO
) -> None:
    with _connect(server) as sock:
        sock.sendall(
            b"POST /fhir/Bundle/$preview HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/fhir+json\r\n"
            b"Content-Length: 100000\r\n\r\n" + b'{"resourceType": "Bundle", "entry": [' * 20
        )
    deadline = time.monotonic() + WATCHDOG
    while time.monotonic() < deadline:
        access = [line for line in _log_lines(log_buffer) if line["logger"] == "facade.access"]
        if access:
            break
        time.sleep(0.05)
    lines = _log_lines(log_buffer)
    ((line,),) = ([x for x in lines if x["logger"] == "facade.access"],)
    assert line["status"] == 499 and line["path"] == "/fhir/Bundle/$preview"
    assert any("client closed the connection mid-body" in x["msg"] for x in lines)
    assert not [x for x in lines if x["level"] in ("ERROR", "CRITICAL") or "exc" in x], lines
