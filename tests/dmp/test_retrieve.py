"""ITI-43 answers read by the facade: MTOM parts or inline base64, PartialSuccess, errors through the one table, and
malformed answers refused; the attachment URL the Binary route reads back."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree

from facade.dmp.ins_param import parse_ins_parameter
from facade.dmp.retrieve import attachment_url, build_request, parse_response
from facade.errors import Problem, RemoteRejectionError
from facade.soap import mtom
from facade.soap.envelope import SoapResponse

X = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
PARTIAL = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"


def answer(status: str, documents: str = "", errors: str = "") -> etree._Element:
    error_list = f'<rs:RegistryErrorList highestSeverity="{ERROR}">{errors}</rs:RegistryErrorList>' if errors else ""
    return etree.fromstring(
        f'<xdsb:RetrieveDocumentSetResponse xmlns:xdsb="{X}" xmlns:rs="{RS}">'
        f'<rs:RegistryResponse status="{status}">{error_list}</rs:RegistryResponse>{documents}'
        "</xdsb:RetrieveDocumentSetResponse>"
    )


def document(unique_id: str, content: str) -> str:
    return (
        f"<xdsb:DocumentResponse><xdsb:RepositoryUniqueId>1.2.250.1.213.4.1.1.1.2</xdsb:RepositoryUniqueId>"
        f"<xdsb:DocumentUniqueId>{unique_id}</xdsb:DocumentUniqueId><xdsb:mimeType>text/xml</xdsb:mimeType>"
        f"<xdsb:Document>{content}</xdsb:Document></xdsb:DocumentResponse>"
    )


def soap(payload: etree._Element, attachments: dict[str, mtom.Part] | None = None) -> SoapResponse:
    return SoapResponse(envelope=b"", payload=payload, attachments=attachments or {})


def test_an_inline_base64_document_and_an_xop_part_both_read() -> None:
    inline = document("1.2.3", base64.b64encode(b"<ClinicalDocument/>").decode())
    xop = document("1.2.4", '<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:d2@x"/>')
    parts = {"d2@x": mtom.Part("d2@x", "application/octet-stream", b"\x00bytes")}
    docs = parse_response(soap(answer(SUCCESS, inline + xop), parts))
    assert [(d.unique_id, d.data, d.mime_type) for d in docs] == [
        ("1.2.3", b"<ClinicalDocument/>", "text/xml"),
        ("1.2.4", b"\x00bytes", "text/xml"),
    ]


def test_partial_success_keeps_the_documents_it_carries() -> None:
    inline = document("1.2.3", base64.b64encode(b"x").decode())
    error = f'<rs:RegistryError errorCode="XDSDocumentUniqueIdError" codeContext="absent" severity="{ERROR}"/>'
    assert [d.unique_id for d in parse_response(soap(answer(PARTIAL, inline, error)))] == ["1.2.3"]


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("XDSDocumentUniqueIdError", Problem.DMP_DOCUMENT_NOT_FOUND),
        ("XDSUnknownRepositoryId", Problem.DMP_DOCUMENT_NOT_FOUND),
        ("XDSRepositoryBusy", Problem.XDS_TRANSIENT),
        ("XDSRepositoryError", Problem.XDS_REGISTRY_ERROR),
    ],
)
def test_a_failure_maps_through_the_table_with_the_retrieve_rows(code: str, problem: Problem) -> None:
    error = f'<rs:RegistryError errorCode="{code}" codeContext="non" severity="{ERROR}"/>'
    with pytest.raises(RemoteRejectionError) as caught:
        parse_response(soap(answer(FAILURE, errors=error)))
    assert caught.value.problem is problem


@pytest.mark.parametrize(
    "payload",
    [
        answer(SUCCESS, document("1.2.3", f'<xop:Include xmlns:xop="{XOP}" href="cid:none"/>')),
        answer(SUCCESS, document("1.2.3", "not base64 !")),
        etree.fromstring(f'<xdsb:RetrieveDocumentSetResponse xmlns:xdsb="{X}"/>'),
        etree.fromstring("<other/>"),
    ],
)
def test_a_malformed_answer_is_refused(payload: etree._Element) -> None:
    with pytest.raises(RemoteRejectionError) as caught:
        parse_response(soap(payload))
    assert caught.value.problem is Problem.SOAP_RESPONSE_INVALID


def test_success_without_any_document_is_not_found() -> None:
    with pytest.raises(RemoteRejectionError) as caught:
        parse_response(soap(answer(SUCCESS)))
    assert caught.value.problem is Problem.DMP_DOCUMENT_NOT_FOUND


def test_the_attachment_url_names_the_document_and_its_patient() -> None:
    url = attachment_url("https://f.example/fhir", "1.2.250.1.999.1", "248039263001064", "1.2.250.1.213.1.4.10")
    parts = urlsplit(url)
    assert parts.path == "/fhir/Binary/1.2.250.1.999.1"
    query = parse_qs(parts.query)["patient.identifier"]
    parsed = parse_ins_parameter(
        query, name="patient.identifier", accepted=frozenset({"1.2.250.1.213.1.4.10"}),
        missing=Problem.BINARY_PATIENT_REQUIRED, expression="Binary",
    )  # fmt: skip
    assert (parsed.ins, parsed.oid) == ("248039263001064", "1.2.250.1.213.1.4.10")


def test_the_request_names_the_repository_and_each_document() -> None:
    request = build_request("1.2.250.1.213.4.1.1.1.2", ["1.2.3", "1.2.4"])
    ids = [e.text for e in request.iter(f"{{{X}}}DocumentUniqueId")]
    assert ids == ["1.2.3", "1.2.4"]
