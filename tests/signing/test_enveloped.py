"""The VIHF's own enveloped signer writes signxml's signature byte for byte (RSA PKCS#1 v1.5 is deterministic)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod, SignatureMethod
from signxml.signer import XMLSigner

from facade.credentials import Credential
from facade.pki import TestPki
from facade.soap.saml import VihfSigner, _Sha1CapableSigner
from facade.soap.vihf_verify import verify_vihf

from .conftest import automate_claims

NOW = datetime(2026, 3, 1, 10, 20, 30, 456000, tzinfo=UTC)


def _signxml(signer: VihfSigner, digest: str, include_chain: bool) -> bytes:
    """What VihfSigner wrote through signxml before it had its own signer."""
    signature_method, digest_method = (
        (SignatureMethod.RSA_SHA1, DigestAlgorithm.SHA1)
        if digest == "sha1"
        else (SignatureMethod.RSA_SHA256, DigestAlgorithm.SHA256)
    )
    xml_signer = (_Sha1CapableSigner if digest == "sha1" else XMLSigner)(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=signature_method,
        digest_algorithm=digest_method,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    credential = signer.credential
    certs = [credential.certificate, *(credential.chain if include_chain else ())]
    root = signer.build(automate_claims(), now=NOW, assertion_id="_vihf-42")
    signed = xml_signer.sign(root, key=credential.key, cert=certs, reference_uri="#_vihf-42")
    return bytes(etree.tostring(signed))


@pytest.mark.parametrize("digest", ["sha256", "sha1"])
@pytest.mark.parametrize("include_chain", [False, True])
def test_same_bytes_as_signxml(sign_credential: Credential, digest: str, include_chain: bool) -> None:
    signer = VihfSigner(sign_credential, digest=digest, include_chain=include_chain)
    assert signer._enveloped is not None
    ours = etree.tostring(signer.sign(automate_claims(), now=NOW, assertion_id="_vihf-42"))
    assert ours == _signxml(signer, digest, include_chain)


def test_inside_another_document_it_still_verifies(sign_credential: Credential, pki: TestPki) -> None:
    now = datetime.now(UTC)  # within the test certificate's validity
    assertion = VihfSigner(sign_credential).sign(automate_claims(), now=now, assertion_id="_vihf-43")
    wrapper = etree.Element("{urn:x}Security", nsmap={"x": "urn:x", None: "urn:y"})
    wrapper.append(assertion)
    verified = verify_vihf(etree.tostring(wrapper), ca_pem_file=pki.ca_cert, now=now)
    assert verified is not None
