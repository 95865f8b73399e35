"""FACADE_VIHF__ROLE=author: the VIHF names the health professional who authored the documents (PS_IdNat, TRE_G15
profession + TRE_R01 speciality); the DMP rule "a médecin needs a speciality" is checked before anything is signed."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from lxml import etree

from facade.app import create_app
from facade.soap import mtom
from facade.soap.envelope import SoapRequest
from facade.transport.base import FunctionTransport
from tests.dmp_edge import sending_runtime

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "conformance/bundles/ldl-ses/pdf-discharge-letter.json"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
HL7 = "urn:hl7-org:v3"
FHIR = {"content-type": "application/fhir+json"}


def _client(tmp_path: Path, pki) -> tuple[TestClient, FunctionTransport]:  # type: ignore[no-untyped-def]
    runtime, transport = sending_runtime(tmp_path / "state", pki)
    runtime.settings.vihf.role = "author"
    return TestClient(create_app(runtime=runtime), raise_server_exceptions=False), transport


def _assertion(request: SoapRequest) -> etree._Element:
    root, _ = mtom.unpack(request.content_type, request.body)
    return etree.fromstring(root).find(f".//{{{SAML}}}Assertion")


def test_the_vihf_names_the_author_with_profession_and_speciality(tmp_path: Path, _pki) -> None:  # type: ignore[no-untyped-def]
    client, transport = _client(tmp_path, _pki)
    r = client.post("/fhir", content=BUNDLE.read_bytes(), headers=FHIR)
    assert r.status_code == 200, r.text
    assertion = _assertion(transport.requests[0])
    assert assertion.findtext(f"{{{SAML}}}Subject/{{{SAML}}}NameID").startswith("8")  # PS_IdNat = 8 + RPPS
    roles = [(v.get("code"), v.get("codeSystem")) for v in assertion.iter(f"{{{HL7}}}Role")]
    assert roles == [("10", "1.2.250.1.71.1.2.7"), ("SM04", "1.2.250.1.71.4.2.5")]


def test_a_medecin_without_speciality_is_refused_before_signing(tmp_path: Path, _pki) -> None:  # type: ignore[no-untyped-def]
    bundle = json.loads(BUNDLE.read_text(encoding="utf-8"))
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "PractitionerRole":
            coding = entry["resource"]["specialty"][0]["coding"][0]
            coding.update(code="G15_10", display="Médecin")
    client, transport = _client(tmp_path, _pki)
    r = client.post("/fhir", content=json.dumps(bundle).encode(), headers=FHIR)
    assert r.status_code == 422, r.text
    assert r.json()["issue"][0]["details"]["coding"][0]["code"] == "vihf-speciality-missing"
    assert transport.requests == []  # nothing signed, nothing stored, nothing sent
