"""Mutual TLS: the client certificate the TLS layer already verified (chain to the configured client CA, validity,
purpose), read from the asgiref TLS extension that ``facade.tls_server.TlsH11Protocol`` puts in the scope; then an
optional allow-list of subject DNs / OUs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from facade.auth.actor import Actor, AuthenticationError
from facade.errors import Problem

CHALLENGE = 'MutualTLS realm="dmp-facade"'  # informative: there is no registered scheme for client certificates


@dataclass(frozen=True)
class ClientCertificatePolicy:
    """Empty allow-lists: any certificate issued by the client CA is accepted. Otherwise the subject DN must be one
    of ``allowed_subjects`` OR one of its OUs one of ``allowed_ous``."""

    allowed_subjects: frozenset[x509.Name] = field(default_factory=frozenset)
    allowed_ous: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_strings(cls, subjects: Iterable[str] = (), ous: Iterable[str] = ()) -> ClientCertificatePolicy:
        """Subjects as RFC 4514 strings ("CN=...,OU=...,O=...,C=FR"); compared as parsed names, not as text."""
        return cls(frozenset(parse_dn(s) for s in subjects), frozenset(ous))

    def authenticate(self, tls: Mapping[str, Any] | None) -> Actor:
        chain = (tls or {}).get("client_cert_chain") or []
        if not chain:
            raise AuthenticationError(
                Problem.AUTH_REQUIRED, challenge=CHALLENGE, reason="no client certificate (mutual TLS is required)"
            )
        try:
            cert = x509.load_pem_x509_certificate(str(chain[0]).encode("ascii"))
        except ValueError:
            raise AuthenticationError(
                Problem.AUTH_REQUIRED, challenge=CHALLENGE, reason="the client certificate cannot be read"
            ) from None
        subject = cert.subject
        ous = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
        if not _client_auth_allowed(cert) or not self._listed(subject, ous):
            raise AuthenticationError(Problem.AUTH_CERTIFICATE_NOT_ALLOWED, subject=subject.rfc4514_string())
        return Actor("mtls", subject.rfc4514_string(), organisation=ous[0] if ous else None)

    def _listed(self, subject: x509.Name, ous: list[str]) -> bool:
        if not self.allowed_subjects and not self.allowed_ous:
            return True
        return subject in self.allowed_subjects or any(ou in self.allowed_ous for ou in ous)


_SPACE_AFTER_SEPARATOR = re.compile(r"(?<!\\)([,+])\s+(?=[A-Za-z][A-Za-z0-9-]*=|\d+(?:\.\d+)+=)")


def parse_dn(text: str) -> x509.Name:
    """An RFC 4514 DN as operators write it (spaces after "," tolerated); ValueError with the text if invalid."""
    try:
        return x509.Name.from_rfc4514_string(_SPACE_AFTER_SEPARATOR.sub(r"\1", text.strip()))
    except ValueError:
        raise ValueError(f"not an RFC 4514 distinguished name: {text!r}") from None


def _client_auth_allowed(cert: x509.Certificate) -> bool:
    # OpenSSL already checks the purpose during the handshake; repeated here in case the app is ever fed a
    # certificate by another path (defence in depth). No EKU extension means "any purpose".
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.CLIENT_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku
