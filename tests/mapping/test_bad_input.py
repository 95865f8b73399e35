"""The bad-input list of issue 2: every rejection has the right HTTP status, our stable issue code and a FHIRPath
expression at the offending element. Inputs are the files in tests/data/bundles (mutations of the LDL
conformance bundle: entry 0 List, 1 DocumentReference, 2 Binary, 3 Patient, 4 Organization, 5 Practitioner,
6 PractitionerRole)."""

from __future__ import annotations

import pytest

from facade.errors import BundleParseError, BundleValidationError
from facade.fhir.validate import InputPolicy

from .conftest import BAD, CONFORMANCE, PROD_POLICY, TEST_POLICY, Reject, Run, find

DOC = "Bundle.entry[1].resource"
PATIENT = "Bundle.entry[3].resource"

CASES = [
    # file, HTTP status, problem code, expression
    ("not-json.json", 400, "body-not-json", None),
    ("not-a-bundle.json", 400, "not-a-bundle", "Patient"),
    ("fhir-structure.json", 400, "fhir-structure", f"{PATIENT}.birthDate"),
    ("missing-content.json", 400, "fhir-structure", f"{DOC}.content"),
    ("too-deep.json", 400, "body-too-deep", None),
    ("wrong-bundle-type.json", 422, "wrong-bundle-type", "Bundle.type"),
    ("missing-patient.json", 422, "missing-resource", "Bundle.entry"),
    ("missing-document-reference.json", 422, "missing-resource", "Bundle.entry"),
    ("missing-content-data.json", 422, "missing-element", f"{DOC}.content[0].attachment.data"),
    ("unresolved-author.json", 422, "unresolved-reference", f"{DOC}.author[0].reference"),
    ("unresolved-binary.json", 422, "unresolved-reference", f"{DOC}.content[0].attachment.url"),
    ("ins-wrong-key.json", 422, "ins-key-mismatch", f"{PATIENT}.identifier[0].value"),
    ("ins-oid-not-allowed.json", 422, "ins-oid-not-allowed", f"{PATIENT}.identifier[0].system"),
    (
        "identity-not-qualified.json",
        422,
        "identity-not-qualified",
        f"{PATIENT}.extension[0].extension[0].valueCoding.code",
    ),
    (
        "identity-legacy-vali.json",
        422,
        "identity-not-qualified",
        f"{PATIENT}.extension[0].extension[0].valueCoding.code",
    ),
    ("identity-reliability-absent.json", 422, "identity-not-qualified", f"{PATIENT}.extension"),
    ("missing-author-identifier.json", 422, "missing-author-identifier", "Bundle.entry[5].resource.identifier"),
    ("unknown-type-code.json", 422, "unknown-code", f"{DOC}.type.coding[0]"),
    ("unknown-practice-setting.json", 422, "unknown-code", f"{DOC}.context.practiceSetting.coding[0]"),
    ("unknown-facility-type.json", 422, "unknown-code", f"{DOC}.context.facilityType.coding[0]"),
    ("unknown-security-label.json", 422, "unknown-code", f"{DOC}.securityLabel[1].coding[0]"),
    ("unknown-format.json", 422, "unknown-code", f"{DOC}.content[0].format"),
    ("unknown-author-specialty.json", 422, "unknown-code", "Bundle.entry[6].resource.specialty[0].coding[0]"),
    ("content-type-not-allowed.json", 422, "content-type-not-allowed", f"{DOC}.content[0].attachment.contentType"),
]


@pytest.mark.parametrize(("name", "status", "code", "expression"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(reject: Reject, name: str, status: int, code: str, expression: str | None) -> None:
    error = reject(BAD / name)
    assert error.http_status == status
    find(error, code, expression)
    assert isinstance(error, BundleParseError if status == 400 else BundleValidationError)
    assert all(i.is_error for i in error.issues)


def test_unknown_code_lists_what_is_accepted(reject: Reject) -> None:
    issue = find(
        reject(BAD / "unknown-practice-setting.json"), "unknown-code", f"{DOC}.context.practiceSetting.coding[0]"
    )
    assert "HOPITAL" in issue.message
    assert "TRE-A01-CadreExercice|ETABLISSEMENT" in issue.details["accepted"]
    assert issue.details["value_set"] == "JDV_J62-PracticeSettingCode-DMP"


def test_ins_key_mismatch_names_the_expected_key(reject: Reject) -> None:
    issue = find(reject(BAD / "ins-wrong-key.json"), "ins-key-mismatch", f"{PATIENT}.identifier[0].value")
    assert issue.details == {"ins": "185076912345674", "key": "74", "expected": "73"}


def test_test_ins_refused_by_the_production_policy(reject: Reject) -> None:
    error = reject(CONFORMANCE / "ldl-ses" / "pdf-discharge-letter.json", PROD_POLICY)
    assert error.http_status == 422
    issue = find(error, "ins-oid-not-allowed", f"{PATIENT}.identifier[0].system")
    assert issue.details["system"] == "urn:oid:1.2.250.1.213.1.4.10"
    assert "1.2.250.1.213.1.4.10" not in issue.details["accepted"]


def test_legacy_vali_accepted_only_when_configured(run: Run) -> None:
    policy = InputPolicy(
        accepted_ins_oids=TEST_POLICY.accepted_ins_oids,
        default_content_type=TEST_POLICY.default_content_type,
        accept_legacy_vali=True,
    )
    result = run(BAD / "identity-legacy-vali.json", policy)
    assert result.submission.patient.ins.value == "185076912345673"
    assert any(w.expression == f"{PATIENT}.extension[0].extension[0].valueCoding.code" for w in result.warnings)


def test_current_vali_is_refused_even_with_the_legacy_flag(reject: Reject) -> None:
    policy = InputPolicy(accepted_ins_oids=TEST_POLICY.accepted_ins_oids, accept_legacy_vali=True)
    error = reject(BAD / "identity-not-qualified.json", policy)
    find(error, "identity-not-qualified", f"{PATIENT}.extension[0].extension[0].valueCoding.code")


def test_content_over_the_limit_is_413(reject: Reject) -> None:
    policy = InputPolicy(
        accepted_ins_oids=TEST_POLICY.accepted_ins_oids,
        default_content_type=TEST_POLICY.default_content_type,
        max_document_bytes=500,
    )
    error = reject(CONFORMANCE / "ldl-ses" / "pdf-discharge-letter.json", policy)
    assert error.http_status == 413
    issue = find(error, "content-too-large", "Bundle.entry[2].resource.data")
    assert issue.details["limit"] == 500
    assert issue.details["size"] > 500


def test_all_problems_are_reported_at_once(reject: Reject) -> None:
    error = reject(BAD / "several-problems.json")
    assert error.http_status == 422
    find(error, "wrong-bundle-type", "Bundle.type")
    find(error, "ins-key-mismatch", f"{PATIENT}.identifier[0].value")
    find(error, "unknown-code", f"{DOC}.type.coding[0]")
    find(error, "missing-author-identifier", "Bundle.entry[5].resource.identifier")


def test_utf8_bom_is_tolerated(run: Run) -> None:
    assert (BAD / "ldl-with-bom.json").read_bytes().startswith(b"\xef\xbb\xbf")
    result = run(BAD / "ldl-with-bom.json")
    assert result.submission.documents[0].document.id == "1.2.250.1.999.1.1.100.1"


def test_every_file_in_the_bad_input_folder_is_covered() -> None:
    covered = {c[0] for c in CASES} | {"ldl-with-bom.json", "several-problems.json"}
    assert {p.name for p in BAD.glob("*.json")} == covered
