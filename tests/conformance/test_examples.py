"""Every example bundle of conformance/bundles/ produces exactly the files of conformance/expected/<type>/<stem>/
(fixed clock, sequential OIDs), and what it produces passes the ANS kit: CDA_extended.xsd + structuration minimale
+ the document type's volet schematron for every CDA, the ebRS XSDs for the XDS metadata.

FACADE_REGEN_GOLDEN=1 rewrites expected/ from the current code: review the diff before committing it.
A bundle that does not convert fails here (with its OperationOutcome); it is never skipped.
"""

from __future__ import annotations

import base64
import difflib
import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from facade import xmldoc
from facade.app import create_app
from facade.cda.validation import XmlSchema
from facade.settings import Settings

from .conftest import ALL_BUNDLES, EXPECTED, REGEN, ConvertFixed, artefacts, case_name, describe

pytestmark = pytest.mark.conformance

CDA = "{urn:hl7-org:v3}"
N1_TEMPLATE = "1.3.6.1.4.1.19376.1.2.20"  # structuration minimale, unstructured body (validate.py alias "n1")


def _first_difference(name: str, expected: bytes, produced: bytes) -> str:
    diff = difflib.unified_diff(
        expected.decode("utf-8", "replace").splitlines(),
        produced.decode("utf-8", "replace").splitlines(),
        f"expected/{name}",
        f"produced/{name}",
        lineterm="",
        n=1,
    )
    lines = [line[:300] for line in diff]
    return "\n".join(lines[:40]) + ("\n  ..." if len(lines) > 40 else "")


def test_there_are_example_bundles_for_every_capability() -> None:
    kinds = {p.parent.name for p in ALL_BUNDLES}
    assert {"ldl-ses", "cr", "replacement", "multi", "iti105"} <= kinds


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=case_name)
def test_outputs_match_expected_bytes(bundle: Path, convert_fixed: ConvertFixed) -> None:
    produced = artefacts(convert_fixed(bundle))
    folder = EXPECTED / case_name(bundle)
    if REGEN or not folder.exists():
        if folder.exists():
            shutil.rmtree(folder)  # a document less must not leave a stale n.cda.xml behind
        folder.mkdir(parents=True)
        for name, data in produced.items():
            (folder / name).write_bytes(data)
        if not REGEN:
            pytest.fail(f"expected/{case_name(bundle)} was missing and has been written: review it and rerun")
    expected = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    assert sorted(produced) == sorted(expected), f"files of expected/{case_name(bundle)} (FACADE_REGEN_GOLDEN=1)"
    for name, data in produced.items():
        assert data == expected[name], (
            f"{case_name(bundle)}/{name} differs from expected/ (FACADE_REGEN_GOLDEN=1 to update, then review):\n"
            + _first_difference(name, expected[name], data)
        )


def test_every_expected_folder_has_its_bundle() -> None:
    cases = {case_name(b) for b in ALL_BUNDLES}
    folders = {f"{d.parent.name}/{d.name}" for d in EXPECTED.glob("*/*") if d.is_dir()}
    assert not folders - cases, f"expected/ folders without a bundle (delete them): {sorted(folders - cases)}"


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=case_name)
def test_produced_documents_pass_the_kit(
    bundle: Path, convert_fixed: ConvertFixed, kit_module: ModuleType, rim_schema: XmlSchema, lcm_schema: XmlSchema
) -> None:
    conversion = convert_fixed(bundle)  # full=True: XSD + struct-min + volet schematron on every CDA
    assert conversion.documents
    errors = [i for i in conversion.all_issues() if i.is_error]
    assert not errors, f"{case_name(bundle)}: the kit rejects what we produced:\n{describe(errors)}"
    for doc in conversion.documents:
        cd = xmldoc.parse(doc.cda, large_text=True)
        assert cd.tag == f"{CDA}ClinicalDocument"
        # the schematron that ran is the one the kit picks for this document: level 1 -> struct-min only,
        # level 3 -> its volet (a level-3 document the kit could not place would be checked by struct-min alone)
        alias = kit_module.detect_type(cd)
        if cd.find(f"{CDA}component/{CDA}nonXMLBody") is not None:
            assert alias == "n1", f"{doc.request.document.id}: level-1 document detected as {alias!r}"
        else:
            assert alias not in (None, "n1"), f"{doc.request.document.id}: no volet schematron for this document"
            assert kit_module.resolve_type(alias)[1], f"{alias} has no volet schematron in the kit"
        assert (cd.find(f"{CDA}templateId[@root='{N1_TEMPLATE}']") is not None) == (alias == "n1")
    metadata = etree.tostring(conversion.metadata(), xml_declaration=True, encoding="UTF-8")
    assert rim_schema.issues(metadata, "metadata") == []
    request = etree.tostring(conversion.submit_objects_request(), xml_declaration=True, encoding="UTF-8")
    assert lcm_schema.issues(request, "SubmitObjectsRequest") == []


# --- the same bundles through HTTP: POST /fhir/<resourceType>/$preview?validate=full ---


@pytest.fixture(scope="module")
def client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=case_name)
def test_preview_over_http_returns_valid_documents(
    bundle: Path, client: TestClient, convert_fixed: ConvertFixed
) -> None:
    body = bundle.read_bytes()
    resource_type = json.loads(body)["resourceType"]  # Bundle (ITI-65) or DocumentReference (ITI-105)
    response = client.post(
        f"/fhir/{resource_type}/$preview",
        params={"validate": "full"},
        content=body,
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 200, f"{case_name(bundle)}: {response.status_code} {response.text[:3000]}"
    assert response.headers["content-type"].startswith("application/fhir+json")
    parameters = response.json()
    assert parameters["resourceType"] == "Parameters"
    documents = [p for p in parameters["parameter"] if p["name"] == "document"]
    reference = convert_fixed(bundle)  # the in-process run: same documents, other clock and ids
    assert len(documents) == len(reference.documents)
    for doc, ref in zip(documents, reference.documents, strict=True):
        parts = {p["name"]: p for p in doc["part"]}
        outcome = parts["outcome"]["resource"]
        assert outcome["resourceType"] == "OperationOutcome"
        errors = [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]
        assert not errors, json.dumps(errors, indent=1, ensure_ascii=False)[:3000]
        cd = xmldoc.parse(base64.b64decode(parts["cda"]["valueBase64Binary"]), large_text=True)
        assert cd.tag == f"{CDA}ClinicalDocument"
        assert cd.find(f"{CDA}id").get("root") == parts["uniqueId"]["valueString"]
        ref_cd = xmldoc.parse(ref.cda, large_text=True)
        assert cd.find(f"{CDA}code").attrib == ref_cd.find(f"{CDA}code").attrib
        assert cd.findtext(f"{CDA}title") == ref_cd.findtext(f"{CDA}title")
        assert etree.fromstring(parts["metadata"]["valueString"].encode()).tag.endswith("RegistryObjectList")
    overall = [p for p in parameters["parameter"] if p["name"] == "outcome"]
    assert len(overall) == 1
    assert not [i for i in overall[0]["resource"]["issue"] if i["severity"] in ("error", "fatal")]
