"""parse_request: bytes -> structurally valid R4 request, or a 400 with one issue per structural problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facade.errors import BundleParseError
from facade.fhir.parse import json_depth, loc_to_fhirpath, parse_request

ROOT = Path(__file__).resolve().parents[2]
LDL = ROOT / "conformance" / "bundles" / "ldl-ses" / "pdf-discharge-letter.json"
ITI105 = ROOT / "conformance" / "bundles" / "iti105" / "simplified-publish.json"


def codes(error: BundleParseError) -> list[tuple[str, str | None]]:
    return [(i.problem.spec.code, i.expression) for i in error.issues]


def test_iti65_bundle() -> None:
    parsed = parse_request(LDL.read_bytes())
    assert parsed.kind == "iti65" and parsed.root == "Bundle"
    assert parsed.raw["resourceType"] == "Bundle" and not hasattr(parsed, "model")
    assert [e.resource_type for e in parsed.entries] == [
        "List",
        "DocumentReference",
        "Binary",
        "Patient",
        "Organization",
        "Practitioner",
        "PractitionerRole",
    ]
    assert parsed.entries[3].path == "Bundle.entry[3].resource"
    assert parsed.entries[3].full_url == "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000001"
    assert parsed.entries[3].request_method == "POST"
    # raw JSON kept as received (primitive extensions, exact strings)
    assert parsed.entries[3].raw["birthDate"] == "1985-07-14"


def test_iti105_document_reference() -> None:
    parsed = parse_request(ITI105.read_bytes())
    assert parsed.kind == "iti105" and parsed.raw["resourceType"] == "DocumentReference"
    (entry,) = parsed.entries
    assert entry.path == "DocumentReference" and entry.resource_type == "DocumentReference"


def test_bom_is_tolerated() -> None:
    assert parse_request(b"\xef\xbb\xbf" + LDL.read_bytes()).kind == "iti65"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "body-not-json"),
        (b"<Bundle/>", "body-not-json"),
        (b'{"resourceType": "Bundle",', "body-not-json"),
        (b'{"x": NaN}', "body-not-json"),
        (b"\xff\xfe{}", "body-not-json"),
        (b"[]", "not-a-bundle"),
        (b'"Bundle"', "not-a-bundle"),
        (b'{"type": "transaction"}', "not-a-bundle"),
        (b'{"resourceType": "Patient"}', "not-a-bundle"),
        (b'{"resourceType": "List", "status": "current", "mode": "working"}', "not-a-bundle"),
    ],
)
def test_rejected_before_fhir_parsing(body: bytes, code: str) -> None:
    with pytest.raises(BundleParseError) as info:
        parse_request(body)
    assert info.value.http_status == 400
    assert info.value.issues[0].problem.spec.code == code


def test_depth_limit() -> None:
    body = json.dumps({"resourceType": "Bundle", "type": "transaction", "a": [[[[[]]]]]}).encode()
    with pytest.raises(BundleParseError) as info:
        parse_request(body, max_depth=4)
    assert codes(info.value) == [("body-too-deep", None)]
    # within the limit the same body is checked further (and fails on the unknown element, not the depth)
    with pytest.raises(BundleParseError) as info:
        parse_request(body, max_depth=64)
    assert codes(info.value) == [("fhir-structure", "Bundle.a")]


def test_pathological_nesting_is_a_400_not_a_crash() -> None:
    with pytest.raises(BundleParseError) as info:
        parse_request(b"[" * 200_000 + b"]" * 200_000)
    assert info.value.issues[0].problem.spec.code == "body-too-deep"


def test_every_structural_error_is_reported_with_its_fhirpath() -> None:
    bundle = json.loads(LDL.read_text(encoding="utf-8"))
    bundle["entry"][3]["resource"]["birthDate"] = "14/07/1985"
    bundle["entry"][3]["resource"]["nickname"] = "Pierrot"
    bundle["entry"][1]["resource"]["content"][0]["attachment"]["size"] = "big"
    bundle["entry"][6]["resource"]["contained"] = [{"resourceType": "Practitioner", "foo": 1}]
    with pytest.raises(BundleParseError) as info:
        parse_request(json.dumps(bundle).encode())
    assert set(codes(info.value)) == {
        ("fhir-structure", "Bundle.entry[3].resource.birthDate"),
        ("fhir-structure", "Bundle.entry[3].resource.nickname"),
        ("fhir-structure", "Bundle.entry[1].resource.content[0].attachment.size"),
        ("fhir-structure", "Bundle.entry[6].resource.contained[0].foo"),
    }


@pytest.mark.parametrize("resource_type", ["NotAResource", "HumanName", None])
def test_unknown_resource_type_in_an_entry(resource_type: str | None) -> None:
    resource = {"resourceType": resource_type} if resource_type else {"id": "x"}
    body = json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": resource}]})
    with pytest.raises(BundleParseError) as info:
        parse_request(body.encode())
    assert codes(info.value) == [("fhir-structure", "Bundle.entry[0].resource.resourceType")]


def test_r5_only_elements_are_refused() -> None:
    # R5 DocumentReference has no masterIdentifier... and R4 has no DocumentReference.version (R5 only)
    doc = json.loads(ITI105.read_text(encoding="utf-8"))
    doc["version"] = "2"
    with pytest.raises(BundleParseError) as info:
        parse_request(json.dumps(doc).encode())
    assert codes(info.value) == [("fhir-structure", "DocumentReference.version")]


def test_loc_to_fhirpath() -> None:
    assert loc_to_fhirpath("Bundle", ("entry", 1, "resource", "birthDate")) == "Bundle.entry[1].resource.birthDate"
    assert (
        loc_to_fhirpath("Bundle", ("entry", 0, "resource", "birthDate__ext")) == "Bundle.entry[0].resource._birthDate"
    )
    assert loc_to_fhirpath("DocumentReference", ("resource_type",)) == "DocumentReference.resourceType"
    assert loc_to_fhirpath("Bundle", ("entry", "function-after[x]", 2)) == "Bundle.entry[2]"


def test_json_depth() -> None:
    assert json_depth(1) == 0
    assert json_depth({}) == 1
    assert json_depth({"a": [{"b": []}]}) == 4
