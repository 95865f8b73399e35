"""Deny by default at start-up: Settings refuses a production facade whose API is not authenticated."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from facade.app import build_authenticator
from facade.auth import BearerAuthenticator, CertificateAuthenticator, DevelopmentAuthenticator
from facade.pki import TestPki
from facade.settings import Settings

from .conftest import AUDIENCE, ISSUER


def test_production_without_auth_mode_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="auth.mode must be mtls or oauth2 in production"):
        Settings(environment="production", state_dir=tmp_path)


def test_mode_none_is_refused_in_production(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="only with environment=development"):
        Settings(environment="production", state_dir=tmp_path, auth={"mode": "none"})


def test_development_defaults_to_none_explicitly_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = Settings(environment="development", state_dir=tmp_path)
    assert s.auth.effective_mode(s.environment) == "none"
    with caplog.at_level("WARNING", logger="facade.auth"):
        assert isinstance(build_authenticator(s), DevelopmentAuthenticator)
    assert "authentication is OFF" in caplog.text


def test_mtls_needs_a_client_ca_and_a_server_certificate(tmp_path: Path, pki: TestPki) -> None:
    with pytest.raises(ValidationError, match="client_ca"):
        Settings(environment="production", auth={"mode": "mtls", "server_cert": pki.server_cert,
                                                 "server_key": pki.server_key})
    with pytest.raises(ValidationError, match="server_cert"):
        Settings(environment="production", auth={"mode": "mtls", "mtls": {"client_ca": pki.ca_cert}})
    with pytest.raises(ValidationError):  # FilePath: a missing file is a start-up error
        Settings(environment="production", auth={"mode": "mtls", "server_cert": pki.server_cert,
                                                 "server_key": pki.server_key,
                                                 "mtls": {"client_ca": tmp_path / "missing.pem"}})


def test_oauth2_needs_issuer_audience_keys_and_https(tmp_path: Path, jwks_file: Path) -> None:
    with pytest.raises(ValidationError, match="issuer"):
        Settings(environment="production", auth={"mode": "oauth2", "tls_terminated_upstream": True,
                                                 "oauth2": {"jwks_file": jwks_file}})
    with pytest.raises(ValidationError, match="jwks_file or auth.oauth2.public_keys"):
        Settings(environment="production", auth={"mode": "oauth2", "tls_terminated_upstream": True,
                                                 "oauth2": {"issuer": ISSUER, "audience": AUDIENCE}})
    with pytest.raises(ValidationError, match="needs HTTPS"):
        Settings(environment="production", auth={"mode": "oauth2",
                                                 "oauth2": {"issuer": ISSUER, "audience": AUDIENCE,
                                                            "jwks_file": jwks_file}})


def test_invalid_allowed_subject_dn_is_a_start_up_error(pki: TestPki) -> None:
    with pytest.raises(ValidationError, match="not an RFC 4514"):
        Settings(environment="production", auth={"mode": "mtls", "server_cert": pki.server_cert,
                                                 "server_key": pki.server_key,
                                                 "mtls": {"client_ca": pki.ca_cert, "allowed_subjects": ["no dn"]}})


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, pki: TestPki, jwks_file: Path) -> None:
    monkeypatch.setenv("FACADE_ENVIRONMENT", "production")
    monkeypatch.setenv("FACADE_AUTH__MODE", "mtls")
    monkeypatch.setenv("FACADE_AUTH__SERVER_CERT", str(pki.server_cert))
    monkeypatch.setenv("FACADE_AUTH__SERVER_KEY", str(pki.server_key))
    monkeypatch.setenv("FACADE_AUTH__MTLS__CLIENT_CA", str(pki.ca_cert))
    monkeypatch.setenv("FACADE_AUTH__MTLS__ALLOWED_SUBJECTS", "CN=A,OU=1,O=X,C=FR; CN=B, OU=2, O=Y, C=FR")
    monkeypatch.setenv("FACADE_AUTH__MTLS__ALLOWED_OUS", "1120456789,1999999999")
    monkeypatch.setenv("FACADE_AUTH__OAUTH2__REQUIRED_SCOPES", "dmp.feed dmp.read")
    monkeypatch.setenv("FACADE_AUTH__OAUTH2__ALGORITHMS", "ES256")
    monkeypatch.setenv("FACADE_LOGGING__FORMAT", "text")
    monkeypatch.setenv("FACADE_LOGGING__LEVEL", "DEBUG")
    s = Settings()
    assert s.auth.mode == "mtls"
    assert s.auth.mtls.allowed_subjects == ["CN=A,OU=1,O=X,C=FR", "CN=B, OU=2, O=Y, C=FR"]
    assert s.auth.mtls.allowed_ous == ["1120456789", "1999999999"]
    assert s.auth.oauth2.required_scopes == ["dmp.feed", "dmp.read"]
    assert s.auth.oauth2.algorithms == ["ES256"]
    assert (s.logging.format, s.logging.level) == ("text", "DEBUG")
    assert isinstance(build_authenticator(s), CertificateAuthenticator)


def test_oauth2_settings_build_a_bearer_authenticator(oauth2_settings: Settings) -> None:
    assert isinstance(build_authenticator(oauth2_settings), BearerAuthenticator)


def test_server_config_per_mode(
    tmp_path: Path, pki: TestPki, jwks_file: Path, restore_logging: None
) -> None:
    import ssl

    from facade.app import server_config
    from facade.tls_server import TlsH11Protocol

    mtls = Settings(environment="production", state_dir=tmp_path, auth={
        "mode": "mtls", "server_cert": pki.server_cert, "server_key": pki.server_key,
        "mtls": {"client_ca": pki.ca_cert}})
    c = server_config(mtls, object(), host="127.0.0.1", port=1)
    assert (c.ssl_cert_reqs, c.ssl_ca_certs, c.http) == (ssl.CERT_REQUIRED, str(pki.ca_cert), TlsH11Protocol)
    assert c.access_log is False and c.server_header is False and c.proxy_headers is False

    https_bearer = Settings(environment="production", state_dir=tmp_path, auth={
        "mode": "oauth2", "server_cert": pki.server_cert, "server_key": pki.server_key,
        "oauth2": {"issuer": ISSUER, "audience": AUDIENCE, "jwks_file": jwks_file}})
    c = server_config(https_bearer, object(), host="127.0.0.1", port=1)
    assert c.ssl_certfile == str(pki.server_cert) and c.ssl_ca_certs is None and c.ssl_cert_reqs == ssl.CERT_NONE

    dev = Settings(environment="development", state_dir=tmp_path)
    c = server_config(dev, object(), host="127.0.0.1", port=1)
    assert c.ssl_certfile is None and not c.is_ssl
