"""Issue 14 item 4: the request bodies in progress at once are bounded by a budget (a 19 MB bundle cost ≈ 213 MB per
concurrent request; twelve at once took 2.6 GB). Beyond it: 503, ``Retry-After``, an OperationOutcome, the connection
closed; below it again once a request finishes. Real server on loopback, raw sockets holding bodies half-sent."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facade.api.budget import BytesInFlight, InFlightBudgetMiddleware
from facade.app import create_app, server_config
from facade.settings import Settings

from .conftest import ServerThread
from .test_http_edges import WATCHDOG, _read_until_closed, _responses

MIB = 1024 * 1024
HEAD = b"POST /fhir/Bundle/$preview HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/fhir+json\r\n"


def _budget_of(app: Any) -> BytesInFlight:
    layer = app.middleware_stack
    while not isinstance(layer, InFlightBudgetMiddleware):
        layer = layer.app
    return layer.budget


@pytest.fixture
def served(tmp_path: Path, restore_logging: None) -> Iterator[tuple[ServerThread, Any]]:
    settings = Settings(environment="development", state_dir=tmp_path / "state")
    settings.input.max_body_bytes = MIB
    settings.input.max_bytes_in_flight = 2 * MIB
    app = create_app(settings)
    with ServerThread(lambda port: server_config(settings, app, host="127.0.0.1", port=port)) as running:
        yield running, app


def _wait_for(condition: Any) -> None:
    deadline = time.monotonic() + WATCHDOG
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("the server never reached the expected state")
        time.sleep(0.02)


def _open(server: ServerThread, head: bytes, body: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WATCHDOG)
    sock.sendall(head + body)
    return sock


def _busy(answer: tuple[int, dict[str, str], bytes]) -> None:
    status, headers, body = answer
    assert status == 503, (status, body[:300])
    assert headers["retry-after"] == "2" and headers["connection"] == "close"
    issue = json.loads(body)["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "server-busy" and issue["code"] == "transient"


def test_bodies_past_the_budget_get_503_until_one_finishes(served: tuple[ServerThread, Any]) -> None:
    server, app = served
    declared = HEAD + f"Content-Length: {MIB}\r\n\r\n".encode()
    first = _open(server, declared, b"{" * 1000)  # half-sent: held in flight
    second = _open(server, declared, b"{" * 1000)
    _wait_for(lambda: _budget_of(app).used == 2 * MIB)
    with _open(server, declared, b"{" * 1000) as third:  # refused before its body is read
        (answer,) = _responses(_read_until_closed(third))
    _busy(answer)

    first.sendall(b"{" * (MIB - 1000))  # finishing a request gives its bytes back (its answer: not JSON, 400)
    (done,) = _responses(_read_until_closed_or_answer(first))
    assert done[0] == 400
    _wait_for(lambda: _budget_of(app).used == MIB)
    with _open(server, declared, b"{" * MIB) as fourth:
        (admitted,) = _responses(_read_until_closed_or_answer(fourth))
    assert admitted[0] == 400  # read and refused as not JSON: admitted this time
    second.close()
    first.close()
    _wait_for(lambda: _budget_of(app).used == 0)


def test_chunked_bodies_are_counted_as_they_arrive(served: tuple[ServerThread, Any]) -> None:
    server, app = served
    declared = HEAD + f"Content-Length: {MIB}\r\n\r\n".encode()
    held = _open(server, declared, b"{" * 10)
    _wait_for(lambda: _budget_of(app).used == MIB)
    chunk = b"{" * (MIB // 2 + 1)
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    with _open(server, HEAD + b"Transfer-Encoding: chunked\r\n\r\n", body) as chunked:
        (answer,) = _responses(_read_until_closed(chunked))
    _busy(answer)
    held.close()
    _wait_for(lambda: _budget_of(app).used == 0)


def test_a_declared_size_over_the_body_limit_is_still_413(served: tuple[ServerThread, Any]) -> None:
    server, _ = served
    with _open(server, HEAD + f"Content-Length: {50 * MIB}\r\nConnection: close\r\n\r\n".encode(), b"") as sock:
        (answer,) = _responses(_read_until_closed(sock))
    assert answer[0] == 413


def _read_until_closed_or_answer(sock: socket.socket) -> bytes:
    """One complete Content-Length framed answer (the connection may stay open)."""
    data = b""
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            if len(rest) >= length:
                return data
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
