"""Test PKI for demos, the DMP simulator and tests (`facade pki init DIR`).

Shapes follow the IGC-Santé ORG profiles the DMP expects (spec digest §1.3, §1.5, §2.3):

* a root CA "IGC-SANTE TEST"-like, webpki CA profile (BasicConstraints CA, KeyUsage keyCertSign/cRLSign, SKI/AKI);
* ORG AUTH_CLI: the mutual-TLS client certificate (KeyUsage digitalSignature + keyEncipherment, EKU clientAuth);
* ORG SIGN: the "cachet" certificate that signs the VIHF and the XAdES lot (KeyUsage digitalSignature +
  nonRepudiation, no EKU: the DMP refuses a VIHF signed by a TLS certificate);
* the simulator's server certificate (EKU serverAuth, SAN DNS/IP).

Both ORG certificates carry the structure identifier (Struct_IdNat) in OU. Everything is RSA 2048. Private keys and
the PKCS#12 password are written with mode 0600 and never printed. `init_test_pki` is idempotent: an existing,
still valid PKI is reused; a leaf that expired or no longer matches its parameters is re-issued from the same CA.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from facade.errors import FacadeError, Problem

__all__ = [
    "TestPki",
    "init_test_pki",
    "issue_client_certificate",
    "make_expired_certificate",
    "make_foreign_ca_client",
]

CA_LIFETIME = timedelta(days=3650)
LEAF_LIFETIME = timedelta(days=730)
BACKDATE = timedelta(hours=1)  # tolerate small clock differences between facade and simulator
RSA_BITS = 2048

_CA_CN = "TEST AC IGC-SANTE FACADE DEMO"
_CA_OU = "IGC-SANTE TEST"
_CA_O = "DMP FACADE DEMO"


@dataclass(frozen=True)
class TestPki:
    """Paths of a test PKI written by `init_test_pki`."""

    __test__ = False  # not a pytest test class

    ca_cert: Path
    ca_key: Path
    auth_cert: Path
    auth_key: Path
    auth_p12: Path
    sign_cert: Path
    sign_key: Path
    sign_p12: Path
    server_cert: Path
    server_key: Path
    password_file: Path

    def p12_password(self) -> bytes:
        return self.password_file.read_bytes().strip()

    @classmethod
    def at(cls, directory: Path) -> TestPki:
        """The file layout of a PKI directory (files may not exist yet)."""
        d = Path(directory)
        return cls(
            ca_cert=d / "ca.pem",
            ca_key=d / "ca.key.pem",
            auth_cert=d / "org-auth.pem",
            auth_key=d / "org-auth.key.pem",
            auth_p12=d / "org-auth.p12",
            sign_cert=d / "org-sign.pem",
            sign_key=d / "org-sign.key.pem",
            sign_p12=d / "org-sign.p12",
            server_cert=d / "server.pem",
            server_key=d / "server.key.pem",
            password_file=d / "pkcs12-password.txt",
        )


def init_test_pki(
    directory: Path,
    *,
    structure_id: str,
    org_name: str = "CH DE DEMONSTRATION",
    server_hosts: Sequence[str] = ("localhost", "127.0.0.1"),
    now: datetime | None = None,
) -> TestPki:
    """Write (or reuse) a complete test PKI in `directory`; see the module docstring."""
    now = now or datetime.now(UTC)
    pki = TestPki.at(directory)
    Path(directory).mkdir(parents=True, exist_ok=True, mode=0o700)

    ca = _load_pair(pki.ca_cert, pki.ca_key)
    renew_all = ca is None or not _valid_at(ca[0], now + timedelta(days=1))
    if ca is None or renew_all:
        ca = _make_ca(now)
        _write_pair(pki.ca_cert, pki.ca_key, *ca)
    ca_cert, ca_key = ca

    if renew_all or not pki.password_file.exists():
        _write_secret(pki.password_file, secrets.token_urlsafe(24).encode() + b"\n")
    password = pki.p12_password()

    hosts = tuple(dict.fromkeys(("localhost", "127.0.0.1", *server_hosts)))
    org = _org_subject(org_name, structure_id)
    leaves = (
        (pki.auth_cert, pki.auth_key, pki.auth_p12, _Profile.AUTH, org("AUTH_CLI"), ()),
        (pki.sign_cert, pki.sign_key, pki.sign_p12, _Profile.SIGN, org("SIGN"), ()),
        (pki.server_cert, pki.server_key, None, _Profile.SERVER, _server_subject(hosts[0]), hosts),
    )
    for cert_path, key_path, p12_path, profile, subject, names in leaves:
        existing = None if renew_all else _load_pair(cert_path, key_path)
        if existing is None or not _leaf_reusable(existing[0], ca_cert, subject, names, now):
            key = _new_key()
            cert = _issue(ca_cert, ca_key, subject, key, profile, now=now, hosts=names)
            _write_pair(cert_path, key_path, cert, key)
            existing = (cert, key)
        if p12_path is not None:
            if renew_all or not _p12_matches(p12_path, password, existing[0]):
                _write_p12(p12_path, existing[0], existing[1], ca_cert, password, profile.value)
    return pki


def make_foreign_ca_client(directory: Path, *, now: datetime | None = None) -> tuple[Path, Path]:
    """Cert + key of a client certificate from ANOTHER CA (a TLS peer must refuse it). For tests."""
    now = now or datetime.now(UTC)
    Path(directory).mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_cert, ca_key = _make_ca(now, common_name="TEST AC FOREIGN (NOT IGC-SANTE)")
    subject = _org_subject("FOREIGN ORG", "1999999999")("AUTH_CLI")
    key = _new_key()
    cert = _issue(ca_cert, ca_key, subject, key, _Profile.AUTH, now=now)
    cert_path, key_path = Path(directory) / "foreign-client.pem", Path(directory) / "foreign-client.key.pem"
    _write_pair(cert_path, key_path, cert, key)
    return cert_path, key_path


def make_expired_certificate(
    pki: TestPki, directory: Path, *, profile: str = "sign", now: datetime | None = None
) -> tuple[Path, Path]:
    """Cert + key issued by the test CA that expired one day before `now` (profile "auth" | "sign"). For tests."""
    now = now or datetime.now(UTC)
    return issue_client_certificate(
        pki,
        directory,
        profile=profile,
        not_before=now - timedelta(days=366),
        not_after=now - timedelta(days=1),
        name=f"expired-{profile}",
    )


def issue_client_certificate(
    pki: TestPki,
    directory: Path,
    *,
    profile: str,
    not_before: datetime,
    not_after: datetime,
    name: str,
    structure_id: str = "1999999999",
    org_name: str = "CH DE DEMONSTRATION",
) -> tuple[Path, Path]:
    """Issue an ORG "auth" or "sign" certificate with an explicit validity window from the test CA. For tests."""
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    ca_key = _load_rsa_key(pki.ca_key.read_bytes())
    prof = _Profile(profile)
    key = _new_key()
    subject = _org_subject(org_name, structure_id)("AUTH_CLI" if prof is _Profile.AUTH else "SIGN")
    cert = _issue(ca_cert, ca_key, subject, key, prof, now=not_before + BACKDATE, not_after=not_after)
    Path(directory).mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = Path(directory) / f"{name}.pem", Path(directory) / f"{name}.key.pem"
    _write_pair(cert_path, key_path, cert, key)
    return cert_path, key_path


# --- certificate profiles ---------------------------------------------------------------------------------------


class _Profile(StrEnum):
    AUTH = "auth"
    SIGN = "sign"
    SERVER = "server"


def _org_subject(org_name: str, structure_id: str) -> _SubjectFactory:
    return _SubjectFactory(org_name, structure_id)


@dataclass(frozen=True)
class _SubjectFactory:
    org_name: str
    structure_id: str

    def __call__(self, usage: str) -> x509.Name:
        # IGC-Santé ORG certificates: OU carries the Struct_IdNat (spec digest §1.3), CN is free text
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.org_name),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, self.structure_id),
                x509.NameAttribute(NameOID.COMMON_NAME, f"DMP FACADE {usage} {self.structure_id}"),
            ]
        )


def _server_subject(host: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DMP SIMULATOR"),
            x509.NameAttribute(NameOID.COMMON_NAME, host),
        ]
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def _make_ca(now: datetime, *, common_name: str = _CA_CN) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _CA_O),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _CA_OU),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _key_usage(**flags: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
    )
    unknown = set(flags) - set(names)
    if unknown:
        raise ValueError(f"unknown key usages {unknown}")
    values = {n: flags.get(n, False) for n in names}
    return x509.KeyUsage(**values, encipher_only=False, decipher_only=False)


def _issue(
    ca_cert: x509.Certificate,
    ca_key: rsa.RSAPrivateKey,
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    profile: _Profile,
    *,
    now: datetime,
    not_after: datetime | None = None,
    hosts: Sequence[str] = (),
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after or now + LEAF_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            ),
            critical=False,
        )
    )
    if profile is _Profile.AUTH:
        builder = builder.add_extension(
            _key_usage(digital_signature=True, key_encipherment=True), critical=True
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    elif profile is _Profile.SIGN:
        # no EKU at all: a signature ("cachet") certificate must not be usable for TLS
        builder = builder.add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
    else:
        builder = (
            builder.add_extension(_key_usage(digital_signature=True, key_encipherment=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False)
        )
    return builder.sign(ca_key, hashes.SHA256())


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


# --- reuse checks ------------------------------------------------------------------------------------------------


def _valid_at(cert: x509.Certificate, when: datetime) -> bool:
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def _leaf_reusable(
    cert: x509.Certificate, ca_cert: x509.Certificate, subject: x509.Name, hosts: Sequence[str], now: datetime
) -> bool:
    if cert.issuer != ca_cert.subject or cert.subject != subject or not _valid_at(cert, now + timedelta(days=1)):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):  # not issued by this CA (e.g. the CA was re-created)
        return False
    if hosts:
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return False
        if set(san) != {_general_name(h) for h in hosts}:
            return False
    return True


def _p12_matches(path: Path, password: bytes, cert: x509.Certificate) -> bool:
    try:
        loaded = pkcs12.load_pkcs12(path.read_bytes(), password)
    except (OSError, ValueError):
        return False
    return loaded.cert is not None and loaded.cert.certificate == cert


# --- file I/O (keys 0600, atomic replace) -------------------------------------------------------------------------


def _load_rsa_key(data: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise FacadeError(Problem.CONFIGURATION, reason="the test PKI only handles RSA keys")
    return key


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, rsa.RSAPrivateKey] | None:
    if not (cert_path.is_file() and key_path.is_file()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = _load_rsa_key(key_path.read_bytes())
    except (ValueError, FacadeError):
        return None
    if cert.public_key() != key.public_key():
        return None
    return cert, key


def _write_pair(cert_path: Path, key_path: Path, cert: x509.Certificate, key: rsa.RSAPrivateKey) -> None:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_secret(key_path, key_pem)
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def _write_p12(
    path: Path, cert: x509.Certificate, key: rsa.RSAPrivateKey, ca_cert: x509.Certificate, password: bytes, name: str
) -> None:
    data = pkcs12.serialize_key_and_certificates(
        f"org-{name}".encode(), key, cert, [ca_cert], serialization.BestAvailableEncryption(password)
    )
    _write_secret(path, data)


def _write_secret(path: Path, data: bytes) -> None:
    _atomic_write(path, data, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    _atomic_write(path, data, 0o644)


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # created with its final mode: a key is never readable by others, not even for an instant
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)  # umask may have removed bits from a 0644 file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
