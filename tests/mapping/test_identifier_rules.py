"""One owner per identifier rule (issue 8): the Struct_IdNat rule VIHF signing applies is the rule mapping applies,
so an organization identifier signing would refuse is a 422 at its FHIR element, not a 500 at signing time."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from facade.errors import Problem
from facade.model.identifiers import IdentifierError, check_struct_idnat
from facade.soap.vihf_claims import check_claims
from tests.signing.conftest import automate_claims

from .conftest import CONFORMANCE, Reject, find, load

LDL = load(CONFORMANCE / "ldl-ses" / "pdf-discharge-letter.json")
ORG = 4  # the author's PractitionerRole.organization in the LDL example
IDNST = "urn:oid:1.2.250.1.71.4.2.2"


def _with_org_idnst(value: str) -> dict[str, Any]:
    bundle = copy.deepcopy(LDL)
    bundle["entry"][ORG]["resource"]["identifier"] = [{"system": IDNST, "value": value}]
    return bundle


@pytest.mark.parametrize("value", ["3123", "21", "41234", "9123456789"])
def test_idnst_that_signing_refuses_is_a_422_at_mapping(value: str, reject: Reject) -> None:
    # the former mapping rule accepted any prefix + 1 character; the VIHF rule refuses these (Identifiant_Structure)
    assert [i.problem for i in check_claims(automate_claims(structure_id=value))] == [Problem.VIHF_STRUCTURE_ID]
    error = reject(_with_org_idnst(value))
    issue = find(error, "invalid-value", f"Bundle.entry[{ORG}].resource.identifier[0].value")
    assert error.http_status == 422 and "expected" in issue.message


@pytest.mark.parametrize("value", ["10B0127189", "1690000880", "339172288100052", "499900063480001", "2123456789"])
def test_one_rule_accepts_what_signing_accepts(value: str) -> None:
    assert check_struct_idnat(value) == value
    assert check_claims(automate_claims(structure_id=value)) == []


def test_the_rule_names_what_it_expected() -> None:
    with pytest.raises(IdentifierError, match=r"'3' \+ SIRET \(14 digits\)"):
        check_struct_idnat("3123")
    with pytest.raises(IdentifierError, match="unknown prefix"):
        check_struct_idnat("9123")
