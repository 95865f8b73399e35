"""ITI-18 request builders against the kit's official TD3.1 request, and the response parser against its response."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from facade import xmldoc
from facade.dmp.stored_query import (
    FindCriteria,
    ReturnType,
    StoredQuery,
    build_find_documents,
    build_get_documents,
    coded,
    latest_current,
    read_query_response,
    value_list,
)
from facade.errors import RemoteRejectionError
from facade.model.document import Code
from facade.soap.envelope import parse_response
from facade.xds.codes import AvailabilityStatus
from facade.xds.error_mapping import XDS_ERROR_SYSTEM

KIT_INS_CX = "207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH"
QUERY_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"


def _kit_dmp(kit_dir: Path, name: str) -> Path:
    path = kit_dir / "examples" / "dmp" / name
    if not path.is_file():
        pytest.skip(f"{path} absent")
    return path


def _shape(el: etree._Element) -> Any:
    """Namespace-qualified tags, attributes and trimmed texts, prefixes ignored: the shape two messages share."""
    return (el.tag, dict(el.attrib), (el.text or "").strip(), [_shape(c) for c in el if isinstance(c.tag, str)])


def test_find_documents_has_the_shape_of_the_official_td31_request(kit_path: Path) -> None:
    official = xmldoc.parse(_kit_dmp(kit_path, "TD3.1_recherche_document_request.xml").read_bytes())
    official_query = official.find(f".//{{{QUERY_NS}}}AdhocQueryRequest")
    assert official_query is not None

    ours = build_find_documents(KIT_INS_CX, FindCriteria())

    assert _shape(ours) == _shape(official_query)


def test_find_documents_sends_every_criterion_in_iti18_syntax() -> None:
    criteria = FindCriteria(
        statuses=(AvailabilityStatus.APPROVED.value, AvailabilityStatus.ARCHIVED.value),
        type_codes=(Code("11490-0", "2.16.840.1.113883.6.1", ""), Code("34133-9", "2.16.840.1.113883.6.1", "")),
        confidentiality_codes=(Code("MASQUE_PS", "1.2.250.1.213.1.1.4.13", ""),),
        creation_time_from="20240101",
        service_stop_time_from="20230101000000",
        reference_ids=("O'Neil^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order",),
        return_type=ReturnType.OBJECT_REF,
    )
    query = build_find_documents(KIT_INS_CX, criteria)
    slots = {s.get("name"): [v.text for v in s.iter("{*}Value")] for s in query.iter("{*}Slot")}

    assert query.find(f"{{{QUERY_NS}}}ResponseOption").get("returnType") == "ObjectRef"  # type: ignore[union-attr]
    assert slots == {
        "$XDSDocumentEntryPatientId": [f"'{KIT_INS_CX}'"],
        "$XDSDocumentEntryStatus": [
            "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved','urn:asip:ci-sis:2010:StatusType:Archived')"
        ],
        "$XDSDocumentEntryTypeCode": ["('11490-0^^2.16.840.1.113883.6.1','34133-9^^2.16.840.1.113883.6.1')"],
        "$XDSDocumentEntryConfidentialityCode": ["('MASQUE_PS^^1.2.250.1.213.1.1.4.13')"],
        "$XDSDocumentEntryCreationTimeFrom": ["20240101"],
        "$XDSDocumentEntryServiceStopTimeFrom": ["20230101000000"],
        "$XDSDocumentEntryReferenceIdList": ["('O''Neil^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order')"],
    }


def test_get_documents_by_unique_id_or_entry_uuid_never_both() -> None:
    query = build_get_documents(["1.2.3.4", "1.2.3.5"])
    adhoc = query.find("{*}AdhocQuery")
    assert adhoc is not None and adhoc.get("id") == StoredQuery.GET_DOCUMENTS.value
    assert [(s.get("name"), s.findtext("{*}ValueList/{*}Value")) for s in adhoc] == [
        ("$XDSDocumentEntryUniqueId", "('1.2.3.4','1.2.3.5')")
    ]
    by_uuid = build_get_documents(entry_uuids=["urn:uuid:1"])
    assert by_uuid.find("{*}AdhocQuery/{*}Slot").get("name") == "$XDSDocumentEntryEntryUUID"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        build_get_documents(["1.2.3"], entry_uuids=["urn:uuid:1"])
    with pytest.raises(ValueError):
        build_get_documents()


def test_values_are_quoted_and_coded_the_iti18_way() -> None:
    assert value_list(["a", "b'c"]) == "('a','b''c')"
    assert coded(Code("N", "2.16.840.1.113883.5.25", "Normal")) == "N^^2.16.840.1.113883.5.25"


def test_the_official_td31_response_reads_into_registry_entries(kit_path: Path) -> None:
    raw = _kit_dmp(kit_path, "TD3.1_recherche_document_response.xml").read_bytes()
    entries = read_query_response(parse_response("application/soap+xml", raw))

    assert len(entries) == 21
    first = entries[0]
    assert first.entry_uuid == first.logical_id == "urn:uuid:7953af1a-ba1c-11eb-816f-0050569e422e"
    assert first.status == AvailabilityStatus.APPROVED.value and first.version == "1" and first.is_current
    assert first.patient_id.startswith("207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH")
    assert first.mime_type == "text/xml" and first.size == 2768 and first.hash.startswith("af326fb4")
    assert first.repository_unique_id == "1.2.250.1.213.4.1.1.1.2"
    assert first.class_code == Code("10", "1.2.250.1.213.1.1.4.1", "Compte rendu")
    assert [c.code for c in first.confidentiality] == ["N", "INVISIBLE_PATIENT"]
    assert first.event_codes[0].code == "H33"
    assert first.title == "Titre du document de TEST KIT EDITEUR CSharp"
    assert first.element is not None and etree.QName(first.element).localname == "ExtrinsicObject"
    assert entries[-1].unique_id == "1.999888777.1.40"
    assert len({e.entry_uuid for e in entries}) == 21


def _envelope(body: str) -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header>'
        '<Action xmlns="http://www.w3.org/2005/08/addressing">urn:ihe:iti:2007:RegistryStoredQueryResponse</Action>'
        f"</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def test_a_failure_answer_is_a_rejection_through_the_one_table() -> None:
    body = (
        f'<query:AdhocQueryResponse xmlns:query="{QUERY_NS}" xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" '
        'xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" '
        'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure">'
        '<rs:RegistryErrorList highestSeverity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error">'
        '<rs:RegistryError errorCode="XDSTooManyResults" codeContext="plus de 500 documents" '
        'severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/></rs:RegistryErrorList>'
        "<rim:RegistryObjectList/></query:AdhocQueryResponse>"
    )
    with pytest.raises(RemoteRejectionError) as caught:
        read_query_response(parse_response("application/soap+xml", _envelope(body)))
    assert caught.value.problem.spec.code == "dmp-too-many-results" and caught.value.http_status == 422
    assert caught.value.issues[0].codings == ((XDS_ERROR_SYSTEM, "XDSTooManyResults"),)
    assert not caught.value.retryable


def test_an_answer_that_is_not_a_query_response_is_refused() -> None:
    with pytest.raises(RemoteRejectionError) as caught:
        read_query_response(parse_response("application/soap+xml", _envelope("<x:Other xmlns:x='urn:x'/>")))
    assert caught.value.problem.spec.code == "soap-response-invalid"


def test_latest_current_takes_the_highest_approved_or_archived_version(kit_path: Path) -> None:
    raw = _kit_dmp(kit_path, "TD3.1_recherche_document_response.xml").read_bytes()
    entry = read_query_response(parse_response("application/soap+xml", raw))[0]
    from dataclasses import replace

    v2 = replace(entry, entry_uuid="urn:uuid:v2", version="2", status=AvailabilityStatus.ARCHIVED.value)
    v3 = replace(entry, entry_uuid="urn:uuid:v3", version="10", status=AvailabilityStatus.DEPRECATED.value)
    v4 = replace(entry, entry_uuid="urn:uuid:v4", version="9")
    assert latest_current([entry, v2, v3, v4]) == v4
    assert latest_current([v3]) is None
    assert latest_current([entry, v2], unique_id="other") is None
