"""A CDA supplied as content is passed through (not re-wrapped) and must agree with its DocumentReference."""

from __future__ import annotations

import base64
import copy
import hashlib
from typing import Any

import pytest

from facade.model.document import NonXmlBody

from .cda_builder import cda
from .conftest import CONFORMANCE, Reject, Run, find, load

DOC = "Bundle.entry[1].resource"
BASE = load(CONFORMANCE / "ldl-ses" / "pdf-discharge-letter.json")


def with_cda(xml: bytes, content_type: str = "application/hl7-cda+xml") -> dict[str, Any]:
    bundle = copy.deepcopy(BASE)
    doc = bundle["entry"][1]["resource"]
    att = doc["content"][0]["attachment"]
    att["contentType"] = content_type
    att["size"] = len(xml)
    att["hash"] = base64.b64encode(hashlib.sha1(xml).digest()).decode()
    del doc["content"][0]["format"]
    bundle["entry"][2]["resource"] = {
        "resourceType": "Binary",
        "contentType": content_type,
        "data": base64.b64encode(xml).decode(),
    }
    return bundle


@pytest.mark.parametrize("content_type", ["application/hl7-cda+xml", "application/xml", "text/xml"])
def test_cda_is_passed_through(run: Run, content_type: str) -> None:
    xml = cda()
    (req,) = run(with_cda(xml, content_type)).submission.documents
    doc = req.document
    assert doc.passthrough == xml
    assert doc.id == "1.2.250.1.999.1.1.100.1"
    assert doc.set_id == "1.2.250.1.999.1.1.300.9" and doc.version == 1  # taken from the CDA header
    # formatCode from the level-3 model templateId (ASS_A11): LDL-SES
    assert req.format_code.code == "urn:asip:ci-sis:ldl-ses:2017"
    assert [t.root for t in doc.template_ids] == ["1.2.250.1.213.1.1.1.29"]
    assert isinstance(doc.body, NonXmlBody)


def test_id_mismatch_names_both_values(reject: Reject) -> None:
    error = reject(with_cda(cda(doc_id="1.2.250.1.999.1.1.777")))
    assert error.http_status == 422
    issue = find(error, "cda-header-mismatch", f"{DOC}.masterIdentifier")
    assert issue.details["fhir_value"] == "urn:oid:1.2.250.1.999.1.1.100.1"
    assert "1.2.250.1.999.1.1.777" in issue.details["cda_value"]


def test_type_mismatch(reject: Reject) -> None:
    issue = find(reject(with_cda(cda(code="11488-4"))), "cda-header-mismatch", f"{DOC}.type")
    assert issue.details["fhir_value"] == "11490-0" and "11488-4" in issue.details["cda_value"]


def test_ins_mismatch(reject: Reject) -> None:
    issue = find(reject(with_cda(cda(ins="279035121518989"))), "cda-header-mismatch", f"{DOC}.subject")
    assert "185076912345673" in issue.details["fhir_value"]
    assert "279035121518989" in issue.details["cda_value"]


def test_cda_id_with_extension_is_refused(reject: Reject) -> None:
    find(reject(with_cda(cda(id_extension="42"))), "cda-input-invalid", f"{DOC}.content[0].attachment")


def test_doctype_is_refused(reject: Reject) -> None:
    xml = cda(prolog='<!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM "file:///etc/passwd">]>')
    error = reject(with_cda(xml))
    assert error.http_status == 400
    find(error, "xml-forbidden", "Bundle.entry[2].resource.data")


def test_xml_that_is_not_a_cda_is_not_allowed(reject: Reject) -> None:
    error = reject(with_cda(b'<?xml version="1.0"?><note xmlns="urn:example">hello</note>', "application/xml"))
    find(error, "content-type-not-allowed", f"{DOC}.content[0].attachment.contentType")


def test_malformed_xml(reject: Reject) -> None:
    find(
        reject(with_cda(b"<ClinicalDocument xmlns='urn:hl7-org:v3'>")),
        "cda-input-invalid",
        "Bundle.entry[2].resource.data",
    )
