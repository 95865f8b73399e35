"""Front-door fixtures: JWT signing keys + JWKS generated at test time, a test PKI, apps in each auth mode, a
real uvicorn server over TLS in a thread, and a log capture through the production handler."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from facade.app import create_app
from facade.logs import configure_logging
from facade.pki import TestPki, init_test_pki
from facade.settings import Settings

ISSUER = "https://idp.example.test/realms/hospital"
AUDIENCE = "https://facade.example.test/fhir"
SCOPE = "dmp.feed"
STRUCTURE_ID = "1120456789"


def whoami_app(app: FastAPI) -> FastAPI:
    """Adds a protected test route that reports request.state.actor and logs from the event loop and a thread."""
    log = logging.getLogger("facade.test")

    async def whoami(request: Request) -> JSONResponse:
        actor = request.state.actor
        log.info("in route")
        await run_in_threadpool(log.info, "in worker thread")
        return JSONResponse(
            {"method": actor.method, "id": actor.id, "organisation": actor.organisation, "scopes": sorted(actor.scopes)}
        )

    app.router.add_api_route("/fhir/_whoami", whoami, methods=["GET"])
    return app


@dataclass
class Signer:
    """An authorization server's key: signs tokens; ``jwk`` is its public JWK."""

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    alg: str
    kid: str

    @property
    def jwk(self) -> dict[str, Any]:
        algo = jwt.algorithms.RSAAlgorithm if self.alg == "RS256" else jwt.algorithms.ECAlgorithm
        data: dict[str, Any] = json.loads(algo.to_jwk(self.key.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": self.alg}

    def token(self, *, headers: dict[str, Any] | None = None, **overrides: Any) -> str:
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "dpi-cardio-01",
            "client_id": "dpi-cardio",
            "scope": f"openid {SCOPE}",
            "iat": now,
            "exp": now + timedelta(minutes=5),
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.key, algorithm=self.alg, headers={"kid": self.kid, **(headers or {})})


@pytest.fixture(scope="session")
def rsa_signer() -> Signer:
    return Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", "rsa-1")


@pytest.fixture(scope="session")
def ec_signer() -> Signer:
    return Signer(ec.generate_private_key(ec.SECP256R1()), "ES256", "ec-1")


def write_jwks(path: Path, *signers: Signer) -> Path:
    path.write_text(json.dumps({"keys": [s.jwk for s in signers]}), encoding="utf-8")
    return path


@pytest.fixture
def jwks_file(tmp_path: Path, rsa_signer: Signer, ec_signer: Signer) -> Path:
    return write_jwks(tmp_path / "jwks.json", rsa_signer, ec_signer)


@pytest.fixture
def oauth2_settings(tmp_path: Path, jwks_file: Path) -> Settings:
    # production, as deployed behind a TLS-terminating proxy
    return Settings(
        environment="production",
        state_dir=tmp_path / "state",
        auth={
            "mode": "oauth2",
            "tls_terminated_upstream": True,
            "oauth2": {"issuer": ISSUER, "audience": AUDIENCE, "jwks_file": jwks_file, "required_scopes": [SCOPE]},
        },
    )


@pytest.fixture
def oauth2_app(oauth2_settings: Settings) -> FastAPI:
    return whoami_app(create_app(oauth2_settings))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return init_test_pki(tmp_path_factory.mktemp("front-door-pki"), structure_id=STRUCTURE_ID)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """server_config/configure_logging change the root logger: put everything back after the test."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "signxml")
    loggers = {n: logging.getLogger(n) for n in names}
    saved_by_name = {n: (list(lg.handlers), lg.propagate, lg.disabled, lg.level) for n, lg in loggers.items()}
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for n, lg in loggers.items():
        lg.handlers[:], lg.propagate, lg.disabled = saved_by_name[n][:3]
        lg.setLevel(saved_by_name[n][3])


@pytest.fixture
def captured_logs(restore_logging: None) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The production handler (JSON + redaction) writing to a buffer; returns a reader of the parsed lines."""
    buffer = io.StringIO()
    configure_logging(level="DEBUG", fmt="json", stream=buffer)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]

    yield lines


class ServerThread:
    """uvicorn.Server on a pre-bound localhost socket, in a daemon thread."""

    def __init__(self, build: Callable[[int], uvicorn.Config]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        config = build(self.port)
        config.timeout_graceful_shutdown = 2
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.server.started:
            raise RuntimeError("the facade server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
