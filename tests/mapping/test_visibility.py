"""Visibility and consent rules at submission (issue 10; spec digest pdsm4dmp-lifecycle §5): each refused case has
its own code, at the FHIRPath of what to fix, and the rules' settings change exactly what they say."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import date
from typing import Any

import pytest

from facade.errors import FacadeError
from facade.mapping.visibility import age_at

from .conftest import CONFORMANCE, TEST_POLICY, Reject, Run, find, issue_keys, load

DOC = "Bundle.entry[1].resource"
LDL = load(CONFORMANCE / "ldl-ses" / "pdf-discharge-letter.json")  # document date 2026-03-02, patient born 1985
ITI105 = load(CONFORMANCE / "iti105" / "simplified-publish.json")
HL7 = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
TRE_A08 = "https://mos.esante.gouv.fr/NOS/TRE_A08-HL7Confidentiality/FHIR/TRE-A08-HL7Confidentiality"
TRE_A07 = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
TRE_A07_OID = "urn:oid:1.2.250.1.213.1.1.4.13"


def bundle(*labels: tuple[str, str], birth_date: str | None = None) -> dict[str, Any]:
    b = copy.deepcopy(LDL)
    b["entry"][1]["resource"]["securityLabel"] = [{"coding": [{"system": s, "code": c}]} for s, c in labels]
    if birth_date is not None:
        b["entry"][3]["resource"]["birthDate"] = birth_date
    return b


def masks(run: Run, b: dict[str, Any], policy: Any = TEST_POLICY) -> list[str]:
    request = run(b, policy).submission.documents[0]
    return [c.code for c in request.confidentiality_codes]


def codes(error: FacadeError) -> set[str]:
    return {code for code, _ in issue_keys(error)}


# --- MASQUE_PS with INVISIBLE_PATIENT (EX_2.1-1050) ---


def test_masked_and_invisible_together_are_refused_by_default(reject: Reject) -> None:
    error = reject(bundle((HL7, "N"), (TRE_A07, "MASQUE_PS"), (TRE_A07, "INVISIBLE_PATIENT")))
    assert error.http_status == 422
    issue = find(error, "visibility-masked-and-invisible", f"{DOC}.securityLabel")
    assert "EX_2.1-1050" in issue.message
    assert codes(error) == {"visibility-masked-and-invisible"}


def test_masked_and_invisible_together_pass_when_the_dmp_parameter_is_set(run: Run) -> None:
    allowed = dataclasses.replace(TEST_POLICY, allow_masked_and_invisible=True)
    b = bundle((HL7, "N"), (TRE_A07, "MASQUE_PS"), (TRE_A07_OID, "INVISIBLE_PATIENT"))
    assert masks(run, b, allowed) == ["N", "MASQUE_PS", "INVISIBLE_PATIENT"]


@pytest.mark.parametrize("code", ["MASQUE_PS", "INVISIBLE_PATIENT"])
def test_masked_or_invisible_alone_is_sent(run: Run, code: str) -> None:
    assert masks(run, bundle((HL7, "R"), (TRE_A07, code))) == ["R", code]


# --- TRE_A07 codes the DMP does not know ---


@pytest.mark.parametrize("code", ["MASQUE_PSOCIAL", "MASQUE_PT"])
@pytest.mark.parametrize("system", [TRE_A07, TRE_A07_OID])
def test_tre_a07_codes_outside_j58_are_refused_with_their_own_code(reject: Reject, code: str, system: str) -> None:
    error = reject(bundle((HL7, "N"), (system, code)))
    issue = find(error, "visibility-code-not-for-dmp", f"{DOC}.securityLabel[1].coding[0]")
    assert code in issue.message and "JDV_J58" in issue.message
    assert codes(error) == {"visibility-code-not-for-dmp"}  # not also reported as an unknown code


def test_a_code_tre_a07_does_not_define_stays_an_unknown_code(reject: Reject) -> None:
    error = reject(bundle((HL7, "N"), (TRE_A07, "CACHE_MEDECIN")))
    find(error, "unknown-code", f"{DOC}.securityLabel[1].coding[0]")
    assert "visibility-code-not-for-dmp" not in codes(error)


# --- legal representatives and minors (age at the document date, 2026-03-02) ---


def test_invisible_to_legal_representatives_is_refused_for_an_adult(reject: Reject) -> None:
    error = reject(bundle((HL7, "N"), (TRE_A07, "INVISIBLE_REPRESENTANTS_LEGAUX")))
    issue = find(error, "visibility-adult-legal-representatives", f"{DOC}.securityLabel[1].coding[0]")
    assert "40" in issue.message and "2026-03-02" in issue.message  # born 1985-07-14


def test_invisible_to_legal_representatives_is_sent_for_a_minor(run: Run) -> None:
    b = bundle((HL7, "N"), (TRE_A07, "INVISIBLE_REPRESENTANTS_LEGAUX"), birth_date="2012-05-01")
    assert masks(run, b) == ["N", "INVISIBLE_REPRESENTANTS_LEGAUX"]


def test_majority_is_reached_on_the_eighteenth_birthday(run: Run, reject: Reject) -> None:
    label = (TRE_A07, "INVISIBLE_REPRESENTANTS_LEGAUX")
    assert masks(run, bundle((HL7, "N"), label, birth_date="2008-03-03")) == ["N", "INVISIBLE_REPRESENTANTS_LEGAUX"]
    error = reject(bundle((HL7, "N"), label, birth_date="2008-03-02"))
    assert "18" in find(error, "visibility-adult-legal-representatives", f"{DOC}.securityLabel[1].coding[0]").message


# --- the explicit choice ---


def test_a_document_without_its_confidentiality_code_is_refused(reject: Reject) -> None:
    b = bundle()
    del b["entry"][1]["resource"]["securityLabel"]
    error = reject(b)
    issue = find(error, "visibility-choice-missing", f"{DOC}.securityLabel")
    assert "minor" not in issue.message


def test_masking_codes_alone_are_not_the_explicit_decision(reject: Reject) -> None:
    find(reject(bundle((TRE_A07, "MASQUE_PS"))), "visibility-choice-missing", f"{DOC}.securityLabel")


def test_the_nos_spelling_of_the_hl7_code_is_the_explicit_decision(run: Run) -> None:
    assert masks(run, bundle((TRE_A08, "V"))) == ["V"]


def test_a_systemless_level_code_is_the_explicit_decision_as_it_is_read(run: Run) -> None:
    b = bundle((TRE_A07, "MASQUE_PS"))
    b["entry"][1]["resource"]["securityLabel"].append({"coding": [{"code": "R"}]})
    assert masks(run, b) == ["R", "MASQUE_PS"]


def test_without_the_rule_a_missing_label_is_normal(run: Run) -> None:
    implicit = dataclasses.replace(TEST_POLICY, require_confidentiality_label=False)
    assert masks(run, bundle((TRE_A07, "MASQUE_PS")), implicit) == ["N", "MASQUE_PS"]


def test_a_minors_document_always_needs_the_explicit_decision(reject: Reject) -> None:
    implicit = dataclasses.replace(TEST_POLICY, require_confidentiality_label=False)
    b = bundle(birth_date="2015-01-01")
    del b["entry"][1]["resource"]["securityLabel"]
    issue = find(reject(b, implicit), "visibility-choice-missing", f"{DOC}.securityLabel")
    assert "minor (11)" in issue.message and "INVISIBLE_REPRESENTANTS_LEGAUX" in issue.message


def test_every_visibility_problem_comes_back_at_once(reject: Reject) -> None:
    b = bundle((TRE_A07, "MASQUE_PS"), (TRE_A07, "INVISIBLE_PATIENT"), (TRE_A07, "MASQUE_PT"))
    b["entry"][1]["resource"]["securityLabel"].append(
        {"coding": [{"system": TRE_A07, "code": "INVISIBLE_REPRESENTANTS_LEGAUX"}]}
    )
    assert codes(reject(b)) == {
        "visibility-masked-and-invisible",
        "visibility-code-not-for-dmp",
        "visibility-adult-legal-representatives",
        "visibility-choice-missing",
    }


# --- the patient's opposition to feeding ---


def consent(provision: str = "deny", status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": "opposition",
        "status": status,
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000001"},
        "provision": {"type": provision},
    }


def with_consent(resource: dict[str, Any]) -> dict[str, Any]:
    b = bundle((HL7, "N"))
    b["entry"].append(
        {
            "fullUrl": "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-0000000000c0",
            "resource": resource,
            "request": {"method": "POST", "url": "Consent"},
        }
    )
    return b


def test_a_patient_opposition_is_refused_with_403(reject: Reject) -> None:
    error = reject(with_consent(consent()))
    assert error.http_status == 403
    assert [i.problem.spec.code for i in error.issues] == ["patient-opposition"]  # decided before anything else
    issue = find(error, "patient-opposition", "Bundle.entry[7].resource.provision.type")
    assert "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-0000000000c0" in issue.message


def test_the_opposition_wins_over_every_other_problem(reject: Reject) -> None:
    b = with_consent(consent())
    b["entry"][1]["resource"]["securityLabel"] = [{"coding": [{"system": TRE_A07, "code": "MASQUE_PT"}]}]
    del b["entry"][1]["resource"]["type"]
    error = reject(b)
    assert error.http_status == 403 and codes(error) == {"patient-opposition"}


@pytest.mark.parametrize(("provision", "status"), [("permit", "active"), ("deny", "inactive"), ("deny", "rejected")])
def test_a_consent_that_is_no_opposition_in_force_is_no_refusal(run: Run, provision: str, status: str) -> None:
    assert run(with_consent(consent(provision, status))).submission.documents


def test_an_opposition_contained_in_an_iti105_document_reference_is_refused(reject: Reject) -> None:
    resource = copy.deepcopy(ITI105)
    resource.setdefault("contained", []).append({**consent(), "patient": {"reference": "#patient-source"}})
    error = reject(json.dumps(resource).encode())
    index = len(resource["contained"]) - 1
    find(error, "patient-opposition", f"DocumentReference.contained[{index}].provision.type")
    assert error.http_status == 403


# --- age ---


@pytest.mark.parametrize(
    ("birth", "expected"),
    [("20080302", 18), ("200803021230+0100", 18), ("20080303", 17), ("200803", None), ("20081399", None), (None, None)],
)
def test_age_at_the_document_date(birth: str | None, expected: int | None) -> None:
    assert age_at(birth, date(2026, 3, 2)) == expected
