"""Issue 3: what the DMP receives is checked on the exact bytes the simulator stored (STATE/inbox/<n>.http),
with independent tools: libxmlsec1 for the VIHF and the XAdES SignedInfo, lxml C14N + hashlib for the manifest
digests, hashlib for the XDS hash/size slots."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from facade.pki import TestPki, init_test_pki

from .conftest import Facade, bundle
from .received import (
    NS,
    SHA1,
    Entry,
    ReceivedRequest,
    c14n_with_comments_sha1,
    manifest_digests,
    parse_xml,
    raw_sha1,
    signing_certificate_der,
    xmlsec_verifies_lot,
    xmlsec_verifies_vihf,
)

ITI41_ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"


def _delivered(facade: Facade, name: str) -> ReceivedRequest:
    response = facade.post(bundle(name))
    assert response.status_code == 200, response.text
    (path,) = facade.inbox()
    return ReceivedRequest.read(path)


def _split(received: ReceivedRequest) -> tuple[list[Entry], Entry]:
    documents: list[Entry] = []
    signatures: list[Entry] = []
    for entry in received.entries():
        is_signature = parse_xml(entry.data).tag == f"{{{NS['ds']}}}Signature"
        (signatures if is_signature else documents).append(entry)
    assert len(signatures) == 1 and documents
    return documents, signatures[0]


def _sign_cert_der(pki: TestPki) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(pki.sign_cert.read_bytes()).public_bytes(Encoding.DER)


@pytest.mark.parametrize("name", ["ldl-ses/pdf-discharge-letter.json", "multi/two-documents.json"])
def test_the_received_message_verifies_independently(facade: Facade, e2e_pki: TestPki, name: str) -> None:
    received = _delivered(facade, name)

    # HTTP + MTOM shape
    assert received.request_line == "POST /si-dmp-server/v2/services/repository HTTP/1.1"
    content_type = received.headers["content-type"]
    assert content_type.startswith("multipart/related;")
    assert 'type="application/xop+xml"' in content_type and 'start-info="application/soap+xml"' in content_type
    assert ITI41_ACTION in content_type
    assert received.root.headers["content-type"].startswith("application/xop+xml")
    assert received.envelope.findtext("soap:Header/{http://www.w3.org/2005/08/addressing}Action", namespaces=NS) == (
        ITI41_ACTION
    )

    # VIHF: libxmlsec1 against the test CA, signed by ORG SIGN (never the TLS certificate), issued just now
    assert xmlsec_verifies_vihf(received.envelope, e2e_pki.ca_cert)
    vihf_signature = received.assertion.find("ds:Signature", NS)
    assert vihf_signature is not None and signing_certificate_der(vihf_signature) == _sign_cert_der(e2e_pki)
    issued = datetime.fromisoformat(received.assertion.get("IssueInstant", "").replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - issued) < timedelta(minutes=5)

    documents, signature = _split(received)

    # XDS hash / size slots = the bytes of each part as received
    for entry in [*documents, signature]:
        assert entry.hash == hashlib.sha1(entry.data).hexdigest()  # noqa: S324 (XDS hash is SHA-1)
        assert entry.size == len(entry.data)

    # XAdES "signature du lot": SignedInfo verified by libxmlsec1 over the received parts, signer = ORG SIGN
    by_unique_id = {e.unique_id: e.data for e in documents}
    assert xmlsec_verifies_lot(signature.data, e2e_pki.ca_cert, by_unique_id)
    assert signing_certificate_der(parse_xml(signature.data)) == _sign_cert_der(e2e_pki)

    # Manifest: one reference for the submission set, one per document, SHA-1 of the C14N-with-comments of the
    # received part, which is also the SHA-1 of the raw part (the facade sends canonical bytes)
    manifest = manifest_digests(signature.data)
    assert set(manifest) == {f"urn:oid:{received.submission_set_unique_id}"} | {f"urn:oid:{u}" for u in by_unique_id}
    for unique_id, data in by_unique_id.items():
        algorithm, digest = manifest[f"urn:oid:{unique_id}"]
        assert algorithm == SHA1
        assert digest == c14n_with_comments_sha1(data) == raw_sha1(data)


def test_the_independent_checks_are_real(facade: Facade, e2e_pki: TestPki, tmp_path: Path) -> None:
    """The same checks fail on a changed byte or an untrusted CA: they are not vacuous."""
    received = _delivered(facade, "ldl-ses/pdf-discharge-letter.json")
    documents, signature = _split(received)
    (document,) = documents
    changed = document.data.replace(b"<title>", b"<title> ", 1)
    assert changed != document.data
    _, digest = manifest_digests(signature.data)[f"urn:oid:{document.unique_id}"]
    assert c14n_with_comments_sha1(changed) != digest

    other = init_test_pki(tmp_path / "other-ca", structure_id="1999999999")
    assert not xmlsec_verifies_lot(signature.data, other.ca_cert, {document.unique_id: document.data})
    assert not xmlsec_verifies_vihf(received.envelope, other.ca_cert)

    # a changed VIHF attribute breaks its signature for libxmlsec1
    envelope = parse_xml(received.root.data)
    subject = envelope.find("soap:Header/wsse:Security/saml2:Assertion/saml2:Subject/saml2:NameID", NS)
    assert subject is not None and subject.text
    subject.text = subject.text + "X"
    assert not xmlsec_verifies_vihf(envelope, e2e_pki.ca_cert)
    assert xmlsec_verifies_vihf(parse_xml(received.root.data), e2e_pki.ca_cert)  # the untouched copy still does
