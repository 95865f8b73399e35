from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import verification as xv
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from facade.pki import TestPki, init_test_pki, make_expired_certificate, make_foreign_ca_client

from .conftest import ORG_NAME, STRUCTURE_ID

_ORG_EE_POLICY = xv.ExtensionPolicy.permit_all()


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _ku(cert: x509.Certificate) -> x509.KeyUsage:
    ext = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ext.critical
    return ext.value


def _store(pki: TestPki) -> xv.Store:
    return xv.Store([_cert(pki.ca_cert)])


def test_files_and_private_modes(pki: TestPki) -> None:
    for path in (pki.ca_key, pki.auth_key, pki.sign_key, pki.server_key, pki.auth_p12, pki.sign_p12, pki.password_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in (pki.ca_cert, pki.auth_cert, pki.sign_cert, pki.server_cert):
        assert path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert len(pki.p12_password()) >= 24


def test_ca_profile(pki: TestPki) -> None:
    ca = _cert(pki.ca_cert)
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = _ku(ca)
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert ca.subject == ca.issuer


def test_auth_certificate_profile(pki: TestPki) -> None:
    cert = _cert(pki.auth_cert)
    ku = _ku(cert)
    assert ku.digital_signature and ku.key_encipherment and not ku.content_commitment
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == STRUCTURE_ID
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ORG_NAME
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.public_key().key_size == 2048  # type: ignore[union-attr]


def test_sign_certificate_profile(pki: TestPki) -> None:
    cert = _cert(pki.sign_cert)
    ku = _ku(cert)
    assert ku.digital_signature and ku.content_commitment and not ku.key_encipherment
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)  # no clientAuth, no EKU at all
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == STRUCTURE_ID


def test_server_certificate_profile(pki: TestPki) -> None:
    cert = _cert(pki.server_cert)
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "dmp.test"}
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_chains_verify_with_webpki_policies(pki: TestPki) -> None:
    now = datetime.now(UTC)
    # IGC-Santé ORG certificates have no SAN: the end-entity policy is relaxed, the CA policy stays webpki
    client = (
        xv.PolicyBuilder()
        .store(_store(pki))
        .time(now)
        .extension_policies(ca_policy=xv.ExtensionPolicy.webpki_defaults_ca(), ee_policy=_ORG_EE_POLICY)
        .build_client_verifier()
    )
    verified = client.verify(_cert(pki.auth_cert), [])
    assert verified.chain[-1] == _cert(pki.ca_cert)
    client.verify(_cert(pki.sign_cert), [])  # what signxml's verifier does with the SIGN certificate
    for host in ("localhost", "dmp.test"):
        server = xv.PolicyBuilder().store(_store(pki)).time(now).build_server_verifier(xv.DNSName(host))
        server.verify(_cert(pki.server_cert), [])
    import ipaddress

    ip_server = (
        xv.PolicyBuilder()
        .store(_store(pki))
        .time(now)
        .build_server_verifier(xv.IPAddress(ipaddress.ip_address("127.0.0.1")))
    )
    ip_server.verify(_cert(pki.server_cert), [])
    with pytest.raises(xv.VerificationError):  # the AUTH certificate is not a server certificate
        server.verify(_cert(pki.auth_cert), [])


def test_pkcs12_needs_its_password(pki: TestPki) -> None:
    for p12, pem in ((pki.auth_p12, pki.auth_cert), (pki.sign_p12, pki.sign_cert)):
        loaded = pkcs12.load_pkcs12(p12.read_bytes(), pki.p12_password())
        assert loaded.key is not None and loaded.cert is not None
        assert loaded.cert.certificate == _cert(pem)
        assert [c.certificate for c in loaded.additional_certs] == [_cert(pki.ca_cert)]
        with pytest.raises(ValueError):
            pkcs12.load_pkcs12(p12.read_bytes(), None)
        with pytest.raises(ValueError):
            pkcs12.load_pkcs12(p12.read_bytes(), b"wrong password")


def test_init_is_idempotent(tmp_path: Path) -> None:
    first = init_test_pki(tmp_path, structure_id="10B0127189")
    before = {p: p.read_bytes() for p in vars(first).values()}
    second = init_test_pki(tmp_path, structure_id="10B0127189")
    assert second == first
    assert {p: p.read_bytes() for p in vars(second).values()} == before


def test_init_reissues_only_what_changed(tmp_path: Path) -> None:
    pki = init_test_pki(tmp_path, structure_id="10B0127189")
    ca, auth, sign = pki.ca_cert.read_bytes(), pki.auth_cert.read_bytes(), pki.sign_cert.read_bytes()
    pki.auth_key.unlink()
    init_test_pki(tmp_path, structure_id="10B0127189", server_hosts=("simulator.local",))
    assert pki.ca_cert.read_bytes() == ca and pki.sign_cert.read_bytes() == sign
    assert pki.auth_cert.read_bytes() != auth  # its key was gone: re-issued (and its p12 too)
    loaded = pkcs12.load_pkcs12(pki.auth_p12.read_bytes(), pki.p12_password())
    assert loaded.cert is not None and loaded.cert.certificate == _cert(pki.auth_cert)
    san = _cert(pki.server_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "simulator.local" in san.get_values_for_type(x509.DNSName)
    # a different structure id re-issues both ORG certificates with the new OU
    init_test_pki(tmp_path, structure_id="3123456789012")
    assert _cert(pki.sign_cert).subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == (
        "3123456789012"
    )
    assert pki.ca_cert.read_bytes() == ca


def test_expired_ca_renews_everything(tmp_path: Path) -> None:
    pki = init_test_pki(tmp_path, structure_id="10B0127189")
    ca, password = pki.ca_cert.read_bytes(), pki.p12_password()
    init_test_pki(tmp_path, structure_id="10B0127189", now=datetime.now(UTC) + timedelta(days=3700))
    assert pki.ca_cert.read_bytes() != ca
    assert pki.p12_password() != password
    assert _cert(pki.auth_cert).issuer == _cert(pki.ca_cert).subject


def test_foreign_client_does_not_chain_to_the_test_ca(pki: TestPki, tmp_path: Path) -> None:
    cert_path, key_path = make_foreign_ca_client(tmp_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    foreign = _cert(cert_path)
    assert foreign.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    client = (
        xv.PolicyBuilder()
        .store(_store(pki))
        .time(datetime.now(UTC))
        .extension_policies(ca_policy=xv.ExtensionPolicy.webpki_defaults_ca(), ee_policy=_ORG_EE_POLICY)
        .build_client_verifier()
    )
    with pytest.raises(xv.VerificationError):
        client.verify(foreign, [])


def test_expired_certificate_helper(pki: TestPki, tmp_path: Path) -> None:
    now = datetime(2030, 6, 1, tzinfo=UTC)
    cert_path, _ = make_expired_certificate(pki, tmp_path, profile="sign", now=now)
    cert = _cert(cert_path)
    assert cert.not_valid_after_utc < now
    assert cert.issuer == _cert(pki.ca_cert).subject
    assert _ku(cert).content_commitment
