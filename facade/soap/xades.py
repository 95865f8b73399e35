"""The XAdES "signature du lot" (spec digest §4.2): a detached XML-DSig over an IHE manifest of `urn:oid:` references.

Shape of the GIE sample `TD2.1_SignatureXades.xml` (kit éditeur v2.06.01 output): `ds:Signature Id` → SignedInfo
(C14N 1.0 *with comments*; Reference `#IHEManifest` typed Manifest, Reference `#S0-SignedProperties` typed XAdES
1.1.1 SignedProperties) → SignatureValue → KeyInfo → Object/Manifest (the submission set reference, then one
reference per document with a C14N-with-comments transform and the digest of the canonicalised document) →
Object/SignatureProperties (purposeOfSignature 1.2.840.10065.1.12.1.14, ASTM "Source") → Object/QualifyingProperties
(XAdES **1.1.1**: SigningTime, SigningCertificate v1 with CertDigest + IssuerSerial, SignaturePolicyImplied, empty
SignedDataObjectProperties).

Built with lxml + cryptography, not signxml.xades (it writes XAdES 1.3.2 / SigningCertificateV2). Verification:
``facade.soap.xades_verify``.

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
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from facade import xmldoc
from facade.cda.canonical import CanonicalXml, canonicalize
from facade.credentials import Credential
from facade.errors import Problem, SecurityError

__all__ = [
    "C14N_WITH_COMMENTS",
    "PURPOSE_SOURCE",
    "LotSigner",
    "canonical_document",
    "canonicalize",
    "document_digest",
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
        # the certificates' part of every signature, computed once: KeyInfo, then per certificate of
        # SigningCertificate its digest, issuer name and serial number
        self._key_info = _der_b64(credential.certificate)
        chain = (credential.certificate, *(credential.chain if include_chain else ()))
        self._signing_certificates = tuple(
            (
                _b64_digest(cert.public_bytes(serialization.Encoding.DER), digest),
                cert.issuer.rfc4514_string(),
                str(cert.serial_number),
            )
            for cert in chain
        )

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
        _ds(x509_data, "X509Certificate", self._key_info)

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
        for cert_digest_value, issuer_name, serial_number in self._signing_certificates:
            cert_el = _xa(signing_certificate, "Cert")
            cert_digest = _xa(cert_el, "CertDigest")
            # XAdES 1.1.1 declares CertDigest's children locally: they are in the XAdES namespace (as in the sample)
            _xa(cert_digest, "DigestMethod").set("Algorithm", digest_uri)
            _xa(cert_digest, "DigestValue", cert_digest_value)
            issuer_serial = _xa(cert_el, "IssuerSerial")
            etree.SubElement(issuer_serial, _q(DS_NS, "X509IssuerName"), nsmap={None: DS_NS}).text = issuer_name
            etree.SubElement(issuer_serial, _q(DS_NS, "X509SerialNumber"), nsmap={None: DS_NS}).text = serial_number
        _xa(_xa(sig_props, "SignaturePolicyIdentifier"), "SignaturePolicyImplied")
        _xa(signed_props, "SignedDataObjectProperties")
        return signed_props


def _der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


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
