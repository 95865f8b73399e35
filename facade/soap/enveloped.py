"""An enveloped XML-DSig signature (exclusive C14N, RSA PKCS#1 v1.5) written in place of a placeholder.

The VIHF is signed on every delivery attempt. signxml's ``XMLSigner.sign`` serialises and re-parses the assertion
three times before it digests it (its ``get_root`` copies), which was most of the VIHF's cost beyond the RSA
operation. This signer writes the same signature on the tree as built: the same elements in the same order, the same
namespace declarations, the certificate text as signxml writes it (``strip_pem_header`` of the PEM), so the signed
assertion is byte for byte signxml's (tests/signing/test_enveloped.py compares them). Verification stays with
signxml (``facade.soap.vihf_verify``) and libxmlsec1 in the tests.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.util import strip_pem_header

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"


def _ds(local: str) -> str:
    return f"{{{DS_NS}}}{local}"


@dataclass(frozen=True)
class EnvelopedAlgorithm:
    signature_uri: str
    digest_uri: str
    hashlib_name: str
    hash_cls: type[hashes.HashAlgorithm]


SHA256 = EnvelopedAlgorithm(
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha256",
    hashes.SHA256,
)
SHA1 = EnvelopedAlgorithm(
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1", "sha1", hashes.SHA1
)


class EnvelopedSigner:
    """Signs with one RSA key and certificate chain; what does not change between signatures is computed once."""

    def __init__(
        self, key: rsa.RSAPrivateKey, certs: Sequence[x509.Certificate], algorithm: EnvelopedAlgorithm
    ) -> None:
        self._key = key
        self._algorithm = algorithm
        self._cert_texts: tuple[str, ...] = tuple(
            strip_pem_header(c.public_bytes(Encoding.PEM))  # type: ignore[no-untyped-call]
            for c in certs
        )

    def sign(self, root: etree._Element, placeholder: etree._Element, reference_uri: str) -> None:
        """Turn ``placeholder`` (a ``ds:Signature`` child of ``root``) into the signature of ``root``, in place."""
        index = root.index(placeholder)
        root.remove(placeholder)  # the enveloped-signature transform: the digest covers the rest of the document
        payload = etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
        root.insert(index, placeholder)
        placeholder.attrib.pop("Id", None)
        algorithm = self._algorithm
        signed_info = etree.SubElement(placeholder, _ds("SignedInfo"), nsmap={"ds": DS_NS})
        etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
        etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=algorithm.signature_uri)
        reference = etree.SubElement(signed_info, _ds("Reference"), URI=reference_uri)
        transforms = etree.SubElement(reference, _ds("Transforms"))
        etree.SubElement(transforms, _ds("Transform"), Algorithm=ENVELOPED)
        etree.SubElement(transforms, _ds("Transform"), Algorithm=EXC_C14N)
        etree.SubElement(reference, _ds("DigestMethod"), Algorithm=algorithm.digest_uri)
        digest = hashlib.new(algorithm.hashlib_name, payload).digest()
        etree.SubElement(reference, _ds("DigestValue")).text = base64.b64encode(digest).decode("ascii")
        signature_value = etree.SubElement(placeholder, _ds("SignatureValue"))
        x509_data = etree.SubElement(etree.SubElement(placeholder, _ds("KeyInfo")), _ds("X509Data"))
        for text in self._cert_texts:
            etree.SubElement(x509_data, _ds("X509Certificate")).text = text
        canonical = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
        signature = self._key.sign(canonical, padding.PKCS1v15(), algorithm.hash_cls())
        signature_value.text = base64.b64encode(signature).decode("ascii")


__all__ = ["SHA1", "SHA256", "EnvelopedAlgorithm", "EnvelopedSigner"]
