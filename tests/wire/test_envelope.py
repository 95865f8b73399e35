from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier

from facade import xmldoc
from facade.errors import DeliveryError, DocumentBuildError, Problem
from facade.pki import TestPki
from facade.soap import envelope as env
from facade.soap import mtom
from facade.soap.envelope import SoapFault
from facade.soap.registry_response import RegistryError, RegistryResponse, ResponseStatus

NS = {
    "soap": env.SOAP12_NS,
    "wsa": env.WSA_NS,
    "wsse": env.WSSE_NS,
    "saml2": env.SAML2_NS,
    "xdsb": env.XDSB_NS,
    "xop": env.XOP_NS,
    "lcm": env.LCM_NS,
    "rim": env.RIM_NS,
}
MESSAGE_ID = "urn:uuid:5b0e2b6c-1f1e-4a43-9d3c-0f9d4c2f8a11"
TO = "https://dmp.example/si-dmp-server/v2/services/repository"
CDA = b'<?xml version="1.0"?>\r\n<ClinicalDocument xmlns="urn:hl7-org:v3">\n\r--x\x00</ClinicalDocument>\n'
XADES = b"<Signature xmlns='http://www.w3.org/2000/09/xmldsig#'/>"


def submit_objects_request(*ids: str) -> etree._Element:
    lcm = etree.Element(f"{{{env.LCM_NS}}}SubmitObjectsRequest", nsmap={"lcm": env.LCM_NS, "rim": env.RIM_NS})
    rol = etree.SubElement(lcm, f"{{{env.RIM_NS}}}RegistryObjectList")
    for doc_id in ids:
        etree.SubElement(
            rol,
            f"{{{env.RIM_NS}}}ExtrinsicObject",
            id=doc_id,
            mimeType="text/xml",
            objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1",
        )
    return lcm


def build(assertion: Any, *, to: str = TO) -> env.SoapRequest:
    return env.build_provide_and_register(
        submit_objects_request("Document01", "Signature01"),
        [("Document01", CDA), ("Signature01", XADES)],
        assertion,
        to=to,
        message_id=MESSAGE_ID,
    )


def test_request_is_mtom_with_the_iti41_action_and_a_soap12_root(signed_assertion: etree._Element) -> None:
    request = build(signed_assertion)
    assert request.message_id == MESSAGE_ID
    assert request.action == env.ITI41_ACTION
    media_type, params = mtom.parse_content_type(request.content_type)
    assert media_type == "multipart/related"
    assert params["type"] == "application/xop+xml"
    assert params["start-info"] == "application/soap+xml"
    assert params["action"] == "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
    root, parts = mtom.unpack(request.content_type, request.body)
    assert b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"' in request.body
    assert etree.QName(xmldoc.parse(root)).namespace == env.SOAP12_NS
    assert len(parts) == 2


def test_header_follows_the_sample_order_with_soap12_must_understand(signed_assertion: etree._Element) -> None:
    root, _ = mtom.unpack(*_ct_body(build(signed_assertion)))
    envelope = xmldoc.parse(root)
    header = envelope.find("soap:Header", NS)
    assert header is not None
    assert [etree.QName(c).localname for c in header] == ["MessageID", "To", "ReplyTo", "Action", "Security"]
    assert header.findtext("wsa:MessageID", namespaces=NS) == MESSAGE_ID
    assert header.findtext("wsa:To", namespaces=NS) == TO
    assert header.findtext("wsa:ReplyTo/wsa:Address", namespaces=NS) == env.WSA_ANONYMOUS
    assert header.findtext("wsa:Action", namespaces=NS) == env.ITI41_ACTION
    for name in ("ReplyTo", "Action"):
        el = header.find(f"wsa:{name}", NS)
        assert el is not None
        assert el.get(f"{{{env.SOAP12_NS}}}mustUnderstand") == "true"
        assert el.get("mustUnderstand") is None  # the GIE sample's unprefixed form is a quirk
    security = header.find("wsse:Security", NS)
    assert security is not None and len(security) == 1
    assert security[0].tag == f"{{{env.SAML2_NS}}}Assertion"


def test_to_may_be_empty_like_the_gie_sample(signed_assertion: etree._Element) -> None:
    root, _ = mtom.unpack(*_ct_body(build(signed_assertion, to="")))
    to = xmldoc.parse(root).find("soap:Header/wsa:To", NS)
    assert to is not None and to.text is None


def test_each_document_is_an_xop_include_resolving_to_its_exact_bytes(signed_assertion: etree._Element) -> None:
    request = build(signed_assertion)
    parsed = env.parse_provide_and_register(request.content_type, request.body)
    assert parsed.documents == {"Document01": CDA, "Signature01": XADES}
    body = parsed.envelope.find("soap:Body/xdsb:ProvideAndRegisterDocumentSetRequest", NS)
    assert body is not None
    assert [etree.QName(c).localname for c in body] == ["SubmitObjectsRequest", "Document", "Document"]
    includes = body.findall("xdsb:Document/xop:Include", NS)
    assert [i.get("href", "").startswith("cid:") for i in includes] == [True, True]
    assert parsed.message_id == MESSAGE_ID and parsed.to == TO and parsed.action == env.ITI41_ACTION


def test_the_vihf_signature_still_verifies_inside_the_sent_envelope(
    signed_assertion: etree._Element, wire_pki: TestPki
) -> None:
    before = etree.tostring(signed_assertion)
    request = build(signed_assertion)
    root, _ = mtom.unpack(request.content_type, request.body)
    config = SignatureConfiguration(
        signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
        expect_references=1,
    )
    result = XMLVerifier().verify(root, ca_pem_file=str(wire_pki.ca_cert), expect_config=config)
    verified = result.signed_xml
    assert verified is not None and verified.get("ID") == signed_assertion.get("ID")
    assert etree.tostring(signed_assertion) == before  # the caller's element is not moved or changed


def test_a_tampered_assertion_no_longer_verifies(signed_assertion: etree._Element, wire_pki: TestPki) -> None:
    """Guards the previous test: the verifier does catch a change made after signing."""
    tampered = copy.deepcopy(signed_assertion)
    name_id = tampered.find("saml2:Subject/saml2:NameID", NS)
    assert name_id is not None
    name_id.text = "899900000000"
    root, _ = mtom.unpack(*_ct_body(build(tampered)))
    with pytest.raises(Exception, match="[Dd]igest|[Ss]ignature"):
        XMLVerifier().verify(root, ca_pem_file=str(wire_pki.ca_cert))


def test_the_assertion_may_be_given_as_bytes(signed_assertion: etree._Element) -> None:
    as_element = build(signed_assertion)
    as_bytes = build(etree.tostring(signed_assertion))
    assert as_bytes == as_element


def test_same_inputs_give_the_same_bytes(signed_assertion: etree._Element) -> None:
    assert build(signed_assertion) == build(signed_assertion)


@pytest.mark.parametrize(
    ("documents", "reason"),
    [
        ([("Document01", CDA)], "do not match"),
        ([("Document01", CDA), ("Signature01", XADES), ("Other", b"x")], "do not match"),
        ([("Document01", CDA), ("Document01", CDA)], "duplicate"),
    ],
)
def test_documents_must_match_the_document_entries(
    signed_assertion: etree._Element, documents: list[tuple[str, bytes]], reason: str
) -> None:
    with pytest.raises(DocumentBuildError, match=reason) as info:
        env.build_provide_and_register(
            submit_objects_request("Document01", "Signature01"), documents, signed_assertion, to=TO, message_id="m"
        )
    assert info.value.problem is Problem.SOAP_BUILD


def test_wrong_elements_are_refused(signed_assertion: etree._Element) -> None:
    with pytest.raises(DocumentBuildError, match="SubmitObjectsRequest"):
        env.build_provide_and_register(etree.Element("x"), [], signed_assertion, to=TO, message_id="m")
    with pytest.raises(DocumentBuildError, match="saml2:Assertion"):
        env.build_provide_and_register(submit_objects_request(), [], etree.Element("x"), to=TO, message_id="m")


def test_the_xop_decoded_envelope_is_valid_against_the_kit_schemas(
    signed_assertion: etree._Element, kit_validator: Any
) -> None:
    request = build(signed_assertion)
    root, parts = mtom.unpack(request.content_type, request.body)
    envelope = xmldoc.parse(root)
    for include in envelope.iterfind(".//xop:Include", NS):
        document = include.getparent()
        assert document is not None
        document.remove(include)
        document.text = base64.b64encode(parts[mtom.content_id_from_href(include.get("href", ""))].data).decode()
    used, errors = kit_validator.validate_xsd(envelope)
    assert "xds" in used
    assert errors == []
    assertion = envelope.find("soap:Header/wsse:Security/saml2:Assertion", NS)
    assert kit_validator.validate_xsd(copy.deepcopy(assertion)) == ("saml", [])


# ------------------------------------------------------------------------------------------ responses


def test_parse_the_official_td21_response(kit_path: Path) -> None:
    body = (kit_path / "examples" / "dmp" / "TD2.1_alimentation_response.xml").read_bytes()
    response = env.parse_response("application/soap+xml; charset=UTF-8", body)
    assert response.registry_response == RegistryResponse(ResponseStatus.SUCCESS)
    assert response.action == env.ITI41_RESPONSE_ACTION
    assert response.relates_to == "urn:uuid:b3745a7c-4d1a-4cfd-a752-536197e4ac7a"
    assert response.fault is None and response.soap_version == "1.2"


def test_built_response_round_trips() -> None:
    reg = RegistryResponse.failure(RegistryError("XDSRegistryBusy", "busy", "here"))
    body = env.build_response(reg, relates_to=MESSAGE_ID, message_id="urn:uuid:1")
    response = env.parse_response("application/soap+xml", body)
    assert response.registry_response == reg
    assert response.relates_to == MESSAGE_ID and response.message_id == "urn:uuid:1"


def test_dmp_invalid_certificate_fault_as_the_dmp_writes_it() -> None:
    body = f"""<soap:Envelope xmlns:soap="{env.SOAP12_NS}"><soap:Body><soap:Fault>
      <soap:Code><soap:Value>soap:Sender</soap:Value>
        <soap:Subcode><soap:Value>soap:DMPInvalidCertificate</soap:Value></soap:Subcode></soap:Code>
      <soap:Reason><soap:Text xml:lang="fr">Le certificat ayant signé le VIHF est invalide : Not a valid signature
 certificate</soap:Text></soap:Reason>
      <soap:Detail><x:info xmlns:x="urn:x">d1</x:info></soap:Detail>
    </soap:Fault></soap:Body></soap:Envelope>""".encode()
    fault = env.parse_response("application/soap+xml", body).fault
    assert fault is not None
    assert fault.code == "Sender"
    assert fault.subcodes == ("DMPInvalidCertificate",)
    assert fault.reason.startswith("Le certificat ayant signé le VIHF est invalide")
    assert fault.detail == "d1"


def test_built_fault_round_trips() -> None:
    fault = SoapFault("Receiver", ("Busy", "Inner"), "try later", "detail text")
    body = env.build_fault(fault, relates_to=MESSAGE_ID, message_id="urn:uuid:2", subcode_namespace="urn:dmp")
    parsed = env.parse_response("application/soap+xml", body)
    assert parsed.fault == fault
    assert parsed.action == env.WSA_FAULT_ACTION and parsed.relates_to == MESSAGE_ID


def test_soap11_faults_are_understood() -> None:
    body = f"""<s:Envelope xmlns:s="{env.SOAP11_NS}"><s:Body><s:Fault><faultcode>s:Server.Busy</faultcode>
      <faultstring>down</faultstring></s:Fault></s:Body></s:Envelope>""".encode()
    response = env.parse_response("text/xml", body)
    assert response.soap_version == "1.1"
    assert response.fault == SoapFault("Receiver", ("Busy",), "down")


def test_mtom_responses_are_unpacked() -> None:
    answer = env.build_response(RegistryResponse.success(), relates_to=MESSAGE_ID, message_id="urn:uuid:3")
    content_type, body = mtom.pack(answer, [], action=env.ITI41_RESPONSE_ACTION)
    response = env.parse_response(content_type, body)
    assert response.registry_response is not None and response.registry_response.is_success


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">'
        b"<soap:Body>&a;</soap:Body></soap:Envelope>",
        b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>',
        b"<not-soap/>",
        b"<soap:Envelope xmlns:soap='http://www.w3.org/2003/05/soap-envelope'/>",
        b"not xml at all",
    ],
)
def test_unsafe_or_unreadable_answers_are_refused(body: bytes) -> None:
    with pytest.raises(DeliveryError) as info:
        env.parse_response("application/soap+xml", body)
    assert info.value.problem is Problem.SOAP_RESPONSE_INVALID


def test_unexpected_content_type_is_refused() -> None:
    with pytest.raises(DeliveryError, match="Content-Type"):
        env.parse_response("text/html", b"<html/>")


def _ct_body(request: env.SoapRequest) -> tuple[str, bytes]:
    return request.content_type, request.body
