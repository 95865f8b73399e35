"""Fixtures for the simulator tests: one test PKI per session (keys generated at test time), a simulator over real
mutual TLS per test (own state folder), and an httpx client with the ORG AUTH_CLI certificate."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from facade.credentials import Credential
from facade.pki import TestPki, init_test_pki
from facade.simulator import SimulatorServer

from .builders import STRUCTURE_ID, RequestFactory


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return init_test_pki(tmp_path_factory.mktemp("sim-pki"), structure_id=STRUCTURE_ID)


@pytest.fixture(scope="session")
def sign_credential(pki: TestPki) -> Credential:
    return Credential.load_pem(pki.sign_cert, pki.sign_key)


@pytest.fixture(scope="session")
def auth_credential(pki: TestPki) -> Credential:
    return Credential.load_pem(pki.auth_cert, pki.auth_key)


@pytest.fixture(scope="session")
def factory(sign_credential: Credential) -> RequestFactory:
    return RequestFactory(sign_credential)


def client_context(pki: TestPki, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


@pytest.fixture()
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture()
def server(pki: TestPki, state_dir: Path) -> Iterator[SimulatorServer]:
    with SimulatorServer(state_dir, ca_cert=pki.ca_cert, server_cert=pki.server_cert, server_key=pki.server_key) as sim:
        yield sim


@pytest.fixture()
def client(pki: TestPki) -> Iterator[httpx.Client]:
    ctx = client_context(pki, pki.auth_cert, pki.auth_key)
    with httpx.Client(verify=ctx, timeout=httpx.Timeout(10.0)) as c:
        yield c
