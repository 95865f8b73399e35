"""Reference resolution inside one request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from facade.fhir.parse import ParsedEntry, parse_request
from facade.fhir.references import ReferenceResolver


def request(entries: list[tuple[str | None, dict[str, Any]]]) -> tuple[ReferenceResolver, list[ParsedEntry]]:
    body = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [({"fullUrl": url} if url else {}) | {"resource": res} for url, res in entries],
    }
    parsed = parse_request(json.dumps(body).encode())
    return ReferenceResolver(parsed), list(parsed.entries)


PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "185076912345673"}],
}
OTHER_PATIENT = {
    "resourceType": "Patient",
    "id": "p2",
    "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "279035121518989"}],
}
ROLE = {
    "resourceType": "PractitionerRole",
    "id": "r1",
    "contained": [{"resourceType": "Practitioner", "id": "pr"}, {"resourceType": "Organization", "id": "org"}],
    "practitioner": {"reference": "#pr"},
}


def test_urn_uuid_full_url() -> None:
    resolver, entries = request([("urn:uuid:0c1d2e3f-0000-4000-8000-000000000001", PATIENT), (None, ROLE)])
    hit = resolver.resolve({"reference": "urn:uuid:0c1d2e3f-0000-4000-8000-000000000001"}, entries[1])
    assert hit is not None and hit.path == "Bundle.entry[0].resource" and hit.resource_type == "Patient"


def test_contained_and_container() -> None:
    resolver, entries = request([(None, ROLE)])
    hit = resolver.resolve({"reference": "#org"}, entries[0])
    assert hit is not None and hit.contained and hit.path == "Bundle.entry[0].resource.contained[1]"
    assert hit.entry is entries[0]
    itself = resolver.resolve({"reference": "#"}, entries[0])
    assert itself is not None and itself.raw is entries[0].raw
    assert resolver.resolve({"reference": "#missing"}, entries[0]) is None


def test_relative_type_id() -> None:
    resolver, entries = request([("urn:uuid:0c1d2e3f-0000-4000-8000-000000000001", PATIENT), (None, ROLE)])
    hit = resolver.resolve({"reference": "Patient/p1"}, entries[1])
    assert hit is not None and hit.path == "Bundle.entry[0].resource"
    assert resolver.resolve({"reference": "Patient/p1/_history/3"}, entries[1]) is not None
    assert resolver.resolve({"reference": "Patient/nope"}, entries[1]) is None
    assert resolver.resolve({"reference": "Practitioner/p1"}, entries[1]) is None


def test_relative_against_an_absolute_base() -> None:
    resolver, entries = request(
        [
            ("https://hopital.example/fhir/Patient/p1", PATIENT),
            ("https://hopital.example/fhir/PractitionerRole/r1", ROLE),
        ]
    )
    hit = resolver.resolve({"reference": "Patient/p1"}, entries[1])
    assert hit is not None and hit.entry is entries[0]
    absolute = resolver.resolve({"reference": "https://hopital.example/fhir/Patient/p1"}, entries[1])
    assert absolute is not None and absolute.entry is entries[0]


def test_conditional_identifier() -> None:
    resolver, entries = request([(None, PATIENT), (None, OTHER_PATIENT), (None, ROLE)])
    ref = "Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|279035121518989"
    hit = resolver.resolve({"reference": ref}, entries[2])
    assert hit is not None and hit.raw["id"] == "p2"
    encoded = "Patient?identifier=urn%3Aoid%3A1.2.250.1.213.1.4.10%7C185076912345673"
    hit = resolver.resolve({"reference": encoded}, entries[2])
    assert hit is not None and hit.raw["id"] == "p1"
    assert resolver.resolve({"reference": "Patient?identifier=185076912345673"}, entries[2]) is not None


@pytest.mark.parametrize(
    "ref",
    [
        "Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|185076912345673",  # wrong system
        "Patient?name=MARTIN",  # unsupported search
        "Patient?identifier=a|b&identifier=c|d",
        "",
        "Binary",
    ],
)
def test_unresolvable(ref: str) -> None:
    resolver, entries = request([(None, PATIENT), (None, ROLE)])
    assert resolver.resolve({"reference": ref}, entries[1]) is None


def test_ambiguous_conditional_does_not_resolve() -> None:
    twin = dict(PATIENT, id="p3")
    resolver, entries = request([(None, PATIENT), (None, twin), (None, ROLE)])
    assert resolver.resolve({"reference": "Patient?identifier=185076912345673"}, entries[2]) is None


def test_logical_reference_only() -> None:
    resolver, entries = request([(None, PATIENT)])
    assert resolver.resolve({"identifier": {"value": "x"}}, entries[0]) is None
    assert resolver.resolve(None, entries[0]) is None
