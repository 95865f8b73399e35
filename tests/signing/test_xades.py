from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from facade.credentials import Credential
from facade.errors import Problem, SecurityError
from facade.pki import TestPki
from facade.soap.xades import LotSigner, canonical_document, canonicalize, document_digest
from facade.soap.xades_verify import verify_lot_signature

NOW = datetime.now(UTC).replace(microsecond=250000)  # the session PKI is valid from now - 1 h
SIGNING_TIME = NOW.isoformat(timespec="milliseconds").encode()
DS = "http://www.w3.org/2000/09/xmldsig#"
XA = "http://uri.etsi.org/01903/v1.1.1#"
NS = {"ds": DS, "xa": XA}
SS_ID = "1.2.250.1.999.1.1.7898.3.1"
CDA = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- produced by the facade -->\n'
    b'<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    b'<id root="1.2.250.1.999.1.1.7898.4.1"/><!-- a comment --><title>Compte rendu d\xc3\xa9mo</title>'
    b"</ClinicalDocument>\n"
)
CDA2 = b"<ClinicalDocument xmlns='urn:hl7-org:v3'><id root='1.2.250.1.999.1.1.7898.4.2'/></ClinicalDocument>"
DOCS = {"1.2.250.1.999.1.1.7898.4.1": CDA, "1.2.250.1.999.1.1.7898.4.2": CDA2}


def _sign(credential: Credential, documents: Mapping[str, bytes] = DOCS, **options: object) -> bytes:
    return LotSigner(credential, **options).sign(  # type: ignore[arg-type]
        submission_unique_id=SS_ID, documents=list(documents.items()), now=NOW, signature_id="sig-0421d1cc"
    )


def _verify(xml: bytes, pki: TestPki, documents: Mapping[str, bytes] = DOCS, **kw: object) -> object:
    return verify_lot_signature(xml, documents, ca_pem_file=pki.ca_cert, submission_unique_id=SS_ID, now=NOW, **kw)  # type: ignore[arg-type]


# --- the official sample as a test vector for the canonicalisation ---


def test_reproduces_the_gie_sample_digests_and_signature(kit_path: Path) -> None:
    """Our C14N reproduces both SignedInfo digests of the GIE sample, and its SignatureValue verifies."""
    root = etree.parse(str(kit_path / "examples/dmp/TD2.1_SignatureXades.xml")).getroot()
    manifest = root.find("ds:Object/ds:Manifest", NS)
    props = root.find("ds:Object/xa:QualifyingProperties/xa:SignedProperties", NS)
    assert manifest is not None and props is not None
    digests = {
        r.get("URI"): r.findtext("ds:DigestValue", namespaces=NS)
        for r in root.iterfind("ds:SignedInfo/ds:Reference", NS)
    }
    sha1 = lambda data: base64.b64encode(hashlib.sha1(data).digest()).decode()  # noqa: E731
    assert sha1(canonicalize(manifest, with_comments=False)) == digests["#IHEManifest"]
    assert sha1(canonicalize(props, with_comments=False)) == digests["#S0-SignedProperties"]
    cert_b64 = "".join((root.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS) or "").split())
    cert = x509.load_der_x509_certificate(base64.b64decode(cert_b64))
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    signature = base64.b64decode("".join((root.findtext("ds:SignatureValue", namespaces=NS) or "").split()))
    signed_info = root.find("ds:SignedInfo", NS)
    assert signed_info is not None
    public_key.verify(signature, canonicalize(signed_info, with_comments=True), padding.PKCS1v15(), hashes.SHA1())
    first_cert_digest = props.findtext(
        "xa:SignedSignatureProperties/xa:SigningCertificate/xa:Cert/xa:CertDigest/xa:DigestValue", namespaces=NS
    )
    assert sha1(cert.public_bytes(serialization.Encoding.DER)) == first_cert_digest


# --- shape ---


def test_signature_shape(sign_credential: Credential) -> None:
    root = etree.fromstring(_sign(sign_credential))
    assert root.tag == f"{{{DS}}}Signature" and root.get("Id") == "sig-0421d1cc"
    assert [etree.QName(c).localname for c in root] == [
        "SignedInfo",
        "SignatureValue",
        "KeyInfo",
        "Object",
        "Object",
        "Object",
    ]
    si = root.find("ds:SignedInfo", NS)
    assert si is not None
    assert si.find("ds:CanonicalizationMethod", NS).get("Algorithm") == (  # type: ignore[union-attr]
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
    )
    assert si.find("ds:SignatureMethod", NS).get("Algorithm") == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"  # type: ignore[union-attr]
    refs = [(r.get("Type"), r.get("URI"), r.find("ds:Transforms", NS)) for r in si.iterfind("ds:Reference", NS)]
    assert [(t, u) for t, u, _ in refs] == [
        ("http://www.w3.org/2000/09/xmldsig#Manifest", "#IHEManifest"),
        ("http://uri.etsi.org/01903/v1.1.1#SignedProperties", "#S0-SignedProperties"),
    ]
    assert all(tr is None for _, _, tr in refs)  # as the GIE sample
    cert_b64 = root.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS) or ""
    assert x509.load_der_x509_certificate(base64.b64decode(cert_b64)) == sign_credential.certificate

    manifest = root.find("ds:Object/ds:Manifest", NS)
    assert manifest is not None and manifest.get("Id") == "IHEManifest"
    mrefs = manifest.findall("ds:Reference", NS)
    assert [r.get("URI") for r in mrefs] == [f"urn:oid:{SS_ID}", *(f"urn:oid:{u}" for u in DOCS)]
    assert mrefs[0].findtext("ds:DigestValue", namespaces=NS) == "AA==" and mrefs[0].find("ds:Transforms", NS) is None
    for ref, content in zip(mrefs[1:], DOCS.values(), strict=True):
        [transform] = ref.findall("ds:Transforms/ds:Transform", NS)
        assert transform.get("Algorithm") == "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
        assert ref.findtext("ds:DigestValue", namespaces=NS) == _independent_digest(content)

    prop = root.find("ds:Object/ds:SignatureProperties/ds:SignatureProperty", NS)
    assert prop is not None and prop.get("Id") == "purposeOfSignature" and prop.get("Target") == "#sig-0421d1cc"
    assert prop.text == "1.2.840.10065.1.12.1.14"

    qp = root.find("ds:Object/xa:QualifyingProperties", NS)
    assert qp is not None and qp.get("Target") == "#sig-0421d1cc"
    ssp = qp.find("xa:SignedProperties[@Id='S0-SignedProperties']/xa:SignedSignatureProperties", NS)
    assert ssp is not None
    assert ssp.findtext("xa:SigningTime", namespaces=NS) == SIGNING_TIME.decode()
    assert SIGNING_TIME.endswith(b".250+00:00")
    certs = ssp.findall("xa:SigningCertificate/xa:Cert", NS)
    chain = [sign_credential.certificate, *sign_credential.chain]
    assert len(certs) == len(chain) == 2  # signer + the test CA, as the kit/GIE do
    for el, cert in zip(certs, chain, strict=True):
        der = cert.public_bytes(serialization.Encoding.DER)
        assert el.find("xa:CertDigest/xa:DigestMethod", NS).get("Algorithm") == f"{DS}sha1"  # type: ignore[union-attr]
        assert (
            el.findtext("xa:CertDigest/xa:DigestValue", namespaces=NS)
            == base64.b64encode(hashlib.sha1(der).digest()).decode()
        )
        assert el.findtext("xa:IssuerSerial/ds:X509IssuerName", namespaces=NS) == cert.issuer.rfc4514_string()
        assert el.findtext("xa:IssuerSerial/ds:X509SerialNumber", namespaces=NS) == str(cert.serial_number)
    assert ssp.find("xa:SignaturePolicyIdentifier/xa:SignaturePolicyImplied", NS) is not None
    sdop = qp.find("xa:SignedProperties/xa:SignedDataObjectProperties", NS)
    assert sdop is not None and len(sdop) == 0


def test_sha256_option(sign_credential: Credential, pki: TestPki) -> None:
    xml = _sign(sign_credential, digest="sha256", include_chain=False)
    root = etree.fromstring(xml)
    assert root.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm") == (  # type: ignore[union-attr]
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    )
    assert {m.get("Algorithm") for m in root.iter(f"{{{DS}}}DigestMethod", f"{{{XA}}}DigestMethod")} == {
        "http://www.w3.org/2001/04/xmlenc#sha256"
    }
    assert len(root.findall(".//xa:Cert", NS)) == 1
    verified = _verify(xml, pki)
    assert verified.digest == "sha256" and verified.signature_method == "sha256"  # type: ignore[attr-defined]
    with pytest.raises(SecurityError) as err:
        _verify(_sign(sign_credential), pki, digests=frozenset({"sha256"}))  # a SHA-1 lot refused when not allowed
    assert err.value.problem is Problem.SIGNATURE_INVALID
    with pytest.raises(SecurityError):
        LotSigner(sign_credential, digest="md5")


# --- verification ---


def test_round_trip(sign_credential: Credential, pki: TestPki) -> None:
    verified = _verify(_sign(sign_credential), pki)
    assert verified.document_ids == tuple(DOCS)  # type: ignore[attr-defined]
    assert verified.certificate == sign_credential.certificate  # type: ignore[attr-defined]
    assert verified.signature_id == "sig-0421d1cc" and verified.digest == "sha1"  # type: ignore[attr-defined]


def test_document_digest_is_over_the_canonical_form() -> None:
    # same infoset, other serialisation: same digest; a changed comment: another digest (C14N *with comments*)
    reserialised = CDA.replace(b'<?xml version="1.0" encoding="UTF-8"?>\n', b"").replace(b"/>", b"></id>", 1)
    assert document_digest(reserialised) == document_digest(CDA)
    assert document_digest(CDA.replace(b"a comment", b"another comment")) != document_digest(CDA)
    assert document_digest(CDA) == _independent_digest(CDA)


def test_canonical_document_digest_equals_the_wire_digest() -> None:
    canonical = canonical_document(CDA)
    assert canonical == canonical_document(canonical)  # idempotent
    assert not canonical.startswith(b"<?xml") and b"<!-- a comment -->" in canonical
    assert document_digest(canonical) == document_digest(CDA)
    assert document_digest(canonical) == base64.b64encode(hashlib.sha1(canonical).digest()).decode()


def test_tampered_document_is_detected(sign_credential: Credential, pki: TestPki) -> None:
    xml = _sign(sign_credential)
    tampered = {**DOCS, "1.2.250.1.999.1.1.7898.4.1": CDA.replace(b"d\xc3\xa9mo", b"modifie")}
    with pytest.raises(SecurityError) as err:
        _verify(xml, pki, tampered)
    assert err.value.problem is Problem.MANIFEST_DIGEST_MISMATCH
    assert "urn:oid:1.2.250.1.999.1.1.7898.4.1" in str(err.value)
    # libxmlsec1 does not fail a signature on a Manifest reference (XML-DSig leaves it to the application):
    # that is why the manifest digests are checked by us, and independently below
    assert _xmlsec_verifies(xml, pki, tampered)
    assert not _independent_manifest_ok(xml, tampered)


@pytest.mark.parametrize(
    ("documents", "reason"),
    [
        ({"1.2.250.1.999.1.1.7898.4.1": CDA}, "no such document"),  # the lot names a document not received
        ({**DOCS, "1.2.250.1.999.1.1.7898.4.3": CDA2}, "not signed"),  # a document outside the lot
    ],
)
def test_manifest_must_match_the_submission(
    sign_credential: Credential, pki: TestPki, documents: dict[str, bytes], reason: str
) -> None:
    with pytest.raises(SecurityError) as err:
        _verify(_sign(sign_credential), pki, documents)
    assert err.value.problem is Problem.MANIFEST_DIGEST_MISMATCH and reason in str(err.value)


def test_wrong_submission_set(sign_credential: Credential, pki: TestPki) -> None:
    with pytest.raises(SecurityError) as err:
        verify_lot_signature(
            _sign(sign_credential), DOCS, ca_pem_file=pki.ca_cert, submission_unique_id="1.2.3", now=NOW
        )
    assert err.value.problem is Problem.MANIFEST_DIGEST_MISMATCH


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (SIGNING_TIME, SIGNING_TIME.replace(b".250", b".251")),  # SigningTime (in SignedProperties)
        (b"urn:oid:1.2.250.1.999.1.1.7898.4.2", b"urn:oid:1.2.250.1.999.1.1.7898.4.9"),  # a manifest URI
        (b'Id="S0-SignedProperties"', b'Id="S1-SignedProperties"'),  # reference no longer resolves
    ],
)
def test_tampered_signed_parts(sign_credential: Credential, pki: TestPki, old: bytes, new: bytes) -> None:
    xml = _sign(sign_credential)
    assert old in xml
    tampered = xml.replace(old, new)
    with pytest.raises(SecurityError) as err:
        _verify(tampered, pki)
    assert err.value.problem is Problem.SIGNATURE_INVALID
    assert not _xmlsec_verifies(tampered, pki, DOCS)


def test_duplicate_id_is_refused(sign_credential: Credential, pki: TestPki) -> None:
    root = etree.fromstring(_sign(sign_credential))
    decoy = etree.SubElement(root, f"{{{DS}}}Object")
    etree.SubElement(decoy, f"{{{DS}}}Manifest", Id="IHEManifest")
    with pytest.raises(SecurityError) as err:
        _verify(etree.tostring(root), pki)
    assert err.value.problem is Problem.SIGNATURE_INVALID and "designates 2" in str(err.value)


def test_signed_with_the_auth_certificate(auth_credential: Credential, pki: TestPki) -> None:
    xml = _sign(auth_credential)
    assert _xmlsec_verifies(xml, pki, DOCS)  # cryptographically fine, wrong kind of certificate
    with pytest.raises(SecurityError) as err:
        _verify(xml, pki)
    assert err.value.problem is Problem.SIGNER_NOT_SIGNING_CERTIFICATE


def test_signer_from_another_ca(sign_credential: Credential, tmp_path: Path) -> None:
    from facade.pki import init_test_pki

    other = init_test_pki(tmp_path / "other", structure_id="10B0127189")
    with pytest.raises(SecurityError) as err:
        verify_lot_signature(
            _sign(sign_credential), DOCS, ca_pem_file=other.ca_cert, submission_unique_id=SS_ID, now=NOW
        )
    assert err.value.problem is Problem.SIGNER_UNTRUSTED


def test_doctype_refused(sign_credential: Credential, pki: TestPki) -> None:
    xml = _sign(sign_credential).replace(b"?>", b'?><!DOCTYPE Signature [<!ENTITY x "y">]>', 1)
    with pytest.raises(SecurityError) as err:
        _verify(xml, pki)
    assert err.value.problem is Problem.XML_FORBIDDEN_CONSTRUCT


# --- independent verification: libxmlsec1 for SignedInfo + its two references; lxml C14N + hashlib for the
# manifest digests (libxmlsec1 dereferences them through our IO callback but does not fail on a mismatch) ---


def test_independent_verifiers_accept_our_lot(sign_credential: Credential, pki: TestPki) -> None:
    for digest in ("sha1", "sha256"):
        xml = _sign(sign_credential, digest=digest)
        assert _xmlsec_verifies(xml, pki, DOCS)
        assert _independent_manifest_ok(xml, DOCS)


def test_xmlsec_check_is_real(sign_credential: Credential, pki: TestPki, tmp_path: Path) -> None:
    from facade.pki import init_test_pki

    xml = _sign(sign_credential)
    other = init_test_pki(tmp_path / "other", structure_id="10B0127189")
    assert not _xmlsec_verifies(xml, other, DOCS)  # untrusted signer
    assert not _xmlsec_verifies(xml.replace(b"<SignatureValue>", b"<SignatureValue>AAAA"), pki, DOCS)
    # SignatureProperties is outside the signed references, as in the GIE sample
    assert _xmlsec_verifies(xml.replace(b"1.2.840.10065.1.12.1.14", b"1.2.840.10065.1.12.1.1"), pki, DOCS)


def _independent_digest(document: bytes, algorithm: str = "sha1") -> str:
    canonical = etree.tostring(etree.fromstring(document).getroottree(), method="c14n", with_comments=True)
    return base64.b64encode(hashlib.new(algorithm, canonical).digest()).decode()


def _independent_manifest_ok(xml: bytes, documents: Mapping[str, bytes]) -> bool:
    root = etree.fromstring(xml)
    algorithms = {f"{DS}sha1": "sha1", "http://www.w3.org/2001/04/xmlenc#sha256": "sha256"}
    for ref in root.iterfind("ds:Object/ds:Manifest/ds:Reference", NS):
        oid = (ref.get("URI") or "").removeprefix("urn:oid:")
        if oid == SS_ID:
            continue
        algorithm = algorithms[ref.find("ds:DigestMethod", NS).get("Algorithm")]  # type: ignore[union-attr,index]
        if oid not in documents or ref.findtext("ds:DigestValue", namespaces=NS) != _independent_digest(
            documents[oid], algorithm
        ):
            return False
    return True


@pytest.fixture(autouse=True)
def _restore_xmlsec_io() -> Iterator[None]:
    yield
    xmlsec.cleanup_callbacks()
    xmlsec.register_default_callbacks()


def _xmlsec_verifies(xml: bytes, pki: TestPki, documents: Mapping[str, bytes]) -> bool:
    """libxmlsec1: SignedInfo signature, the Manifest and SignedProperties references, the signer's chain."""
    xmlsec.cleanup_callbacks()  # only ours: urn:oid: URIs are served from `documents`, nothing else is read
    xmlsec.register_callbacks(
        lambda uri: uri.startswith(b"urn:oid:"),
        lambda uri: io.BytesIO(documents.get(uri.decode()[len("urn:oid:") :], b"")),
        lambda f, buf: f.readinto(buf),
        lambda f: f.close(),
    )
    root = etree.fromstring(xml)
    xmlsec.tree.add_ids(root, ["Id"])
    manager = xmlsec.KeysManager()
    manager.load_cert(str(pki.ca_cert), xmlsec.constants.KeyDataFormatCertPem, xmlsec.constants.KeyDataTypeTrusted)
    try:
        xmlsec.SignatureContext(manager).verify(root)
    except xmlsec.Error:
        return False
    return True
