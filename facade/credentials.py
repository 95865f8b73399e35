"""Key + certificate credentials: loading, start-up checks, the mutual-TLS client context, certificate usage rules.

Two credentials are configured (spec digest §1.5, §2.3): ORG AUTH_CLI for mutual TLS and ORG SIGN (the "cachet")
for the VIHF and the XAdES lot. Each may come as PEM (key optionally encrypted) or PKCS#12 + password, from a file
or from bytes (the lead decodes base64 environment values). Errors name the source and the problem, never the
password or key material.

The private key never touches the disk: Python's `ssl` only loads PEM *files*, so the client context is fed through
an anonymous `memfd` that is closed right after loading (stack-notes §4).
"""

from __future__ import annotations

import math
import os
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import verification as xv
from cryptography.x509.oid import ExtendedKeyUsageOID

from facade.errors import Issue, Problem, SecurityError

__all__ = [
    "DMP_TLS12_CIPHERS",
    "Credential",
    "check_client_auth_credential",
    "check_signing_credential",
    "client_ssl_context",
    "days_to_expiry",
    "describe_subject",
    "load_pem",
    "load_pkcs12",
    "signing_usage_problem",
    "verify_certificate_chain",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

# GIE fiche PDT-INF-579 v4 (spec digest §2.3), OpenSSL names of the four suites allowed for LPS access over TLS 1.2
DMP_TLS12_CIPHERS = ":".join(
    (
        "ECDHE-RSA-CHACHA20-POLY1305",  # TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        "ECDHE-RSA-AES128-GCM-SHA256",  # TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        "ECDHE-RSA-AES256-SHA384",  # TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384
        "ECDHE-RSA-AES256-GCM-SHA384",  # TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    )
)

# an EKU that only allows TLS marks an authentication certificate: the DMP answers "Not a valid signature
# certificate" when the VIHF is signed with one (spec digest §1.5, §8)
_TLS_ONLY_EKUS = frozenset({ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH})


@dataclass(frozen=True)
class Credential:
    """A private key, its certificate and the rest of the chain (leaf first, no order required)."""

    key: PrivateKey = field(repr=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    source: str = "<memory>"  # file name or environment variable, for messages

    @classmethod
    def load_pem(
        cls,
        cert: Path | bytes,
        key: Path | bytes,
        password: bytes | None = None,
        *,
        source: str | None = None,
    ) -> Credential:
        """Certificate PEM (leaf first, then optional chain) + private key PEM (optionally encrypted)."""
        src = source or _source_name(cert)
        cert_pem = _read(cert, src)
        key_pem = _read(key, source or _source_name(key))
        try:
            certs = x509.load_pem_x509_certificates(cert_pem)
        except ValueError as exc:
            raise SecurityError(
                Problem.CREDENTIAL_UNREADABLE, source=src, reason=f"no PEM certificate ({exc})"
            ) from exc
        try:
            private_key = serialization.load_pem_private_key(key_pem, password=password)
        except TypeError as exc:  # encrypted without password, or a password for a clear key
            raise SecurityError(Problem.CREDENTIAL_UNREADABLE, source=src, reason=str(exc)) from exc
        except ValueError as exc:
            reason = "wrong password or not a PEM private key" if password else "not a PEM private key"
            raise SecurityError(Problem.CREDENTIAL_UNREADABLE, source=src, reason=reason) from exc
        return cls._build(private_key, certs[0], certs[1:], src)

    @classmethod
    def load_pkcs12(cls, p12: Path | bytes, password: bytes | None, *, source: str | None = None) -> Credential:
        src = source or _source_name(p12)
        data = _read(p12, src)
        try:
            loaded = pkcs12.load_pkcs12(data, password)
        except ValueError as exc:  # cryptography does not tell a wrong password from corrupt data
            raise SecurityError(
                Problem.CREDENTIAL_UNREADABLE, source=src, reason="wrong password or not a PKCS#12 file"
            ) from exc
        if loaded.key is None or loaded.cert is None:
            raise SecurityError(
                Problem.CREDENTIAL_UNREADABLE, source=src, reason="the PKCS#12 holds no private key or no certificate"
            )
        return cls._build(loaded.key, loaded.cert.certificate, [c.certificate for c in loaded.additional_certs], src)

    @classmethod
    def _build(cls, key: object, cert: x509.Certificate, chain: Sequence[x509.Certificate], src: str) -> Credential:
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise SecurityError(
                Problem.CREDENTIAL_UNREADABLE, source=src, reason=f"unsupported key type {type(key).__name__}"
            )
        if key.public_key() != cert.public_key():
            raise SecurityError(Problem.CERTIFICATE_KEY_MISMATCH, source=src)
        return cls(key=key, certificate=cert, chain=tuple(c for c in chain if c != cert), source=src)

    @property
    def subject(self) -> str:
        return describe_subject(self.certificate)

    def key_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM, for in-memory use only (memfd); never log or write it."""
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.certificate, *self.chain))


def load_pem(cert: Path | bytes, key: Path | bytes, password: bytes | None = None) -> Credential:
    return Credential.load_pem(cert, key, password)


def load_pkcs12(path: Path | bytes, password: bytes | None) -> Credential:
    return Credential.load_pkcs12(path, password)


# --- start-up checks ----------------------------------------------------------------------------------------------


def check_signing_credential(c: Credential, now: datetime) -> None:
    """The SIGN credential: valid now, key usage digitalSignature or nonRepudiation, not a TLS-only certificate."""
    issues = _validity_issues(c, now)
    reason = signing_usage_problem(c.certificate)
    if reason:
        issues.append(
            Issue(
                Problem.CERTIFICATE_USAGE,
                details={
                    "source": c.source,
                    "subject": c.subject,
                    "purpose": "to sign (VIHF, XAdES)",
                    "reason": reason,
                },
            )
        )
    _raise(issues)


def check_client_auth_credential(c: Credential, now: datetime) -> None:
    """The AUTH credential: valid now, EKU clientAuth, key usage (if any) allowing a TLS client signature."""
    issues = _validity_issues(c, now)
    reasons: list[str] = []
    ekus = _ekus(c.certificate)
    if ekus is None:
        reasons.append("no ExtendedKeyUsage (clientAuth is required for an ORG AUTH_CLI certificate)")
    elif ExtendedKeyUsageOID.CLIENT_AUTH not in ekus:
        reasons.append("ExtendedKeyUsage has no clientAuth")
    ku = _key_usage(c.certificate)
    if ku is not None and not ku.digital_signature:
        # the DMP suites are all ECDHE: the client signs CertificateVerify, hence digitalSignature
        reasons.append("KeyUsage has no digitalSignature (needed for a TLS client)")
    if reasons:
        issues.append(
            Issue(
                Problem.CERTIFICATE_USAGE,
                details={
                    "source": c.source,
                    "subject": c.subject,
                    "purpose": "for mutual TLS",
                    "reason": "; ".join(reasons),
                },
            )
        )
    _raise(issues)


def days_to_expiry(c: Credential, now: datetime) -> int:
    """Whole days left (negative once expired); for the health endpoint and expiry warnings."""
    return math.floor((c.certificate.not_valid_after_utc - now).total_seconds() / 86400)


def signing_usage_problem(cert: x509.Certificate) -> str | None:
    """Why `cert` is not a signature certificate, or None when it is.

    A signature certificate has KeyUsage digitalSignature or nonRepudiation, and no ExtendedKeyUsage restricting it
    to TLS (clientAuth / serverAuth only). IGC-Santé SIGN certificates carry nonRepudiation (sometimes with
    emailProtection); AUTH_CLI certificates carry clientAuth.
    """
    ku = _key_usage(cert)
    if ku is None:
        return "no KeyUsage extension"
    if not (ku.digital_signature or ku.content_commitment):
        return "KeyUsage has neither digitalSignature nor nonRepudiation"
    ekus = _ekus(cert)
    if ekus is not None and ekus and set(ekus) <= _TLS_ONLY_EKUS:
        names = ", ".join(sorted(e._name for e in ekus))
        return f"ExtendedKeyUsage limits it to TLS ({names}): this is an authentication certificate"
    return None


def verify_certificate_chain(
    cert: x509.Certificate,
    *,
    ca_certs: Sequence[x509.Certificate],
    now: datetime,
    intermediates: Iterable[x509.Certificate] = (),
) -> list[x509.Certificate]:
    """Verify that `cert` chains to one of `ca_certs` at `now`; return the chain (leaf first).

    The CA side follows the webpki profile; the end entity is not required to have a SAN (IGC-Santé ORG certificates
    have none). Raises `x509.verification.VerificationError`; callers turn it into their own Problem.
    """
    builder = (
        xv.PolicyBuilder()
        .store(xv.Store(list(ca_certs)))
        .time(now)
        .extension_policies(
            ca_policy=xv.ExtensionPolicy.webpki_defaults_ca(), ee_policy=xv.ExtensionPolicy.permit_all()
        )
    )
    return list(builder.build_client_verifier().verify(cert, list(intermediates)).chain)


def describe_subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


# --- TLS ----------------------------------------------------------------------------------------------------------


def client_ssl_context(
    credential: Credential,
    ca_bundle: Path | bytes,
    *,
    ciphers: str | None = None,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    maximum_version: ssl.TLSVersion | None = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """The mutual-TLS client context for the DMP.

    Server certificate checked against `ca_bundle` (IGC-Santé in production, the test CA in demo) with hostname
    checking; TLS 1.2 cipher list = `ciphers` or the four DMP suites. `maximum_version` defaults to TLS 1.2, the
    only protocol the DMP lists for LPS access (so the configured suites are the ones used); pass None to allow 1.3.
    """
    if minimum_version < ssl.TLSVersion.TLSv1_2:
        raise SecurityError(Problem.CONFIGURATION, reason="TLS below 1.2 is refused for the DMP")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname
    ctx.minimum_version = minimum_version
    if maximum_version is not None:
        ctx.maximum_version = maximum_version
    try:
        ctx.set_ciphers(ciphers or DMP_TLS12_CIPHERS)
    except ssl.SSLError as exc:
        raise SecurityError(Problem.CONFIGURATION, reason=f"no usable TLS cipher in {ciphers!r}") from exc
    try:
        if isinstance(ca_bundle, bytes):
            ctx.load_verify_locations(cadata=ca_bundle.decode("ascii"))
        else:
            ctx.load_verify_locations(cafile=str(ca_bundle))
    except (OSError, ssl.SSLError, UnicodeDecodeError) as exc:
        src = "<ca bundle bytes>" if isinstance(ca_bundle, bytes) else str(ca_bundle)
        raise SecurityError(Problem.CREDENTIAL_UNREADABLE, source=src, reason=f"CA bundle: {exc}") from exc
    _load_client_cert_from_memory(ctx, credential)
    return ctx


def _load_client_cert_from_memory(ctx: ssl.SSLContext, credential: Credential) -> None:
    fd = os.memfd_create("facade-tls-credential", os.MFD_CLOEXEC)
    try:
        os.write(fd, credential.key_pem() + credential.chain_pem())
        ctx.load_cert_chain(f"/proc/self/fd/{fd}")
    except ssl.SSLError as exc:
        raise SecurityError(Problem.CREDENTIAL_UNREADABLE, source=credential.source, reason=str(exc)) from exc
    finally:
        os.close(fd)


# --- helpers ------------------------------------------------------------------------------------------------------


def _source_name(value: Path | bytes) -> str:
    return str(value) if isinstance(value, Path | str) else "<bytes>"


def _read(value: Path | bytes, src: str) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return Path(value).read_bytes()
    except OSError as exc:
        raise SecurityError(Problem.CREDENTIAL_UNREADABLE, source=src, reason=exc.strerror or str(exc)) from exc


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _ekus(cert: x509.Certificate) -> list[x509.ObjectIdentifier] | None:
    try:
        return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None


def _validity_issues(c: Credential, now: datetime) -> list[Issue]:
    cert = c.certificate
    details = {"source": c.source, "subject": c.subject}
    if now > cert.not_valid_after_utc:
        return [Issue(Problem.CERTIFICATE_EXPIRED, details={**details, "not_after": cert.not_valid_after_utc})]
    if now < cert.not_valid_before_utc:
        return [Issue(Problem.CERTIFICATE_NOT_YET_VALID, details={**details, "not_before": cert.not_valid_before_utc})]
    return []


def _raise(issues: list[Issue]) -> None:
    if issues:
        raise SecurityError(issues[0].problem, issues=issues)
