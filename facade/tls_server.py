"""Serving an ASGI app over TLS with uvicorn so that the app sees the client certificate.

Stock uvicorn puts no TLS data in the ASGI scope (stack-notes §4). ``TlsH11Protocol`` subclasses its h11 protocol:
per connection it reads the peer certificate from the SSL object and adds to each request's scope the asgiref TLS
extension, ``scope["extensions"]["tls"]`` = {client_cert_chain: [PEM leaf] (Python's ssl gives the leaf only),
client_cert_name: RFC 4514, client_cert_error, tls_version, cipher_suite, server_cert}. Subclasses add their own
extensions in ``extend_scope`` (the DMP simulator adds its raw-request-head extension).

``server_config`` builds the uvicorn Config for the facade's front door: TLS 1.2 minimum and, with a client CA,
client certificate REQUIRED and verified against it; no uvicorn access log (the facade writes its own, without query
strings), no Server header, no proxy headers trusted.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

TLS_EXTENSION = "tls"
TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


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


class TlsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus ``scope["extensions"]["tls"]`` on every request of a TLS connection."""

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

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        self._tls = tls_extension(ssl_object) if ssl_object is not None else {}

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
    limit_concurrency: int | None = None,
    log_config: dict[str, Any] | str | None = None,
) -> Config:
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
    return Config(
        app,
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
        **tls,
    )
