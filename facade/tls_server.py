"""Serving an ASGI app over TLS with uvicorn so that the app sees the client certificate.

Stock uvicorn puts no TLS data in the ASGI scope (stack-notes §4). ``TlsH11Protocol`` subclasses its h11 protocol:
per connection it reads the peer certificate from the SSL object and adds to each request's scope the asgiref TLS
extension, ``scope["extensions"]["tls"]`` = {client_cert_chain: [PEM leaf] (Python's ssl gives the leaf only),
client_cert_name: RFC 4514, client_cert_error, tls_version, cipher_suite, server_cert}. Subclasses add their own
extensions in ``extend_scope`` (the DMP simulator adds its raw-request-head extension).

``server_config`` builds the uvicorn Config for the facade's front door: TLS 1.2 minimum and, with a client CA,
client certificate REQUIRED and verified against it; no uvicorn access log (the facade writes its own, without query
strings), no Server header, no proxy headers trusted.

HTTP edge cases the stock protocol leaves open (issue 14), handled per connection by ``TlsH11Protocol``:

* **header timeout**: uvicorn has none (its keep-alive timer stops at the first byte), so a client sending a header
  byte every few seconds held a connection forever. With ``FrontDoorConfig.header_timeout``, a request's headers must
  be complete within that many seconds of the connection (or of the previous response), else the connection is closed;
* **Content-Length with Transfer-Encoding** (RFC 9112 §6.1, request smuggling): 400 and the connection closed, so a
  request pipelined behind it is never served;
* the header block is bounded (``h11_max_incomplete_event_size``), idle keep-alive connections close after
  ``timeout_keep_alive``, and ``limit_concurrency`` caps connections + requests (503 beyond).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h11
from cryptography import x509
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

TLS_EXTENSION = "tls"
TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
MAX_HEADER_BYTES = 16 * 1024  # request line + headers (h11's default, stated: a header block beyond it is refused)
log = logging.getLogger("facade.http")


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The asgiref TLS extension for one verified connection."""
    der = ssl_object.getpeercert(binary_form=True)
    cipher = ssl_object.cipher()
    ext: dict[str, Any] = {
        "server_cert": None,
        "client_cert_chain": [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": cipher[0] if cipher else None,
    }
    if der:
        ext["client_cert_chain"] = [ssl.DER_cert_to_PEM_cert(der)]
        ext["client_cert_name"] = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    return ext


class FrontDoorConfig(Config):
    """uvicorn's Config plus the header timeout our protocol enforces (uvicorn has no such setting)."""

    def __init__(self, app: Any, *, header_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout = header_timeout


class TlsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus ``scope["extensions"]["tls"]`` on every request of a TLS connection, a header
    timeout (with a ``FrontDoorConfig``) and a refusal of ambiguous framing (module docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._tls: dict[str, Any] = {}
        self._inner_app = self.app
        self.app = self._with_extensions
        self._header_timeout = config.header_timeout if isinstance(config, FrontDoorConfig) else None
        self._header_timer: asyncio.TimerHandle | None = None
        self._framing_error: str | None = None
        self._next_h11_event = self.conn.next_event
        self.conn.next_event = self._checked_next_event  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        self._tls = tls_extension(ssl_object) if ssl_object is not None else {}
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._await_headers()  # before the base class serves a pipelined request (which stops the timer)
        super().on_response_complete()

    def _await_headers(self) -> None:
        self._stop_header_timer()
        if self._header_timeout is not None:
            self._header_timer = self.loop.call_later(self._header_timeout, self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            log.info("request headers not complete within %s s: connection closed", self._header_timeout)
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's 400 for a request h11 cannot frame (then the connection is closed); on the front door the body
        is an OperationOutcome like every other refusal."""
        if self._header_timeout is None:
            super().send_400_response(msg)
            return
        from facade.errors import Issue, Problem
        from facade.outcomes import FHIR_JSON, operation_outcome

        reason, self._framing_error = self._framing_error or msg, None
        body = json.dumps(operation_outcome([Issue(Problem.HTTP_FRAMING, details={"reason": reason})])).encode()
        headers = [
            (b"content-type", FHIR_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        start = h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
        for event in (start, h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()

    def _checked_next_event(self) -> Any:
        event = self._next_h11_event()
        if isinstance(event, h11.Request):
            self._stop_header_timer()
            names = {name.lower() for name, _ in event.headers}
            size = len(event.target) + sum(len(name) + len(value) + 4 for name, value in event.headers)
            if size > MAX_HEADER_BYTES:  # h11's own bound only applies while the block is still incomplete
                self._framing_error = f"the request line and headers exceed {MAX_HEADER_BYTES} bytes"
                raise h11.RemoteProtocolError(self._framing_error, 431)
            if b"content-length" in names and b"transfer-encoding" in names:
                # RFC 9112 §6.1: the body's end is ambiguous (smuggling); uvicorn answers 400 and closes the connection
                self._framing_error = "Content-Length and Transfer-Encoding together (RFC 9112 section 6.1)"
                raise h11.RemoteProtocolError(self._framing_error, 400)
        return event

    def extend_scope(self, extensions: dict[str, Any]) -> None:
        """Hook for subclasses: add more entries to ``scope["extensions"]`` (called per request)."""

    async def _with_extensions(self, scope: Any, receive: Any, send: Any) -> None:
        extensions = scope.setdefault("extensions", {})
        if self._tls:
            # a copy per request: the app must not be able to alter what the next request on this connection sees
            extensions[TLS_EXTENSION] = {**self._tls, "client_cert_chain": list(self._tls["client_cert_chain"])}
        self.extend_scope(extensions)
        await self._inner_app(scope, receive, send)


ContextFactory = Callable[[Config, Callable[[], ssl.SSLContext]], ssl.SSLContext]


def tls_context_factory(*, allow_tls13: bool = True) -> ContextFactory:
    """uvicorn ``ssl_context_factory``: uvicorn's context with TLS 1.2 minimum (and optionally 1.2 maximum)."""

    def factory(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        ctx = default()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if not allow_tls13:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    return factory


def server_config(
    app: Any,
    *,
    host: str,
    port: int,
    server_cert: Path | None = None,
    server_key: Path | None = None,
    client_ca: Path | None = None,
    server_key_password: str | None = None,
    ciphers: str | None = None,
    allow_tls13: bool = True,
    log_level: str = "info",
    timeout_keep_alive: int = 5,
    header_timeout: float | None = 10.0,
    limit_concurrency: int | None = None,
    log_config: dict[str, Any] | str | None = None,
) -> FrontDoorConfig:
    """uvicorn Config for the facade's own API.

    * ``server_cert`` + ``server_key``: HTTPS (TLS 1.2 minimum);
    * plus ``client_ca``: mutual TLS, a client certificate chaining to that CA is REQUIRED at the handshake;
    * neither: plain HTTP (development, or bearer tokens behind a TLS-terminating proxy).
    """
    if client_ca is not None and (server_cert is None or server_key is None):
        raise ValueError("mutual TLS needs the server certificate and key as well as the client CA")
    if (server_cert is None) != (server_key is None):
        raise ValueError("give both the server certificate and its key")
    tls: dict[str, Any] = {}
    if server_cert is not None and server_key is not None:
        tls = {
            "ssl_certfile": str(server_cert),
            "ssl_keyfile": str(server_key),
            "ssl_keyfile_password": server_key_password,
            "ssl_context_factory": tls_context_factory(allow_tls13=allow_tls13),
        }
        if ciphers:
            tls["ssl_ciphers"] = ciphers
        if client_ca is not None:
            tls |= {"ssl_ca_certs": str(client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return FrontDoorConfig(
        app,
        header_timeout=header_timeout,
        host=host,
        port=port,
        http=TlsH11Protocol,
        log_level=log_level,
        log_config=log_config,
        access_log=False,  # the facade's own access line (facade.logs) has no query string and carries the actor
        server_header=False,
        proxy_headers=False,  # X-Forwarded-* is not trusted unless an operator configures a proxy deliberately
        timeout_keep_alive=timeout_keep_alive,
        limit_concurrency=limit_concurrency,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        **tls,
    )
