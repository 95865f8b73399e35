"""Verification of a XAdES "signature du lot" (spec digest §4.2): the DMP side (the simulator) and the tests.

What is checked, and how, is ``verify_lot_signature``'s docstring; the signature's shape is described in
``facade.soap.xades`` (the signing side, whose algorithms, parse and digest helpers this module shares).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import verification as xv
from lxml import etree

from facade.cda.canonical import canonicalize
from facade.credentials import signing_usage_problem, verify_certificate_chain
from facade.errors import Problem, SecurityError
from facade.ids import system_now
from facade.soap.xades import (
    _ALGORITHMS,
    _BY_DIGEST_URI,
    _BY_SIGNATURE_URI,
    C14N,
    C14N_WITH_COMMENTS,
    DS_NS,
    MANIFEST_TYPE,
    SIGNED_PROPERTIES_TYPE,
    XADES_NS,
    _b64_digest,
    _invalid,
    _parse,
    _q,
)

__all__ = ["VerifiedLot", "verify_lot_signature"]


@dataclass(frozen=True)
class VerifiedLot:
    signature_id: str
    signing_time: str
    certificate: x509.Certificate
    digest: str  # "sha1" | "sha256" (of the SignedInfo references)
    signature_method: str
    submission_unique_id: str
    document_ids: tuple[str, ...]


def verify_lot_signature(
    xml: bytes,
    documents: Mapping[str, bytes],
    *,
    ca_pem_file: Path | str,
    submission_unique_id: str,
    now: datetime | None = None,
    digests: frozenset[str] = frozenset({"sha1", "sha256"}),
) -> VerifiedLot:
    """Verify a lot signature against the documents (uniqueId -> exact bytes received) of one submission.

    Checks the SignedInfo signature (RSA, `digests` only), both references (manifest, XAdES SignedProperties) and
    where they point, the signer's chain to `ca_pem_file` at `now` and its signing usage, the SigningCertificate
    digest, and that the manifest names the submission set and exactly these documents with matching digests.
    Raises SecurityError naming what failed.
    """
    now = now or system_now()
    root = _parse(xml, document=False)
    if root.tag != _q(DS_NS, "Signature"):
        raise _invalid(f"root element is {root.tag}, not ds:Signature")
    signature_id = root.get("Id") or ""
    signed_info = _one(root, "ds:SignedInfo")
    signer = _trusted_signer(root, ca_pem_file, now)  # the signer, before anything else is trusted
    signature_alg = _check_signature_value(root, signed_info, signer, digests)
    manifest, signed_props, used = _signed_references(root, signed_info, signature_id, digests)
    _check_signing_certificate(signed_props, signer, digests)
    document_ids = _check_manifest(manifest, documents, submission_unique_id, digests)
    return VerifiedLot(
        signature_id=signature_id,
        signing_time=signed_props.findtext("xa:SignedSignatureProperties/xa:SigningTime", namespaces=_NS) or "",
        certificate=signer,
        digest=used.pop() if len(used) == 1 else "mixed",
        signature_method=signature_alg,
        submission_unique_id=submission_unique_id,
        document_ids=document_ids,
    )


_NS = {"ds": DS_NS, "xa": XADES_NS}


def _trusted_signer(root: etree._Element, ca_pem_file: Path | str, now: datetime) -> x509.Certificate:
    """The KeyInfo certificate, with a signing usage and a chain to ``ca_pem_file`` valid at ``now``."""
    certs = [_load_cert(el.text or "") for el in root.iterfind("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS)]
    if not certs:
        raise _invalid("no KeyInfo/X509Data/X509Certificate")
    signer = certs[0]
    subject = signer.subject.rfc4514_string()
    reason = signing_usage_problem(signer)
    if reason:
        raise SecurityError(
            Problem.SIGNER_NOT_SIGNING_CERTIFICATE, artefact="XAdES lot", subject=subject, reason=reason
        )
    try:
        ca_certs = x509.load_pem_x509_certificates(Path(ca_pem_file).read_bytes())
        verify_certificate_chain(signer, ca_certs=ca_certs, now=now, intermediates=certs[1:])
    except (OSError, ValueError, xv.VerificationError) as exc:
        raise SecurityError(Problem.SIGNER_UNTRUSTED, artefact="XAdES lot", subject=subject, reason=str(exc)) from exc
    return signer


def _check_signature_value(
    root: etree._Element, signed_info: etree._Element, signer: x509.Certificate, digests: frozenset[str]
) -> str:
    """SignatureValue over the canonical SignedInfo, with an accepted algorithm; returns the digest name used."""
    c14n_alg = _one(signed_info, "ds:CanonicalizationMethod").get("Algorithm")
    if c14n_alg not in (C14N, C14N_WITH_COMMENTS):
        raise _invalid(f"CanonicalizationMethod {c14n_alg}")
    signature_alg = _BY_SIGNATURE_URI.get(_one(signed_info, "ds:SignatureMethod").get("Algorithm") or "")
    if signature_alg is None or signature_alg not in digests:
        raise _invalid(f"SignatureMethod {_one(signed_info, 'ds:SignatureMethod').get('Algorithm')} not accepted")
    public_key = signer.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise _invalid("only RSA signatures are accepted")
    try:
        public_key.verify(
            base64.b64decode("".join((_one(root, "ds:SignatureValue").text or "").split())),
            canonicalize(signed_info, with_comments=c14n_alg == C14N_WITH_COMMENTS),
            padding.PKCS1v15(),
            _ALGORITHMS[signature_alg][3](),
        )
    except (InvalidSignature, ValueError) as exc:
        raise _invalid("SignatureValue does not match SignedInfo") from exc
    return signature_alg


def _signed_references(
    root: etree._Element, signed_info: etree._Element, signature_id: str, digests: frozenset[str]
) -> tuple[etree._Element, etree._Element, set[str]]:
    """The two SignedInfo references (Manifest, SignedProperties), where they point and their digests: returns the
    manifest, the SignedProperties and the digest names used."""
    refs = signed_info.findall("ds:Reference", _NS)
    if len(refs) != 2:
        raise _invalid(f"expected 2 references in SignedInfo, found {len(refs)}")
    by_type = {r.get("Type"): r for r in refs}
    if set(by_type) != {MANIFEST_TYPE, SIGNED_PROPERTIES_TYPE}:
        raise _invalid(f"SignedInfo reference types {sorted(str(t) for t in by_type)}")
    manifest = _target(root, by_type[MANIFEST_TYPE], "ds:Object/ds:Manifest")
    signed_props = _target(
        root, by_type[SIGNED_PROPERTIES_TYPE], "ds:Object/xa:QualifyingProperties/xa:SignedProperties"
    )
    qualifying = signed_props.getparent()
    assert qualifying is not None
    if qualifying.get("Target") != f"#{signature_id}":
        raise _invalid(f"QualifyingProperties Target {qualifying.get('Target')!r} is not #{signature_id}")
    used = {
        _check_same_document_reference(by_type[t], el, digests)
        for t, el in ((MANIFEST_TYPE, manifest), (SIGNED_PROPERTIES_TYPE, signed_props))
    }
    return manifest, signed_props, used


def _one(parent: etree._Element, path: str) -> etree._Element:
    found = parent.findall(path, _NS)
    if len(found) != 1:
        raise _invalid(f"expected one {path} under {etree.QName(parent).localname}, found {len(found)}")
    return found[0]


def _load_cert(text: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
    except ValueError as exc:
        raise _invalid(f"unreadable X509Certificate: {exc}") from exc


def _target(root: etree._Element, ref: etree._Element, expected_path: str) -> etree._Element:
    """The element a same-document reference points to; it must be unique and where the shape says."""
    uri = ref.get("URI") or ""
    if not uri.startswith("#") or len(uri) < 2:
        raise _invalid(f"reference URI {uri!r} is not a same-document #id")
    matches = root.xpath("//*[@Id=$id]", id=uri[1:])
    if len(matches) != 1:  # wrapping defence: an Id must designate exactly one element
        raise _invalid(f"Id {uri[1:]!r} designates {len(matches)} elements")
    expected = root.findall(expected_path, _NS)
    if len(expected) != 1 or expected[0] is not matches[0]:
        raise _invalid(f"reference {uri} does not point to {expected_path}")
    return expected[0]


def _digest_name(ref: etree._Element, digests: frozenset[str], ns: str = DS_NS) -> str:
    method = ref.find(_q(ns, "DigestMethod"))
    name = _BY_DIGEST_URI.get(method.get("Algorithm") or "") if method is not None else None
    if name is None or name not in digests:
        raise _invalid(f"DigestMethod {None if method is None else method.get('Algorithm')} not accepted")
    return name


def _transforms_with_comments(ref: etree._Element, *, default: bool) -> bool:
    transforms = ref.findall("ds:Transforms/ds:Transform", _NS)
    if not transforms:
        return default
    algs = [t.get("Algorithm") for t in transforms]
    if len(algs) != 1 or algs[0] not in (C14N, C14N_WITH_COMMENTS):
        raise _invalid(f"unsupported transforms {algs} on {ref.get('URI')}")
    return bool(algs[0] == C14N_WITH_COMMENTS)


def _digest_value(ref: etree._Element) -> str:
    return "".join((ref.findtext("ds:DigestValue", namespaces=_NS) or "").split())


def _check_same_document_reference(ref: etree._Element, target: etree._Element, digests: frozenset[str]) -> str:
    name = _digest_name(ref, digests)
    # a "#id" URI drops comments unless the transform keeps them (XML-DSig §4.3.3.3)
    with_comments = _transforms_with_comments(ref, default=False)
    if _b64_digest(canonicalize(target, with_comments=with_comments), name) != _digest_value(ref):
        raise _invalid(f"digest of {ref.get('URI')} does not match (the signed part was modified)")
    return name


def _check_signing_certificate(signed_props: etree._Element, signer: x509.Certificate, digests: frozenset[str]) -> None:
    der = signer.public_bytes(serialization.Encoding.DER)
    cert_els = signed_props.findall("xa:SignedSignatureProperties/xa:SigningCertificate/xa:Cert", _NS)
    for cert_el in cert_els:
        cert_digest = cert_el.find("xa:CertDigest", _NS)
        serial = cert_el.findtext("xa:IssuerSerial/ds:X509SerialNumber", namespaces=_NS)
        if cert_digest is None or (serial or "").strip() != str(signer.serial_number):
            continue
        name = _digest_name(cert_digest, digests, XADES_NS)
        value = "".join((cert_digest.findtext("xa:DigestValue", namespaces=_NS) or "").split())
        if _b64_digest(der, name) == value:
            return
        raise _invalid("SigningCertificate CertDigest does not match the signing certificate")
    raise _invalid("SigningCertificate does not name the signing certificate")


def _check_manifest(
    manifest: etree._Element, documents: Mapping[str, bytes], submission_unique_id: str, digests: frozenset[str]
) -> tuple[str, ...]:
    seen: list[str] = []
    for ref in manifest.findall("ds:Reference", _NS):
        uri = ref.get("URI") or ""
        if not uri.startswith("urn:oid:"):
            raise SecurityError(Problem.MANIFEST_DIGEST_MISMATCH, uri=uri, reason="not a urn:oid: reference")
        oid = uri[len("urn:oid:") :]
        if oid in seen:
            raise SecurityError(Problem.MANIFEST_DIGEST_MISMATCH, uri=uri, reason="listed twice")
        seen.append(oid)
        if oid == submission_unique_id:
            continue  # placeholder digest in every sample: nothing to compare
        if oid not in documents:
            raise SecurityError(Problem.MANIFEST_DIGEST_MISMATCH, uri=uri, reason="no such document in the submission")
        name = _digest_name(ref, digests)
        with_comments = _transforms_with_comments(ref, default=True)
        try:
            tree = _parse(documents[oid], document=True).getroottree()
        except SecurityError as exc:
            raise SecurityError(Problem.MANIFEST_DIGEST_MISMATCH, uri=uri, reason=f"document: {exc}") from exc
        if _b64_digest(canonicalize(tree, with_comments=with_comments), name) != _digest_value(ref):
            raise SecurityError(
                Problem.MANIFEST_DIGEST_MISMATCH, uri=uri, reason="digest mismatch: the document is not the one signed"
            )
    if submission_unique_id not in seen:
        raise SecurityError(
            Problem.MANIFEST_DIGEST_MISMATCH, uri=f"urn:oid:{submission_unique_id}", reason="submission set not listed"
        )
    missing = sorted(set(documents) - set(seen))
    if missing:
        raise SecurityError(Problem.MANIFEST_DIGEST_MISMATCH, uri=f"urn:oid:{missing[0]}", reason="document not signed")
    return tuple(o for o in seen if o != submission_unique_id)
