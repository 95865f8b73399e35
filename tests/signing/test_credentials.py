from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from facade.credentials import (
    DMP_TLS12_CIPHERS,
    Credential,
    check_client_auth_credential,
    check_signing_credential,
    client_ssl_context,
    days_to_expiry,
    load_pem,
    load_pkcs12,
    signing_usage_problem,
)
from facade.errors import Problem, SecurityError
from facade.pki import TestPki, issue_client_certificate, make_expired_certificate, make_foreign_ca_client

NOW = datetime.now(UTC)


def _problems(exc: SecurityError) -> list[Problem]:
    return [i.problem for i in exc.issues]


# --- loading ---


def test_load_pkcs12_from_file_and_bytes(pki: TestPki) -> None:
    c = load_pkcs12(pki.sign_p12, pki.p12_password())
    assert c.certificate == x509.load_pem_x509_certificate(pki.sign_cert.read_bytes())
    assert [ca.subject for ca in c.chain] == [x509.load_pem_x509_certificate(pki.ca_cert.read_bytes()).subject]
    assert c.source == str(pki.sign_p12)
    from_bytes = Credential.load_pkcs12(pki.sign_p12.read_bytes(), pki.p12_password(), source="FACADE_SIGN_P12")
    assert from_bytes.certificate == c.certificate and from_bytes.source == "FACADE_SIGN_P12"


@pytest.mark.parametrize("password", [None, b"not the password"])
def test_pkcs12_wrong_password_names_the_file(pki: TestPki, password: bytes | None) -> None:
    with pytest.raises(SecurityError) as err:
        load_pkcs12(pki.auth_p12, password)
    assert _problems(err.value) == [Problem.CREDENTIAL_UNREADABLE]
    assert str(pki.auth_p12) in str(err.value)
    assert pki.p12_password().decode() not in str(err.value)


def test_load_pem_plain_and_encrypted(pki: TestPki, tmp_path: Path) -> None:
    c = load_pem(pki.auth_cert, pki.auth_key)
    assert c.certificate == x509.load_pem_x509_certificate(pki.auth_cert.read_bytes())
    encrypted = c.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"s3cret")
    )
    (tmp_path / "enc.key").write_bytes(encrypted)
    assert load_pem(pki.auth_cert, tmp_path / "enc.key", b"s3cret").certificate == c.certificate
    for password in (None, b"wrong"):
        with pytest.raises(SecurityError) as err:
            load_pem(pki.auth_cert, tmp_path / "enc.key", password)
        assert _problems(err.value) == [Problem.CREDENTIAL_UNREADABLE]
    # certificate file with the chain after the leaf, given as bytes
    chained = Credential.load_pem(pki.auth_cert.read_bytes() + pki.ca_cert.read_bytes(), pki.auth_key.read_bytes())
    assert len(chained.chain) == 1 and chained.source == "<bytes>"


def test_unreadable_inputs(pki: TestPki, tmp_path: Path) -> None:
    (tmp_path / "garbage.pem").write_bytes(b"not a certificate")
    cases = [
        (lambda: load_pem(tmp_path / "missing.pem", pki.auth_key), Problem.CREDENTIAL_UNREADABLE, "missing.pem"),
        (lambda: load_pem(tmp_path / "garbage.pem", pki.auth_key), Problem.CREDENTIAL_UNREADABLE, "garbage.pem"),
        (lambda: load_pem(pki.auth_cert, pki.sign_key), Problem.CERTIFICATE_KEY_MISMATCH, "org-auth.pem"),
        (lambda: load_pkcs12(tmp_path / "garbage.pem", b"x"), Problem.CREDENTIAL_UNREADABLE, "garbage.pem"),
    ]
    for load, problem, name in cases:
        with pytest.raises(SecurityError) as err:
            load()
        assert _problems(err.value) == [problem]
        assert name in str(err.value)


# --- start-up checks ---


def test_checks_accept_the_right_certificates(pki: TestPki) -> None:
    check_signing_credential(load_pkcs12(pki.sign_p12, pki.p12_password()), NOW)
    check_client_auth_credential(load_pkcs12(pki.auth_p12, pki.p12_password()), NOW)


def test_auth_certificate_is_not_a_signing_certificate(pki: TestPki) -> None:
    auth = load_pkcs12(pki.auth_p12, pki.p12_password())
    with pytest.raises(SecurityError) as err:
        check_signing_credential(auth, NOW)
    assert _problems(err.value) == [Problem.CERTIFICATE_USAGE]
    assert "clientAuth" in str(err.value) and str(pki.auth_p12) in str(err.value)
    assert err.value.http_status == 500


def test_sign_certificate_is_not_a_tls_client_certificate(pki: TestPki) -> None:
    sign = load_pkcs12(pki.sign_p12, pki.p12_password())
    with pytest.raises(SecurityError) as err:
        check_client_auth_credential(sign, NOW)
    assert _problems(err.value) == [Problem.CERTIFICATE_USAGE]
    assert "clientAuth" in str(err.value)


def test_expired_and_not_yet_valid(pki: TestPki, tmp_path: Path) -> None:
    cert, key = make_expired_certificate(pki, tmp_path, profile="sign", now=NOW)
    with pytest.raises(SecurityError) as err:
        check_signing_credential(load_pem(cert, key), NOW)
    assert _problems(err.value) == [Problem.CERTIFICATE_EXPIRED]
    assert "expired-sign.pem" in str(err.value)
    cert, key = issue_client_certificate(
        pki,
        tmp_path,
        profile="auth",
        not_before=NOW + timedelta(days=2),
        not_after=NOW + timedelta(days=400),
        name="future",
    )
    with pytest.raises(SecurityError) as err:
        check_client_auth_credential(load_pem(cert, key), NOW)
    assert _problems(err.value) == [Problem.CERTIFICATE_NOT_YET_VALID]


def test_days_to_expiry(pki: TestPki) -> None:
    c = load_pem(pki.sign_cert, pki.sign_key)
    not_after = c.certificate.not_valid_after_utc
    assert days_to_expiry(c, not_after - timedelta(days=10, hours=1)) == 10
    assert days_to_expiry(c, not_after - timedelta(hours=1)) == 0
    assert days_to_expiry(c, not_after + timedelta(hours=1)) == -1


def test_signing_usage_rule(pki: TestPki) -> None:
    assert signing_usage_problem(x509.load_pem_x509_certificate(pki.sign_cert.read_bytes())) is None
    assert "TLS" in (signing_usage_problem(x509.load_pem_x509_certificate(pki.auth_cert.read_bytes())) or "")
    assert "TLS" in (signing_usage_problem(x509.load_pem_x509_certificate(pki.server_cert.read_bytes())) or "")
    assert signing_usage_problem(x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())) is not None


# --- real mutual TLS ---


@dataclass
class _Seen:
    peers: list[x509.Certificate] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def _tls_server(pki: TestPki, *, tls13: bool = False) -> Iterator[tuple[int, _Seen]]:
    """A TLS server requiring a client certificate from the test CA; answers b"ok" to each connection."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    ctx.load_verify_locations(cafile=pki.ca_cert)
    ctx.verify_mode = ssl.CERT_REQUIRED
    if not tls13:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    seen = _Seen()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # poll, so that the thread stops promptly
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(10)
            try:
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    der = conn.getpeercert(binary_form=True)
                    assert der is not None
                    seen.peers.append(x509.load_der_x509_certificate(der))
                    conn.sendall(b"ok")
            except (ssl.SSLError, OSError) as exc:
                seen.errors.append(str(exc))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], seen
    finally:
        stop.set()
        listener.close()
        thread.join(5)


def _talk(ctx: ssl.SSLContext, port: int, host: str = "localhost") -> tuple[bytes, tuple[str, str, int] | None, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as conn:
            data = conn.recv(10)
            return data, conn.cipher(), conn.version() or ""


def test_mutual_tls_with_the_pkcs12_credential(pki: TestPki) -> None:
    credential = load_pkcs12(pki.auth_p12, pki.p12_password())
    ctx = client_ssl_context(credential, pki.ca_cert)
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    with _tls_server(pki) as (port, seen):
        data, cipher, version = _talk(ctx, port)
    assert data == b"ok" and version == "TLSv1.2"
    assert cipher is not None and cipher[0] in DMP_TLS12_CIPHERS.split(":")
    assert seen.peers == [credential.certificate]


def test_configured_cipher_list_is_used(pki: TestPki) -> None:
    ctx = client_ssl_context(load_pem(pki.auth_cert, pki.auth_key), pki.ca_cert, ciphers="ECDHE-RSA-AES256-SHA384")
    with _tls_server(pki) as (port, _):
        _, cipher, _ = _talk(ctx, port)
    assert cipher is not None and cipher[0] == "ECDHE-RSA-AES256-SHA384"
    with pytest.raises(SecurityError) as err:
        client_ssl_context(load_pem(pki.auth_cert, pki.auth_key), pki.ca_cert, ciphers="NO-SUCH-CIPHER")
    assert _problems(err.value) == [Problem.CONFIGURATION]


def test_tls13_only_when_allowed(pki: TestPki) -> None:
    credential = load_pem(pki.auth_cert, pki.auth_key)
    with _tls_server(pki, tls13=True) as (port, _):
        assert _talk(client_ssl_context(credential, pki.ca_cert), port)[2] == "TLSv1.2"
        assert _talk(client_ssl_context(credential, pki.ca_cert, maximum_version=None), port)[2] == "TLSv1.3"
    with pytest.raises(SecurityError):
        client_ssl_context(credential, pki.ca_cert, minimum_version=ssl.TLSVersion.TLSv1_1)


def test_server_hostname_is_checked(pki: TestPki) -> None:
    ctx = client_ssl_context(load_pem(pki.auth_cert, pki.auth_key), pki.ca_cert)
    with _tls_server(pki) as (port, _):
        with pytest.raises(ssl.SSLCertVerificationError):
            _talk(ctx, port, host="other.example")


def test_foreign_client_is_refused_by_the_server(pki: TestPki, tmp_path: Path) -> None:
    cert, key = make_foreign_ca_client(tmp_path)
    ctx = client_ssl_context(load_pem(cert, key), pki.ca_cert)
    with _tls_server(pki) as (port, seen):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _talk(ctx, port)
    assert not seen.peers


def test_untrusted_server_is_refused(pki: TestPki, tmp_path: Path) -> None:
    foreign_cert, _ = make_foreign_ca_client(tmp_path)  # its issuer is not our CA
    foreign_ca = tmp_path / "foreign-bundle.pem"
    foreign_ca.write_bytes(foreign_cert.read_bytes())
    ctx = client_ssl_context(load_pem(pki.auth_cert, pki.auth_key), foreign_ca)
    with _tls_server(pki) as (port, _):
        with pytest.raises(ssl.SSLCertVerificationError):
            _talk(ctx, port)


def test_client_key_never_written_to_disk(pki: TestPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    client_ssl_context(load_pkcs12(pki.auth_p12, pki.p12_password()), pki.ca_cert)
    assert list(tmp_path.iterdir()) == []
