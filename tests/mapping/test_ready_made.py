"""A ready-made CDA: the XDS metadata comes from its header; a DocumentReference value that contradicts the header
is a 422 naming both sides; the bundle adds only what the header lacks (issue 9)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from facade.xds.ebrim import xcn_author, xon

from .cda_builder import ORG, PERSON, cda
from .conftest import TEST_POLICY, Reject, Run
from .test_cda_passthrough import with_cda

DOC = "Bundle.entry[1].resource"
PLUS1 = timezone(timedelta(hours=1))


def docref(bundle: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][1]["resource"]
    return resource


def test_metadata_comes_from_the_header(run: Run) -> None:
    bundle = with_cda(cda(title="Titre du CDA", low="20260224100000+0100"))
    doc = docref(bundle)
    for key in ("date", "context", "author", "authenticator"):  # the bundle says nothing the header says
        doc.pop(key)
    doc["content"][0]["attachment"].pop("title")
    doc["securityLabel"].append(
        {
            "coding": [
                {
                    "system": "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
                    "TRE-A07-StatutVisibiliteDocument",
                    "code": "MASQUE_PS",
                }
            ]
        }
    )
    result = run(bundle)
    (req,) = result.submission.documents
    d = req.document
    assert d.title == "Titre du CDA"
    assert d.effective_time == datetime(2026, 3, 2, 17, 30, tzinfo=PLUS1)
    assert d.service_event.start == datetime(2026, 2, 24, 10, 0, tzinfo=PLUS1)
    assert d.service_event.end == datetime(2026, 3, 2, 16, 0, tzinfo=PLUS1)
    assert d.encounter.facility_type.code == "SA01" and d.service_event.practice_setting.code == "ETABLISSEMENT"
    assert [c.code for c in req.confidentiality_codes] == ["N", "MASQUE_PS"]  # the mask is the bundle's addition
    assert [e.code for e in req.event_codes] == ["IMP"]
    assert req.comments == "Lettre de liaison à la sortie - cardiologie"  # description: the bundle's
    assert d.legal_authenticator.person.id_nat == "810101201234"
    assert xcn_author(d.authors[0]).startswith("810101201234^LECLERC^Anne^")
    assert d.authors[0].person is not None and d.authors[0].person.profession is not None
    assert d.authors[0].person.profession.code == "G15_10/SM04"
    info = [i.message for i in result.warnings if "ready-made CDA" in i.message]
    assert info and "title" in info[0] and "MASQUE_PS" not in info[0] and "TRE_A07" in info[0]


def test_author_institution_site_does_not_rewrite_the_header(run: Run) -> None:
    other = ORG.replace("1690000880", "1750000001").replace("CH de Démonstration - Site de Lyon", "Clinique B")
    xml = cda(author_entity=f'<id root="1.2.250.1.71.4.2.1" extension="810101201234"/>{PERSON}{other}')
    policy = dataclasses.replace(TEST_POLICY, author_institution="site")
    (req,) = run(with_cda(xml), policy).submission.documents
    assert xon(req.document.authors[0].organization).endswith("^IDNST^^^1750000001")


def test_a_device_author_keeps_its_id(run: Run) -> None:
    device = (
        '<id root="1.2.250.1.71.4.2.1" extension="1690000880/AUTOMATE-7"/>'
        "<assignedAuthoringDevice><manufacturerModelName>Automate X</manufacturerModelName>"
        f"<softwareName>LabSoft 2</softwareName></assignedAuthoringDevice>{ORG}"
    )
    bundle = with_cda(cda(author_entity=device))
    docref(bundle).pop("author")
    (req,) = run(bundle).submission.documents
    assert xcn_author(req.document.authors[0]).startswith("1690000880/AUTOMATE-7^Automate X^LabSoft 2^")


CONTRADICTIONS = [
    ("date", cda(effective="20260302183000+0100"), f"{DOC}.date", "effectiveTime", "20260302183000"),
    (
        "confidentiality",
        cda(confidentiality="V"),
        f"{DOC}.securityLabel[0].coding[0]",
        "confidentialityCode/@code",
        "V",
    ),
    (
        "period",
        cda(low="20260225093000+0100"),
        f"{DOC}.context.period.start",
        "documentationOf/serviceEvent[performer]/effectiveTime/low/@value",
        "20260225093000",
    ),
    (
        "facility",
        cda(facility="SA02"),
        f"{DOC}.context.facilityType",
        "componentOf/encompassingEncounter/location/healthCareFacility/code/@code",
        "SA02",
    ),
    (
        "practice setting",
        cda(practice="AMBULATOIRE"),
        f"{DOC}.context.practiceSetting",
        "standardIndustryClassCode/@code",
        "AMBULATOIRE",
    ),
    ("title", cda(title="Autre titre"), f"{DOC}.content[0].attachment.title", "title", "Autre titre"),
    (
        "author",
        cda(author_id="899900012345"),
        f"{DOC}.author[0]",
        "author/assignedAuthor/id/@extension",
        "899900012345",
    ),
    (
        "legal authenticator",
        cda(legal_id="899900012345"),
        f"{DOC}.authenticator",
        "legalAuthenticator/assignedEntity/id/@extension",
        "899900012345",
    ),
    ("language", cda(language="en-US"), f"{DOC}.content[0].attachment.language", "languageCode/@code", "en-US"),
    ("patient trait", cda(birth="19850716"), "Bundle.entry[3].resource", "patient/birthTime/@value", "19850716"),
]


@pytest.mark.parametrize(
    ("xml", "expression", "xpath", "cda_value"),
    [c[1:] for c in CONTRADICTIONS],
    ids=[c[0] for c in CONTRADICTIONS],
)
def test_a_contradiction_names_both_sides(
    reject: Reject, xml: bytes, expression: str, xpath: str, cda_value: str
) -> None:
    error = reject(with_cda(xml))
    assert error.http_status == 422
    found = [i for i in error.issues if i.problem.spec.code == "cda-header-mismatch" and i.expression == expression]
    assert found, [(i.problem.spec.code, i.expression, i.message) for i in error.issues]
    issue = found[0]
    assert xpath in issue.details["cda_value"] and cda_value in issue.details["cda_value"]
    assert issue.details["fhir_value"] and issue.details["fhir_value"] not in issue.details["cda_value"]


@pytest.mark.parametrize("what", ["setId", "version"])
def test_set_id_and_version_contradictions(reject: Reject, what: str) -> None:
    from facade.mapping.versioning import EXT_VERSION_NUMBER, IDENTIFIER_TYPE_SYSTEM, SET_ID_TYPE

    bundle = with_cda(cda())
    doc = docref(bundle)
    if what == "setId":
        doc["identifier"].append(
            {
                "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": SET_ID_TYPE}]},
                "system": "urn:ietf:rfc:3986",
                "value": "urn:oid:1.2.250.1.999.1.1.300.77",
            }
        )
        expression, xpath = f"{DOC}.identifier[1].value", "setId/@root=1.2.250.1.999.1.1.300.9"
    else:
        doc.setdefault("extension", []).append({"url": EXT_VERSION_NUMBER, "valueInteger": 3})
        expression, xpath = f"{DOC}.extension[0]", "versionNumber/@value=1"
    error = reject(bundle)
    issue = next(i for i in error.issues if i.expression == expression and i.problem.spec.code == "cda-header-mismatch")
    assert issue.details["cda_value"] == xpath


def test_agreeing_values_are_accepted(run: Run) -> None:
    bundle = with_cda(cda())
    docref(bundle)["date"] = "2026-03-02T16:30:00Z"  # the same instant written in UTC
    assert run(bundle).submission.documents[0].document.title == "Lettre de liaison à la sortie - cardiologie"


def test_header_code_outside_the_dmp_type_codes_is_refused(reject: Reject) -> None:
    bundle = with_cda(cda(code="99999-9"))
    docref(bundle).pop("type")
    error = reject(bundle)
    assert any(i.problem.spec.code == "cda-input-invalid" and "JDV_J66" in i.message for i in error.issues)


TRE_A07 = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"


def test_the_visibility_rules_apply_to_a_ready_made_cda(reject: Reject) -> None:
    """Issue 10's rules hold for every submission: MASQUE_PS with INVISIBLE_PATIENT added by the bundle to a
    ready-made CDA is refused like for a generated one."""
    bundle = with_cda(cda())
    docref(bundle)["securityLabel"] = [
        {"coding": [{"system": TRE_A07, "code": "MASQUE_PS"}]},
        {"coding": [{"system": TRE_A07, "code": "INVISIBLE_PATIENT"}]},
    ]
    error = reject(bundle)
    assert "visibility-masked-and-invisible" in [i.problem.spec.code for i in error.issues]


def test_the_cda_confidentiality_code_is_the_explicit_visibility_decision(run: Run) -> None:
    bundle = with_cda(cda())
    docref(bundle).pop("securityLabel", None)  # the header's confidentialityCode says it
    result = run(bundle)
    assert result.submission.documents[0].confidentiality_codes[0].code == "N"
