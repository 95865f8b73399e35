"""The PDSm and PDSm-for-DMP FHIR examples of the kit (examples/fhir): none is DMP-valid as published (spec digest
pdsm4dmp-lifecycle §1.2: "P4D examples are not DMP-valid metadata"); each is refused for the reason named here,
one line per example, and never for the forms the facade now accepts (conditional INS subject, ready-made CDA)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Reject

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "conformance-kit" / "examples" / "fhir"

# example -> the problem codes (each must be raised) that make it unusable for the DMP, and why
REFUSALS: dict[str, tuple[set[str], str]] = {
    "pdsm/Bundle-a9c10f8a-882d-4000-a280-7150e0aeb478.json": (
        {"wrong-bundle-type"},
        "a transaction-response, not a request",
    ),
    "pdsm/Bundle-bundle-exemple-comprehensiveprovidedocument-replace.json": (
        {"unresolved-reference", "invalid-value"},
        "Patient/fr-patient-123 is a server-side Patient; masterIdentifier is a urn:uuid (the DMP needs an OID)",
    ),
    "pdsm/DocumentReference-exemple-pdsm-documentreference.json": (
        {"missing-resource", "unresolved-reference", "invalid-value"},
        "no Patient, Binary/6789 and the authors live on a server; masterIdentifier is a urn:uuid",
    ),
    "pdsm4dmp/Bundle-example-annexe-fhir-document.json": ({"wrong-bundle-type"}, "a FHIR document, not a transaction"),
    "pdsm4dmp/Bundle-example-td2-iti65-lot-soumission.json": (
        {"ins-key-mismatch", "cda-input-invalid"},
        "test INS 123456789012345 has a wrong key; its Binary is a stub CDA (no code, no recordTarget traits)",
    ),
    "pdsm4dmp/DocumentReference-doc-x-id.json": (
        {"ins-key-mismatch", "unresolved-reference", "unknown-code"},
        "wrong INS key; content on a server; format mimeTypeSufficient and SNOMED facility/setting (not J10/J61/J62)",
    ),
    "pdsm4dmp/DocumentReference-example-annexe-docref-cda.json": (
        {"ins-key-mismatch", "unresolved-reference", "unknown-code"},
        "wrong INS key; Binary on a server; format mimeTypeSufficient and SNOMED facility/setting",
    ),
    "pdsm4dmp/DocumentReference-example-td2-iti105-publication-simplifiee.json": (
        {"ins-key-mismatch", "cda-input-invalid"},
        "wrong INS key; the inline CDA is a stub (no code, no recordTarget traits)",
    ),
    "pdsm4dmp/DocumentReference-example-td3-1a-cr-consultation.json": (
        {"ins-oid-not-allowed", "unresolved-reference"},
        "a search result (TD3.1a): subject without an INS system, content on the DMP server",
    ),
    "pdsm4dmp/DocumentReference-example-td3-1a-fhir-document.json": (
        {"ins-oid-not-allowed", "unresolved-reference"},
        "a search result (TD3.1a): subject without an INS system, content on the DMP server",
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_each_example_is_refused_for_its_named_reason(reject: Reject, name: str) -> None:
    path = EXAMPLES / name
    if not path.is_file():
        pytest.skip(f"kit example {name} not found")
    codes = {i.problem.spec.code for i in reject(path).issues}
    expected, _why = REFUSALS[name]
    assert expected <= codes, codes
    assert "patient-traits-needed" not in codes  # a conditional subject is never the reason on its own
