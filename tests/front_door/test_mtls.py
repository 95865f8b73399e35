"""Mutual TLS on the facade's own API, over real TLS: uvicorn configured by facade.app.server_config (the production
path), certificates from facade.pki."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from facade.app import create_app, server_config
from facade.auth import ClientCertificatePolicy
from facade.auth.actor import AuthenticationError
from facade.errors import Problem
from facade.pki import TestPki, issue_client_certificate, make_foreign_ca_client
from facade.settings import Settings

from .conftest import STRUCTURE_ID, ServerThread, whoami_app


def _settings(tmp_path: Path, pki: TestPki, **mtls: object) -> Settings:
    return Settings(
        environment="production",
        state_dir=tmp_path / "state",
        auth={
            "mode": "mtls",
            "server_cert": pki.server_cert,
            "server_key": pki.server_key,
            "mtls": {"client_ca": pki.ca_cert, **mtls},
        },
    )


def _serve(settings: Settings) -> ServerThread:
    app: FastAPI = whoami_app(create_app(settings))
    return ServerThread(lambda port: server_config(settings, app, host="127.0.0.1", port=port))


def _client(pki: TestPki, cert: tuple[Path, Path] | None) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return httpx.Client(verify=ctx, timeout=10)


@pytest.fixture
def server(tmp_path: Path, pki: TestPki, restore_logging: None) -> Iterator[ServerThread]:
    with _serve(_settings(tmp_path, pki)) as srv:
        yield srv


def test_good_client_certificate_gets_200_and_the_actor(server: ServerThread, pki: TestPki) -> None:
    with _client(pki, (pki.auth_cert, pki.auth_key)) as client:
        r = client.get(f"https://127.0.0.1:{server.port}/fhir/_whoami")
        assert r.status_code == 200, r.text
        actor = r.json()
        assert actor["method"] == "mtls"
        assert actor["organisation"] == STRUCTURE_ID
        assert f"OU={STRUCTURE_ID}" in actor["id"] and "CN=DMP FACADE AUTH_CLI" in actor["id"]
        assert "x-request-id" in r.headers
        assert "server" not in r.headers  # no Server banner
        op = client.get(f"https://127.0.0.1:{server.port}/fhir/OperationDefinition/preview")
        assert op.status_code == 200


def test_no_client_certificate_is_rejected_at_the_handshake(server: ServerThread, pki: TestPki) -> None:
    with _client(pki, None) as client, pytest.raises((httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError)):
        client.get(f"https://127.0.0.1:{server.port}/fhir/metadata")


def test_certificate_from_a_foreign_ca_is_rejected(server: ServerThread, pki: TestPki, tmp_path: Path) -> None:
    foreign = make_foreign_ca_client(tmp_path / "foreign")
    refused = (httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError)
    with _client(pki, foreign) as client, pytest.raises(refused):
        client.get(f"https://127.0.0.1:{server.port}/fhir/_whoami")


def test_plain_http_to_the_tls_port_gets_no_answer(server: ServerThread) -> None:
    with httpx.Client(timeout=10) as client, pytest.raises(httpx.TransportError):
        client.get(f"http://127.0.0.1:{server.port}/fhir/_whoami")


def test_ou_allow_list_refuses_other_structures_with_403(
    tmp_path: Path, pki: TestPki, restore_logging: None
) -> None:
    settings = _settings(tmp_path, pki, allowed_ous=["1999999999"])
    with _serve(settings) as srv, _client(pki, (pki.auth_cert, pki.auth_key)) as client:
        r = client.get(f"https://127.0.0.1:{srv.port}/fhir/_whoami")
        assert r.status_code == 403
        body = r.json()
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == "forbidden"
        assert body["issue"][0]["details"]["coding"][0]["code"] == "auth-certificate-not-allowed"
        assert client.get(f"https://127.0.0.1:{srv.port}/fhir/metadata").status_code == 200  # public stays public


def test_subject_allow_list_accepts_a_listed_dn_written_in_any_spacing(
    tmp_path: Path, pki: TestPki, restore_logging: None
) -> None:
    from cryptography import x509

    subject = x509.load_pem_x509_certificate(pki.auth_cert.read_bytes()).subject.rfc4514_string()
    spaced = ", ".join(subject.split(","))  # "CN=..., OU=..., O=..., C=FR"
    other = issue_client_certificate(
        pki, tmp_path / "other", profile="auth", name="other", structure_id="1888888888",
        not_before=_now() - _days(1), not_after=_now() + _days(30),
    )
    settings = _settings(tmp_path, pki, allowed_subjects=[spaced])
    with _serve(settings) as srv:
        with _client(pki, (pki.auth_cert, pki.auth_key)) as client:
            assert client.get(f"https://127.0.0.1:{srv.port}/fhir/_whoami").status_code == 200
        with _client(pki, other) as client:
            assert client.get(f"https://127.0.0.1:{srv.port}/fhir/_whoami").status_code == 403


def test_mtls_mode_refuses_a_request_without_tls_data() -> None:
    """If the app were ever served without the TLS protocol (no extension in the scope), nobody gets in."""
    with pytest.raises(AuthenticationError) as refused:
        ClientCertificatePolicy().authenticate(None)
    assert refused.value.problem is Problem.AUTH_REQUIRED
    assert refused.value.http_status == 401


def test_certificate_without_client_auth_usage_is_refused(pki: TestPki) -> None:
    # the server certificate chains to the same CA but carries EKU serverAuth only
    with pytest.raises(AuthenticationError) as refused:
        ClientCertificatePolicy().authenticate({"client_cert_chain": [pki.server_cert.read_text()]})
    assert refused.value.problem is Problem.AUTH_CERTIFICATE_NOT_ALLOWED


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _days(n: int):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    return timedelta(days=n)
