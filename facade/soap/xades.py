"""The XAdES "signature du lot" (spec digest §4.2): a detached XML-DSig over an IHE manifest of `urn:oid:` references.

Shape of the GIE sample `TD2.1_SignatureXades.xml` (kit éditeur v2.06.01 output): `ds:Signature Id` → SignedInfo
(C14N 1.0 *with comments*; Reference `#IHEManifest` typed Manifest, Reference `#S0-SignedProperties` typed XAdES
1.1.1 SignedProperties) → SignatureValue → KeyInfo → Object/Manifest (the submission set reference, then one
reference per document with a C14N-with-comments transform and the digest of the canonicalised document) →
Object/SignatureProperties (purposeOfSignature 1.2.840.10065.1.12.1.14, ASTM "Source") → Object/QualifyingProperties
(XAdES **1.1.1**: SigningTime, SigningCertificate v1 with CertDigest + IssuerSerial, SignaturePolicyImplied, empty
SignedDataObjectProperties).

Built with lxml + cryptography, not signxml.xades (it writes XAdES 1.3.2 / SigningCertificateV2).

Choices on uncertain points:
* digest default **SHA-1 / rsa-sha1**: every official sample and the GIE kit use it and SHA-256 acceptance by the DMP
  for the lot signature is not documented (spec digest §4.2 last bullet); `digest="sha256"` switches both the
  digests and the signature method (rsa-sha256);
* the submission set reference carries the placeholder digest `AA==` exactly as the sample (nothing defines what
  would be digested); the verifier checks that it is present and names the submission set;
* SignatureProperties is written in the XML-DSig namespace (the standard, IHE DSG); the sample writes it unqualified
  (`xmlns=""`), a kit quirk. It is not covered by the signature either way.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import verification as xv
from lxml import etree

from facade import xmldoc
from facade.cda.canonical import CanonicalXml, canonicalize
from facade.credentials import Credential, signing_usage_problem, verify_certificate_chain
from facade.errors import Problem, SecurityError
from facade.ids import system_now

__all__ = [
    "C14N_WITH_COMMENTS",
    "PURPOSE_SOURCE",
    "LotSigner",
    "VerifiedLot",
    "canonical_document",
    "canonicalize",
    "document_digest",
    "verify_lot_signature",
]

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.1.1#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_WITH_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
MANIFEST_TYPE = "http://www.w3.org/2000/09/xmldsig#Manifest"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903/v1.1.1#SignedProperties"
MANIFEST_ID = "IHEManifest"
SIGNED_PROPERTIES_ID = "S0-SignedProperties"
PURPOSE_SOURCE = "1.2.840.10065.1.12.1.14"  # ASTM E1762 "Source" (purposeOfSignature)
SUBMISSION_SET_PLACEHOLDER_DIGEST = "AA=="

# name -> (DigestMethod URI, SignatureMethod URI, hashlib name, cryptography hash)
_ALGORITHMS: dict[str, tuple[str, str, str, type[hashes.HashAlgorithm]]] = {
    "sha1": (
        "http://www.w3.org/2000/09/xmldsig#sha1",
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        "sha1",
        hashes.SHA1,
    ),
    "sha256": (
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "sha256",
        hashes.SHA256,
    ),
}
_BY_DIGEST_URI = {v[0]: k for k, v in _ALGORITHMS.items()}
_BY_SIGNATURE_URI = {v[1]: k for k, v in _ALGORITHMS.items()}


def _q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def _ds(parent: etree._Element, local: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, _q(DS_NS, local), attrs)
    if text is not None:
        el.text = text
    return el


def _xa(parent: etree._Element, local: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, _q(XADES_NS, local))
    if text is not None:
        el.text = text
    return el


def _b64_digest(data: bytes, algorithm: str) -> str:
    return base64.b64encode(hashlib.new(_ALGORITHMS[algorithm][2], data).digest()).decode("ascii")


def document_digest(document: bytes, algorithm: str = "sha1") -> str:
    """Base64 digest of a document as the manifest references it: C14N 1.0 with comments of the parsed bytes.

    The document must be sent exactly as given (its canonical form is what the DMP recomputes). Bytes already in
    that form (``CanonicalXml``, made from the pipeline's only parse of the CDA) are hashed as they are.
    """
    if isinstance(document, CanonicalXml):
        return _b64_digest(document, algorithm)
    tree = _parse(document, document=True).getroottree()
    return _b64_digest(canonicalize(tree, with_comments=True), algorithm)


def canonical_document(document: bytes) -> CanonicalXml:
    """The document's C14N-with-comments form (UTF-8, no XML declaration).

    Sending these bytes makes the manifest digest equal to the digest of the bytes on the wire, so a receiver that
    skips the manifest transform still matches (DRIM sends the CDA canonicalised for this reason, spec digest §4.2).
    """
    return CanonicalXml(canonicalize(_parse(document, document=True).getroottree(), with_comments=True))


class LotSigner:
    """Signs the submission set ("lot") with the ORG SIGN credential (checked by the caller at start-up)."""

    def __init__(
        self,
        credential: Credential,
        *,
        digest: str = "sha1",
        include_chain: bool = True,
    ) -> None:
        if digest not in _ALGORITHMS:
            raise SecurityError(Problem.CONFIGURATION, reason=f"XAdES digest must be one of {sorted(_ALGORITHMS)}")
        if not isinstance(credential.key, rsa.RSAPrivateKey):
            raise SecurityError(Problem.CONFIGURATION, reason="the XAdES lot signature needs an RSA key")
        self.credential = credential
        self.digest = digest
        self.include_chain = include_chain

    def sign(
        self,
        *,
        submission_unique_id: str,
        documents: Sequence[tuple[str, bytes]],
        now: datetime,
        signature_id: str,
    ) -> bytes:
        """The XAdES document (UTF-8 bytes, to be sent as is). `documents`: (uniqueId, exact bytes sent)."""
        if not documents:
            raise SecurityError(Problem.SIGNING_FAILED, artefact="XAdES lot", reason="no document to sign")
        if now.tzinfo is None:
            raise SecurityError(Problem.SIGNING_FAILED, artefact="XAdES lot", reason="naive datetime")
        digest_uri, signature_uri, _, hash_cls = _ALGORITHMS[self.digest]

        root = etree.Element(_q(DS_NS, "Signature"), Id=signature_id, nsmap={None: DS_NS})
        signed_info = _ds(root, "SignedInfo")
        _ds(signed_info, "CanonicalizationMethod", Algorithm=C14N_WITH_COMMENTS)
        _ds(signed_info, "SignatureMethod", Algorithm=signature_uri)
        manifest_ref = _ds(signed_info, "Reference", Type=MANIFEST_TYPE, URI=f"#{MANIFEST_ID}")
        _ds(manifest_ref, "DigestMethod", Algorithm=digest_uri)
        manifest_digest = _ds(manifest_ref, "DigestValue")
        props_ref = _ds(signed_info, "Reference", Type=SIGNED_PROPERTIES_TYPE, URI=f"#{SIGNED_PROPERTIES_ID}")
        _ds(props_ref, "DigestMethod", Algorithm=digest_uri)
        props_digest = _ds(props_ref, "DigestValue")
        signature_value = _ds(root, "SignatureValue")
        x509_data = _ds(_ds(root, "KeyInfo"), "X509Data")
        _ds(x509_data, "X509Certificate", _der_b64(self.credential.certificate))

        manifest = self._manifest(root, submission_unique_id, documents, digest_uri)
        properties = _ds(_ds(root, "Object"), "SignatureProperties")
        prop = _ds(properties, "SignatureProperty", Id="purposeOfSignature", Target=f"#{signature_id}")
        prop.text = PURPOSE_SOURCE
        signed_props = self._signed_properties(root, signature_id, now, digest_uri)

        # digests of same-document references without transforms: C14N 1.0 without comments (XML-DSig §4.3.3.3)
        manifest_digest.text = _b64_digest(canonicalize(manifest, with_comments=False), self.digest)
        props_digest.text = _b64_digest(canonicalize(signed_props, with_comments=False), self.digest)
        key = self.credential.key
        assert isinstance(key, rsa.RSAPrivateKey)  # checked in __init__
        signature = key.sign(canonicalize(signed_info, with_comments=True), padding.PKCS1v15(), hash_cls())
        signature_value.text = base64.b64encode(signature).decode("ascii")
        xml: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        return xml

    def _manifest(
        self, root: etree._Element, submission_unique_id: str, documents: Sequence[tuple[str, bytes]], digest_uri: str
    ) -> etree._Element:
        """ds:Object/ds:Manifest: the submission set, then each document by uniqueId with its own digest."""
        manifest = _ds(_ds(root, "Object"), "Manifest", Id=MANIFEST_ID)
        ss_ref = _ds(manifest, "Reference", URI=f"urn:oid:{submission_unique_id}")
        _ds(ss_ref, "DigestMethod", Algorithm=digest_uri)
        _ds(ss_ref, "DigestValue", SUBMISSION_SET_PLACEHOLDER_DIGEST)
        for unique_id, content in documents:
            ref = _ds(manifest, "Reference", URI=f"urn:oid:{unique_id}")
            _ds(_ds(ref, "Transforms"), "Transform", Algorithm=C14N_WITH_COMMENTS)
            _ds(ref, "DigestMethod", Algorithm=digest_uri)
            try:
                _ds(ref, "DigestValue", document_digest(content, self.digest))
            except SecurityError as exc:
                raise SecurityError(
                    Problem.SIGNING_FAILED, artefact="XAdES lot", reason=f"document {unique_id}: {exc}"
                ) from exc
        return manifest

    def _signed_properties(
        self, root: etree._Element, signature_id: str, now: datetime, digest_uri: str
    ) -> etree._Element:
        """ds:Object/xa:QualifyingProperties/xa:SignedProperties (XAdES 1.1.1: SigningCertificate v1, IssuerSerial)."""
        qualifying = etree.SubElement(
            _ds(root, "Object"), _q(XADES_NS, "QualifyingProperties"), Target=f"#{signature_id}", nsmap={None: XADES_NS}
        )
        signed_props = _xa(qualifying, "SignedProperties")
        signed_props.set("Id", SIGNED_PROPERTIES_ID)
        sig_props = _xa(signed_props, "SignedSignatureProperties")
        _xa(sig_props, "SigningTime", now.isoformat(timespec="milliseconds"))
        signing_certificate = _xa(sig_props, "SigningCertificate")
        chain = (self.credential.certificate, *(self.credential.chain if self.include_chain else ()))
        for cert in chain:
            cert_el = _xa(signing_certificate, "Cert")
            cert_digest = _xa(cert_el, "CertDigest")
            # XAdES 1.1.1 declares CertDigest's children locally: they are in the XAdES namespace (as in the sample)
            _xa(cert_digest, "DigestMethod").set("Algorithm", digest_uri)
            _xa(cert_digest, "DigestValue", _b64_digest(cert.public_bytes(serialization.Encoding.DER), self.digest))
            issuer_serial = _xa(cert_el, "IssuerSerial")
            etree.SubElement(
                issuer_serial, _q(DS_NS, "X509IssuerName"), nsmap={None: DS_NS}
            ).text = cert.issuer.rfc4514_string()
            etree.SubElement(issuer_serial, _q(DS_NS, "X509SerialNumber"), nsmap={None: DS_NS}).text = str(
                cert.serial_number
            )
        _xa(_xa(sig_props, "SignaturePolicyIdentifier"), "SignaturePolicyImplied")
        _xa(signed_props, "SignedDataObjectProperties")
        return signed_props


def _der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


# --- verification ------------------------------------------------------------------------------------------------


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


def _invalid(reason: str) -> SecurityError:
    return SecurityError(Problem.SIGNATURE_INVALID, artefact="XAdES lot", reason=reason)


def _parse(xml: bytes, *, document: bool) -> etree._Element:
    """xmldoc errors as SecurityError. A DOCTYPE/entity is XML_FORBIDDEN_CONSTRUCT. A document (a CDA: its base64
    may exceed libxml2's 10 MB text limit, hence large_text; its size is bounded upstream) that is not well-formed
    cannot be digested (SIGNING_FAILED); a lot signature that is not well-formed is SIGNATURE_INVALID."""
    try:
        return xmldoc.parse(xml, large_text=document)
    except xmldoc.UnsafeXmlError as exc:
        raise SecurityError(Problem.XML_FORBIDDEN_CONSTRUCT, reason=str(exc)) from exc
    except xmldoc.MalformedXmlError as exc:
        if document:
            raise SecurityError(Problem.SIGNING_FAILED, artefact="XAdES lot", reason=f"document: {exc}") from exc
        raise _invalid(f"not well-formed XML: {exc}") from exc


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
