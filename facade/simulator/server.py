"""Serving the simulator over mutual TLS with uvicorn: in a thread (``SimulatorServer``, tests) or blocking
(``run_simulator`` / ``serve_simulator``, the ``facade simulator`` command).

Stock uvicorn does not expose the client certificate (stack-notes §4), so ``MtlsH11Protocol`` subclasses its h11
protocol: per connection it reads the peer certificate from the SSL object and adds to each request's scope the
asgiref TLS extension (``scope["extensions"]["tls"]``: client_cert_chain [PEM], client_cert_name RFC 4514,
tls_version, cipher_suite) plus the simulator's own connection extension (the request head as received, for the
verbatim inbox, and ``drop()`` to close the connection without answering).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import h11
import uvicorn
from uvicorn.config import Config
from uvicorn.server import ServerState

from facade.ids import system_now
from facade.simulator.app import CONNECTION_EXTENSION, Simulator, SimulatorApp, create_simulator_app
from facade.simulator.config import REPOSITORY_PATH, SimulatorConfig
from facade.simulator.script import Script
from facade.tls_server import TlsH11Protocol

log = logging.getLogger("facade.simulator")

DEFAULT_PORT = 8443
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


class _RecordingConnection(h11.Connection):
    """Remembers the last request head as received (original header-name casing), for the verbatim inbox."""

    last_request: h11.Request | None = None

    def next_event(self) -> Any:
        event = super().next_event()
        if isinstance(event, h11.Request):
            self.last_request = event
        return event


class MtlsH11Protocol(TlsH11Protocol):
    """The shared TLS-extension protocol (facade.tls_server) plus the simulator's connection extension."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.conn = _RecordingConnection(h11.SERVER, self.conn._max_incomplete_event_size)

    def shutdown(self) -> None:
        super().shutdown()
        # an idle keep-alive TLS connection would otherwise wait for the peer's close_notify (up to 30 s) and
        # outlive the server's event loop; the simulator just cuts it
        if self.transport.is_closing():
            self.transport.abort()

    def _drop(self) -> None:
        # mark the cycle disconnected first so uvicorn does not answer 500 once the app returns
        if self.cycle is not None:
            self.cycle.disconnected = True
        self.transport.abort()

    def extend_scope(self, extensions: dict[str, Any]) -> None:
        event = self.conn.last_request if isinstance(self.conn, _RecordingConnection) else None
        head = None
        if event is not None:
            head = (
                event.method.decode("ascii"),
                event.target.decode("latin-1"),
                event.http_version.decode("ascii"),
                list(event.headers.raw_items()),
            )
        extensions[CONNECTION_EXTENSION] = {"request_head": head, "drop": self._drop}


class CertificateFiles(Protocol):
    """What the server needs from a PKI directory (``facade.pki.TestPki`` fits)."""

    @property
    def ca_cert(self) -> Path: ...
    @property
    def server_cert(self) -> Path: ...
    @property
    def server_key(self) -> Path: ...


def _uvicorn_config(
    app: SimulatorApp,
    *,
    host: str,
    port: int,
    ca_cert: Path,
    server_cert: Path,
    server_key: Path,
    sim_config: SimulatorConfig,
    sock: socket.socket | None = None,
    log_level: str = "warning",
) -> Config:
    def ssl_factory(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        ctx = default()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if not sim_config.tls13:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # the DMP speaks TLS 1.2 only (spec §2.3)
        return ctx

    return Config(
        app,
        host=host,
        port=port,
        http=MtlsH11Protocol,
        ssl_certfile=str(server_cert),
        ssl_keyfile=str(server_key),
        ssl_ca_certs=str(ca_cert),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        ssl_ciphers=sim_config.tls12_ciphers,
        ssl_context_factory=ssl_factory,
        lifespan="off",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
    )


class SimulatorServer:
    """The simulator on a free (or given) port, over mutual TLS, in a background thread::

    with SimulatorServer(state, ca_cert=pki.ca_cert, server_cert=pki.server_cert,
                         server_key=pki.server_key) as sim:
        sim.url          # https://127.0.0.1:<port>/si-dmp-server/v2/services/repository
        sim.script.set(["busy", "ok"])
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        ca_cert: Path,
        server_cert: Path,
        server_key: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime] = system_now,
        config: SimulatorConfig | None = None,
        **app_options: Any,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.app = create_simulator_app(state_dir, ca_cert=ca_cert, clock=clock, config=self.config, **app_options)
        self.host = host
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only when the listener says TCP
        # (proto 0 leaves Nagle on: a response written in two parts can wait ~40 ms for a delayed ACK)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        uv_config = _uvicorn_config(
            self.app,
            host=host,
            port=self.port,
            ca_cert=ca_cert,
            server_cert=server_cert,
            server_key=server_key,
            sim_config=self.config,
        )
        self._server = uvicorn.Server(uv_config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The ITI-41 endpoint (the DMP's ``repository`` service URL shape)."""
        return self.base_url + REPOSITORY_PATH

    @property
    def simulator(self) -> Simulator:
        """Inbox, registry, script and config of the running simulator."""
        return self.app.simulator

    @property
    def script(self) -> Script:
        return self.app.simulator.script

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"dmp-simulator-{self.port}", daemon=True
        )
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            time.sleep(0.01)
        if not self._server.started:
            raise RuntimeError("the DMP simulator did not start (see the uvicorn log)")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._sock.close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run_simulator(
    state_dir: Path,
    *,
    ca_cert: Path,
    server_cert: Path,
    server_key: Path,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    config: SimulatorConfig | None = None,
    log_level: str = "info",
    **app_options: Any,
) -> None:
    """Blocking: serve until interrupted (``facade simulator --pki DIR --state DIR [--port P]``)."""
    sim_config = config or SimulatorConfig()
    app = create_simulator_app(state_dir, ca_cert=ca_cert, config=sim_config, **app_options)
    uv_config = _uvicorn_config(
        app,
        host=host,
        port=port,
        ca_cert=ca_cert,
        server_cert=server_cert,
        server_key=server_key,
        sim_config=sim_config,
        log_level=log_level,
    )
    log.info("DMP simulator on https://%s:%s%s (state %s)", host, port, REPOSITORY_PATH, state_dir)
    uvicorn.Server(uv_config).run()


def serve_simulator(
    state_dir: Path, pki: CertificateFiles, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, **options: Any
) -> None:
    """``run_simulator`` with the CA, server certificate and key of a PKI directory (e.g. ``TestPki``)."""
    run_simulator(
        state_dir,
        ca_cert=pki.ca_cert,
        server_cert=pki.server_cert,
        server_key=pki.server_key,
        host=host,
        port=port,
        **options,
    )
