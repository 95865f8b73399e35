"""Patient reference forms (issue 9): a conditional ``Patient?identifier=<INS system>|<INS>`` subject with the
traits taken from a ready-made CDA's recordTarget; a Patient resource beside it must agree trait by trait; a
generated CDA needs the traits; INS kind (NIR/NIA) and the matricule's sex/birth digits."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from facade.model.document import OID_INS_NIA, OID_INS_NIR
from facade.model.identifiers import (
    ins_kind_problem,
    nir_key,
    nir_trait_mismatches,
    parse_nir,
)

from .cda_builder import cda
from .conftest import PROD_POLICY, TEST_POLICY, Reject, Run, find
from .test_cda_passthrough import BASE, with_cda

DOC = "Bundle.entry[1].resource"
LIST = "Bundle.entry[0].resource"
INS = "185076912345673"
COND = f"Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|{INS}"


def conditional(bundle: dict[str, Any], reference: str = COND) -> dict[str, Any]:
    """The PDSm-for-DMP form: subjects are conditional references, no Patient entry."""
    out = copy.deepcopy(bundle)
    out["entry"] = [e for e in out["entry"] if e["resource"]["resourceType"] != "Patient"]
    for e in out["entry"]:
        if "subject" in e["resource"]:
            e["resource"]["subject"] = {"reference": reference}
    return out


def test_conditional_subject_takes_the_traits_from_the_record_target(run: Run) -> None:
    submission = run(conditional(with_cda(cda()))).submission
    patient = submission.patient
    assert (patient.ins.oid, patient.ins.value) == ("1.2.250.1.213.1.4.10", INS)
    assert patient.birth_family_name == "MARTIN" and patient.first_birth_given_name == "Pierre"
    assert patient.birth_given_names == ("Pierre", "Jean", "Marie")
    assert patient.gender == "M" and patient.birth_time == "19850714" and patient.birthplace_cog == "69123"
    assert submission.documents[0].source_patient_id == "IPP-00451287^^^&1.2.250.1.999.1.2&ISO^PI"


def test_conditional_subject_with_another_ins_than_the_record_target(reject: Reject) -> None:
    other = "279035121518989"
    error = reject(conditional(with_cda(cda()), f"Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|{other}"))
    issue = find(error, "cda-header-mismatch", f"{DOC}.subject.reference")
    assert other in issue.details["fhir_value"] and INS in issue.details["cda_value"]


def test_conditional_subject_with_a_system_that_is_not_an_ins_oid(reject: Reject) -> None:
    error = reject(conditional(with_cda(cda()), f"Patient?identifier=urn:oid:1.2.999.1.2|{INS}"))
    find(error, "ins-oid-not-allowed", f"{DOC}.subject.reference")


def test_generated_cda_with_only_a_conditional_subject_needs_the_traits(reject: Reject) -> None:
    error = reject(conditional(BASE))  # a PDF: the facade builds the CDA and has no recordTarget to read
    assert error.http_status == 422
    issue = find(error, "patient-traits-needed", f"{DOC}.subject.reference")
    assert "Bundle entry" in issue.message and "recordTarget" in issue.message


def test_record_target_without_traits_is_refused_naming_them(reject: Reject) -> None:
    xml = cda().replace(b'<birthTime value="19850714"/>', b"")
    issue = find(
        reject(conditional(with_cda(xml))),
        "missing-element",
        f"{DOC}.content[0].attachment (CDA recordTarget/patientRole)",
    )
    assert "birthTime" in issue.message


@pytest.mark.parametrize(
    ("xml", "element", "fhir_value", "cda_value"),
    [
        (cda(gender="F"), "Patient.gender", "M", "F"),
        (cda(birth="19850715"), "Patient.birthDate", "19850714", "19850715"),
        (cda(family="DURAND"), "Patient.name.family (birth)", "MARTIN", "DURAND"),
    ],
)
def test_patient_resource_must_match_the_record_target(
    reject: Reject, xml: bytes, element: str, fhir_value: str, cda_value: str
) -> None:
    error = reject(with_cda(xml))
    issue = next(i for i in error.issues if i.details.get("element") == element)
    assert issue.problem.spec.code == "cda-header-mismatch" and issue.expression == "Bundle.entry[3].resource"
    assert issue.details["fhir_value"] == fhir_value and f"={cda_value}" in issue.details["cda_value"]
    assert "recordTarget/patientRole/patient" in issue.details["cda_value"]


def test_a_patient_resource_that_matches_is_accepted(run: Run) -> None:
    assert run(with_cda(cda())).submission.patient.birth_family_name == "MARTIN"


# --- INS coherence ---


def nia(body12: str = "7850769123456") -> str:
    return body12 + nir_key(body12)


def test_ins_kind_rules() -> None:
    assert ins_kind_problem(OID_INS_NIR, parse_nir(nia())) is not None
    assert ins_kind_problem(OID_INS_NIA, parse_nir(INS)) is not None
    assert ins_kind_problem(OID_INS_NIA, parse_nir(nia())) is None
    assert ins_kind_problem(OID_INS_NIR, parse_nir(INS)) is None
    assert ins_kind_problem("1.2.250.1.213.1.4.10", parse_nir(nia())) is None  # test OID: both kinds


def test_nir_traits() -> None:
    nir = parse_nir(INS)  # 1 85 07 ...: male, 1985, July
    assert nir_trait_mismatches(nir, "M", "19850714") == []
    assert nir_trait_mismatches(nir, "UN", "1985") == []
    found = nir_trait_mismatches(nir, "F", "19860814")
    assert len(found) == 3 and "sex digit 1" in found[0] and "year 85" in found[1] and "month 07" in found[2]
    unknown_month = parse_nir("1852069123456" + nir_key("1852069123456"))
    assert nir_trait_mismatches(unknown_month, "M", "19850314") == []


def production(bundle: dict[str, Any], value: str) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    for e in out["entry"]:
        if e["resource"]["resourceType"] == "Patient":
            ident = e["resource"]["identifier"][0]
            ident["system"], ident["value"] = "urn:oid:1.2.250.1.213.1.4.8", value
            ident["type"]["coding"][0]["code"] = "INS-NIR"
    return out


def test_nia_shaped_value_under_the_nir_oid_is_refused(reject: Reject) -> None:
    error = reject(production(BASE, nia()), PROD_POLICY)
    issue = find(error, "ins-kind-mismatch", "Bundle.entry[3].resource.identifier[0].value")
    assert "INS-NIA" in issue.message


def test_traits_against_the_matricule_warn_by_default_and_refuse_when_configured(run: Run, reject: Reject) -> None:
    bundle = copy.deepcopy(BASE)
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["birthDate"] = "1986-07-14"
    warnings = run(bundle).warnings
    assert any(w.problem.spec.code == "ins-traits-mismatch" and "year 85" in w.message for w in warnings)
    error = reject(bundle, dataclasses.replace(TEST_POLICY, ins_trait_mismatch="error"))
    find(error, "ins-traits-mismatch", "Bundle.entry[3].resource.identifier")


def test_iti105_with_a_ready_made_cda_and_only_a_conditional_subject(run: Run) -> None:
    import base64

    bundle = with_cda(cda())
    doc = copy.deepcopy(bundle["entry"][1]["resource"])
    attachment = doc["content"][0]["attachment"]
    attachment.pop("url")
    attachment["data"] = bundle["entry"][2]["resource"]["data"]
    doc["subject"] = {"reference": COND}
    for key in ("author", "authenticator", "custodian", "context"):
        doc.pop(key)
    submission = run(doc).submission
    assert submission.patient.ins.value == INS and submission.patient.birth_family_name == "MARTIN"
    assert submission.documents[0].document.passthrough == base64.b64decode(attachment["data"])
