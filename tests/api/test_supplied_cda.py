"""A CDA supplied by the sender (passed through, not re-wrapped) that fails the XSD is the sender's problem: 422
cda-input-invalid at the attachment, never our own output-xsd."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "conformance/bundles/ldl-ses/pdf-discharge-letter.json"
VALID_CDA = ROOT / "conformance/expected/ldl-ses/pdf-discharge-letter/1.cda.xml"  # our own output: XSD-valid


def _bundle_with_cda(cda: bytes) -> bytes:
    bundle = json.loads(BUNDLE.read_text(encoding="utf-8"))
    uid = etree.fromstring(cda).find("{urn:hl7-org:v3}id").get("root")
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "DocumentReference":
            resource["masterIdentifier"]["value"] = f"urn:oid:{uid}"
            attachment = resource["content"][0]["attachment"]
            attachment.update(
                contentType="application/hl7-cda+xml",
                size=len(cda),
                hash=base64.b64encode(hashlib.sha1(cda).digest()).decode(),  # noqa: S324 (FHIR attachment hash)
            )
            resource["content"][0].pop("format", None)
        if resource["resourceType"] == "Binary":
            resource.update(contentType="application/hl7-cda+xml", data=base64.b64encode(cda).decode())
    return json.dumps(bundle).encode()


@pytest.fixture
def valid_cda(kit_path: Path) -> bytes:
    return VALID_CDA.read_bytes()


def test_a_valid_supplied_cda_is_passed_through_unchanged(client: TestClient, valid_cda: bytes) -> None:
    r = client.post(
        "/fhir/Bundle/$preview", content=_bundle_with_cda(valid_cda), headers={"content-type": "application/fhir+json"}
    )
    assert r.status_code == 200, r.text
    cda = next(p for p in r.json()["parameter"][0]["part"] if p["name"] == "cda")
    assert base64.b64decode(cda["valueBase64Binary"]) == valid_cda


def test_a_supplied_cda_failing_the_xsd_is_a_422_at_the_attachment(client: TestClient, valid_cda: bytes) -> None:
    broken = valid_cda.replace(b"<languageCode", b"<notInTheSchema></notInTheSchema><languageCode", 1)
    r = client.post(
        "/fhir/Bundle/$preview", content=_bundle_with_cda(broken), headers={"content-type": "application/fhir+json"}
    )
    assert r.status_code == 422, r.text
    issue = r.json()["issue"][0]
    assert issue["code"] == "invalid"
    assert issue["details"]["coding"][0]["code"] == "cda-input-invalid"
    assert issue["expression"] == ["Bundle.entry[1].resource.content[0].attachment"]
