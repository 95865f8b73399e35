"""Every ANS example CDA of the kit (examples/cda/INDEX.csv), wrapped in the smallest bundle a DPI writes (the CDA in
a Binary, a DocumentReference with masterIdentifier and the conditional INS subject, a SubmissionSet List): the ones
INDEX marks valid for their own volet version are accepted and their XDS metadata equals the header attribute by
attribute; the ones it marks invalid are refused with the schematron finding (issue 9).

Test data only: several ANS examples carry an INS whose key is wrong (e.g. 221042545611404); the key is recomputed
before wrapping (the facade refuses a wrong key, rightly)."""

from __future__ import annotations

import base64
import csv
import dataclasses
import json
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from facade.errors import FacadeError
from facade.ids import SequentialOids
from facade.mapping.cda_metadata import hl7_time
from facade.model.identifiers import nir_key
from facade.pipeline import Converter

from .conftest import FIXED_NOW

H = {"h": "urn:hl7-org:v3"}
R = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"}
KIT_CDA = Path(__file__).resolve().parents[2].parent / "shared" / "conformance-kit" / "examples" / "cda"
SCHEME = {
    "typeCode": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
    "confidentialityCode": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
    "facility": "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
    "practice": "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
    "event": "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4",
    "author": "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d",
    "uniqueId": "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
    "patientId": "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
}


def _rows(kit: Path) -> list[dict[str, str]]:
    with (kit / "INDEX.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


ROWS = _rows(KIT_CDA) if (KIT_CDA / "INDEX.csv").is_file() else []


def valid_in_index(row: dict[str, str]) -> bool:
    """Valid for its own volet version. Type ``none`` (the content-model catalogue, validated against no volet
    although its templateIds name VSM) is not a document of any volet: it is expected to fail VSM."""
    if row["type (validate.py --type)"] == "none":
        return False
    return row["xsd CDA_extended"] == "OK" and all(
        (row[c] or "0") == "0" for c in ("volet schematron errors", "struct-min errors")
    )


def fix_ins_key(data: bytes) -> bytes:
    root = etree.fromstring(data)
    for el in root.iter("{urn:hl7-org:v3}id"):
        value = el.get("extension") or ""
        if (el.get("root") or "").startswith("1.2.250.1.213.1.4.") and len(value) == 15 and value[13:].isdigit():
            good = value[:13] + nir_key(value[:13])
            if good != value:
                data = data.replace(f'"{value}"'.encode(), f'"{good}"'.encode())
    return data


def wrap(data: bytes, content_type: str = "application/xml") -> dict[str, Any]:
    root = etree.fromstring(data)
    cd = root if root.tag == "{urn:hl7-org:v3}ClinicalDocument" else next(root.iter("{urn:hl7-org:v3}ClinicalDocument"))
    ins = cd.xpath("h:recordTarget/h:patientRole/h:id[starts-with(@root, '1.2.250.1.213.1.4.')]", namespaces=H)[0]
    subject = {"reference": f"Patient?identifier=urn:oid:{ins.get('root')}|{ins.get('extension')}"}
    uid = cd.xpath("h:id/@root", namespaces=H)[0]
    urls = [f"urn:uuid:00000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3)]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": urls[0],
                "resource": {
                    "resourceType": "List",
                    "status": "current",
                    "mode": "working",
                    "code": {
                        "coding": [
                            {
                                "system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
                                "code": "submissionset",
                            }
                        ]
                    },
                    "subject": subject,
                    "identifier": [
                        {"use": "usual", "system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.7.1"}
                    ],
                    "entry": [{"item": {"reference": urls[1]}}],
                },
                "request": {"method": "POST", "url": "List"},
            },
            {
                "fullUrl": urls[1],
                "resource": {
                    "resourceType": "DocumentReference",
                    "status": "current",
                    "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{uid}"},
                    "subject": subject,
                    "content": [{"attachment": {"contentType": content_type, "url": urls[2]}}],
                },
                "request": {"method": "POST", "url": "DocumentReference"},
            },
            {
                "fullUrl": urls[2],
                "resource": {
                    "resourceType": "Binary",
                    "contentType": content_type,
                    "data": base64.b64encode(data).decode(),
                },
                "request": {"method": "POST", "url": "Binary"},
            },
        ],
    }


@pytest.fixture(scope="module")
def fixed(converter: Converter) -> Converter:
    return dataclasses.replace(converter, now=lambda: FIXED_NOW, new_oid=SequentialOids("1.2.250.1.999.1.9"))


def utc(value: str | None) -> str | None:
    when = hl7_time(value)
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%S") if when else None


def slot(eo: etree._Element, name: str) -> list[str]:
    return [str(v) for v in eo.xpath(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value/text()", namespaces=R)]


def codes(eo: etree._Element, scheme: str) -> list[str]:
    return [
        str(c)
        for c in eo.xpath(
            f"rim:Classification[@classificationScheme='{SCHEME[scheme]}']/@nodeRepresentation", namespaces=R
        )
    ]


def expected_vs_actual(cd: etree._Element, eo: etree._Element) -> dict[str, tuple[Any, Any]]:
    """Header attribute -> (from the CDA header, from the XDS DocumentEntry)."""

    def x(path: str) -> list[str]:
        return [str(v) for v in cd.xpath(path, namespaces=H)]

    main = "(h:documentationOf/h:serviceEvent[h:performer])[1]"
    ins = cd.xpath("h:recordTarget/h:patientRole/h:id[starts-with(@root, '1.2.250.1.213.1.4.')]", namespaces=H)[0]
    ext = {e.get("identificationScheme"): e.get("value") for e in eo.xpath("rim:ExternalIdentifier", namespaces=R)}
    authors = eo.xpath(f"rim:Classification[@classificationScheme='{SCHEME['author']}']", namespaces=R)
    author_ids = [slot(a, "authorPerson")[0].split("^")[0] for a in authors]
    return {
        "uniqueId": (x("h:id/@root")[0], ext[SCHEME["uniqueId"]]),
        "patientId": (f"{ins.get('extension')}^^^&{ins.get('root')}&ISO^NH", ext[SCHEME["patientId"]]),
        "creationTime": (utc(x("h:effectiveTime/@value")[0]), slot(eo, "creationTime")[0]),
        "title": (
            " ".join(" ".join(x("h:title//text()")).split()),
            eo.xpath("rim:Name/rim:LocalizedString/@value", namespaces=R)[0],
        ),
        "typeCode": (x("h:code/@code"), codes(eo, "typeCode")),
        "confidentialityCode": (x("h:confidentialityCode/@code"), codes(eo, "confidentialityCode")[:1]),
        "languageCode": (x("h:languageCode/@code") or ["fr-FR"], slot(eo, "languageCode")),
        "serviceStartTime": ([utc(v) for v in x(f"{main}/h:effectiveTime/h:low/@value")], slot(eo, "serviceStartTime")),
        "serviceStopTime": ([utc(v) for v in x(f"{main}/h:effectiveTime/h:high/@value")], slot(eo, "serviceStopTime")),
        "healthcareFacilityTypeCode": (
            x("h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code/@code"),
            codes(eo, "facility"),
        ),
        "practiceSettingCode": (
            x(f"{main}/h:performer/h:assignedEntity/h:representedOrganization/h:standardIndustryClassCode/@code"),
            codes(eo, "practice"),
        ),
        "eventCodeList": (list(dict.fromkeys(x("h:documentationOf/h:serviceEvent/h:code/@code"))), codes(eo, "event")),
        "author": (x("h:author/h:assignedAuthor/h:id/@extension"), author_ids),
        "legalAuthenticator": (
            x("h:legalAuthenticator/h:assignedEntity/h:id/@extension"),
            [v.split("^")[0] for v in slot(eo, "legalAuthenticator")],
        ),
    }


@pytest.mark.parametrize("row", [r for r in ROWS if valid_in_index(r)], ids=lambda r: r["file"])
def test_a_valid_ans_example_is_accepted_with_the_header_as_metadata(fixed: Converter, row: dict[str, str]) -> None:
    data = fix_ins_key((KIT_CDA / row["file"]).read_bytes())
    try:
        conversion = fixed.convert(json.dumps(wrap(data)).encode())
    except FacadeError as exc:
        pytest.fail("\n".join(f"{i.problem.spec.code} {i.expression}: {i.message}" for i in exc.issues))
    metadata = conversion.metadata()
    eo = metadata.xpath("rim:ExtrinsicObject", namespaces=R)[0]
    root = etree.fromstring(data)
    cd = next(root.iter("{urn:hl7-org:v3}ClinicalDocument"))
    differing = {k: v for k, v in expected_vs_actual(cd, eo).items() if v[0] != v[1]}
    assert not differing
    auto = root.tag != "{urn:hl7-org:v3}ClinicalDocument"
    assert eo.get("mimeType") == ("application/xslt+xml" if auto else "text/xml")


@pytest.mark.parametrize("row", [r for r in ROWS if not valid_in_index(r)], ids=lambda r: r["file"])
def test_an_invalid_ans_example_is_refused_with_its_finding(fixed: Converter, row: dict[str, str]) -> None:
    data = fix_ins_key((KIT_CDA / row["file"]).read_bytes())
    with pytest.raises(FacadeError) as info:
        fixed.convert(json.dumps(wrap(data)).encode())
    assert info.value.http_status == 422
    found = [i for i in info.value.issues if i.problem.spec.code == "cda-schematron-failed"]
    assert found and all(i.expression == "Bundle.entry[1].resource.content[0].attachment" for i in found)
    assert any(i.diagnostics for i in found)  # the XPath inside the CDA
    known = row["error messages (known issues of the ANS example)"]
    first_known = known.split("]", 1)[0].strip("[") if known else "[VSM]"
    assert any(first_known in (i.details.get("reason") or "") for i in found)
