"""InputPolicy.author_institution (spec digest §3.2 PFI note, §3.5 facility rule): "site" (default) attributes every
author to the emitting site, so the DocumentEntry and SubmissionSet authorInstitution are identical; "bundle" keeps
an author's PractitionerRole.organization. Checked on the model, on the XDS metadata and on the rendered CDA."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
from lxml import etree

from facade.cda.render import CdaRenderer
from facade.errors import Problem
from facade.fhir.validate import InputPolicy
from facade.ids import SequentialOids
from facade.mapping.bundle_to_submission import MappingResult
from facade.model.document import Organization
from facade.pipeline import Converter
from facade.runtime import Runtime
from facade.settings import FacilityConfig, Settings
from facade.terminology.tables import Terminology
from facade.xds.ebrim import xon
from facade.xds.ebrim_read import from_registry_object_list

from .conftest import CONFORMANCE, FACILITY, NOW, ROOT, TEST_POLICY, Reject, Run, find, load

SITE_ID = "1" + FACILITY.finess_eg  # 1690000880
OTHER_ID = "1750712184"  # a structure that is not the emitting site
ROLE_ORG = "Bundle.entry[6].resource.organization"  # the LDL author's PractitionerRole.organization
BUNDLE_POLICY = dataclasses.replace(TEST_POLICY, author_institution="bundle")
LDL = load(CONFORMANCE / "ldl-ses" / "pdf-discharge-letter.json")
CDA = "{urn:hl7-org:v3}"


def other_structure() -> dict[str, Any]:
    """The LDL bundle whose author (also the authenticator) works for another structure, identified by FINESS."""
    b = copy.deepcopy(LDL)
    org = b["entry"][4]["resource"]
    org["identifier"] = [{"system": "https://finess.esante.gouv.fr", "value": OTHER_ID[1:]}]
    org["name"] = "Laboratoire Bastia"
    b["entry"][1]["resource"]["authenticator"] = {"reference": b["entry"][6]["fullUrl"]}
    return b


def site() -> Organization:
    return Organization(id_nat=SITE_ID, name=FACILITY.site_name, sector=FACILITY.sector)


def notices(result: MappingResult, expression: str) -> list[str]:
    return [i.message for i in result.warnings if i.problem is Problem.INFORMATION and i.expression == expression]


def test_site_is_the_default_everywhere() -> None:
    assert InputPolicy().author_institution == "site"
    assert FacilityConfig().author_institution == "site"


def test_site_mode_attributes_authors_to_the_emitting_site(run: Run) -> None:
    result = run(other_structure())
    doc = result.submission.documents[0].document
    assert doc.authors[0].organization == site()
    assert doc.legal_authenticator.organization == site()
    assert doc.service_event.performer == site()
    assert doc.custodian == site()
    assert result.submission.author is not None
    assert result.submission.author.organization == site()
    # XDS: DocumentEntry and SubmissionSet authorInstitution are the same XON
    assert xon(doc.authors[0].organization) == xon(result.submission.author.organization)
    assert xon(doc.authors[0].organization).endswith(f"^IDNST^^^{SITE_ID}")
    # one information issue (the role is author, authenticator and submission author: said once), not an error
    (message,) = notices(result, ROLE_ORG)
    assert OTHER_ID in message and SITE_ID in message and "Laboratoire Bastia" in message
    issue = next(i for i in result.warnings if i.expression == ROLE_ORG)
    assert issue.effective_severity == "information" and not issue.is_error


def test_bundle_mode_keeps_the_role_organization(run: Run) -> None:
    result = run(other_structure(), BUNDLE_POLICY)
    doc = result.submission.documents[0].document
    (author,) = doc.authors
    assert (author.organization.id_nat, author.organization.name) == (OTHER_ID, "Laboratoire Bastia")
    assert doc.legal_authenticator.organization == author.organization
    assert doc.service_event.performer == author.organization
    assert doc.custodian == site()
    assert result.submission.author is not None
    assert result.submission.author.organization == site()  # the submission set is always the site's
    assert xon(author.organization) != xon(result.submission.author.organization)
    assert notices(result, ROLE_ORG) == []


def test_organization_of_the_site_itself_gives_no_notice(run: Run) -> None:
    result = run(copy.deepcopy(LDL))  # its Organization is the site (IDNST 1690000880)
    assert result.submission.documents[0].document.authors[0].organization == site()
    assert notices(result, ROLE_ORG) == []


@pytest.mark.parametrize("policy", [TEST_POLICY, BUNDLE_POLICY], ids=["site", "bundle"])
def test_the_bundle_organization_is_validated_in_both_modes(reject: Reject, policy: InputPolicy) -> None:
    b = other_structure()
    b["entry"][4]["resource"]["identifier"][0]["value"] = "75071"
    issue = find(reject(b, policy), "invalid-value", "Bundle.entry[4].resource.identifier[0].value")
    assert "FINESS" in issue.message


@pytest.mark.parametrize("policy", [TEST_POLICY, BUNDLE_POLICY], ids=["site", "bundle"])
def test_organization_without_national_id_is_the_site_in_both_modes(run: Run, policy: InputPolicy) -> None:
    b = other_structure()
    b["entry"][4]["resource"]["identifier"] = [{"system": "urn:oid:1.2.250.1.999.1.5", "value": "UF-4512"}]
    result = run(b, policy)
    assert result.submission.documents[0].document.authors[0].organization == site()
    assert notices(result, ROLE_ORG) == []


# --- CR-BIO derived from a DiagnosticReport: the biologist is the author; the lab stays the performer ---

GLYCEMIE = CONFORMANCE / "cr-bio" / "glycemie.json"


def test_derived_lab_report_site_mode(run: Run) -> None:
    result = run(GLYCEMIE)
    doc = result.submission.documents[0].document
    assert doc.authors[0].person is not None
    assert doc.authors[0].organization == site()
    assert doc.legal_authenticator.organization == doc.authors[0].organization
    assert doc.service_event.performer.id_nat == OTHER_ID  # the performing laboratory
    assert result.submission.author is not None
    assert xon(doc.authors[0].organization) == xon(result.submission.author.organization)
    lab_notes = [i.message for i in result.warnings if "performing laboratory" in i.message]
    assert len(lab_notes) == 1 and OTHER_ID in lab_notes[0]
    # the biologist's PractitionerRole.organization is the performer, not "replaced": no author notice about it
    assert not [i for i in result.warnings if "is replaced by the emitting site" in i.message]


def test_derived_lab_report_bundle_mode(run: Run) -> None:
    result = run(GLYCEMIE, BUNDLE_POLICY)
    doc = result.submission.documents[0].document
    assert doc.authors[0].organization.id_nat == OTHER_ID
    assert doc.legal_authenticator.organization.id_nat == OTHER_ID
    assert doc.service_event.performer.id_nat == OTHER_ID
    assert not [i for i in result.warnings if "performing laboratory" in i.message]


# --- through the pipeline: the XDS metadata and the CDA that are sent ---


@pytest.fixture(scope="module")
def converter(terminology: Terminology) -> Converter:
    return Converter(
        terminology=terminology,
        renderer=CdaRenderer(ROOT / "templates" / "cda"),
        facility=FACILITY,
        policy=TEST_POLICY,
        now=lambda: NOW,
        new_oid=SequentialOids(FACILITY.oid_root),
    )


@pytest.mark.parametrize(("policy", "author_org"), [(TEST_POLICY, SITE_ID), (BUNDLE_POLICY, OTHER_ID)])
def test_metadata_and_cda_follow_the_policy(converter: Converter, policy: InputPolicy, author_org: str) -> None:
    conversion = dataclasses.replace(converter, policy=policy).convert(json.dumps(other_structure()).encode())
    metadata = from_registry_object_list(conversion.metadata())
    ((ss_author,),) = [metadata.submission_set.authors()]
    ((de_author,),) = [metadata.documents[0].authors()]
    assert ss_author["authorInstitution"] == [f"{FACILITY.site_name}^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{SITE_ID}"]
    assert de_author["authorInstitution"][0].endswith(f"^IDNST^^^{author_org}")
    assert (de_author["authorInstitution"] == ss_author["authorInstitution"]) == (author_org == SITE_ID)
    cda = etree.fromstring(conversion.documents[0].cda)
    org_id = f"/{CDA}representedOrganization/{CDA}id"
    author_ids = cda.findall(f"{CDA}author/{CDA}assignedAuthor{org_id}")
    legal_ids = cda.findall(f"{CDA}legalAuthenticator/{CDA}assignedEntity{org_id}")
    custodian_ids = cda.findall(f"{CDA}custodian/{CDA}assignedCustodian/{CDA}representedCustodianOrganization/{CDA}id")
    assert [e.get("extension") for e in author_ids] == [author_org]
    assert [e.get("extension") for e in legal_ids] == [author_org]
    assert [e.get("extension") for e in custodian_ids] == [SITE_ID]


# --- wiring: settings -> Runtime -> InputPolicy ---


def test_settings_choose_the_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("FACADE_FACILITY__AUTHOR_INSTITUTION", "bundle")
    settings = Settings(environment="development", state_dir=tmp_path)
    assert settings.facility.author_institution == "bundle"
    assert Runtime(settings).converter.policy.author_institution == "bundle"
    monkeypatch.delenv("FACADE_FACILITY__AUTHOR_INSTITUTION")
    assert Runtime(Settings(environment="development", state_dir=tmp_path)).converter.policy.author_institution == (
        "site"
    )


def test_settings_refuse_an_unknown_policy() -> None:
    with pytest.raises(ValueError, match="author_institution"):
        FacilityConfig(author_institution="lab")
