"""The lab path reads people and organizations with the level-1 transformers (issue 8): the defects of its former
private copies stay fixed (FINESS ranking, telecom normalisation, empty addresses, J01 look-up, one resolver)."""

from __future__ import annotations

import copy
from typing import Any

from facade.errors import Problem, ValidationReport
from facade.mapping.lab import LabMapping, to_lab_report
from facade.model.document import Address, Organization, Telecom
from facade.terminology.catalogue import Catalogue

from .conftest import bundle_from, context_for, raw_bundle

SITE = Organization(id_nat="1750712184", name="CH de Démonstration")
LAB, BIOLOGIST, ROLE, PRESCRIBER, REPORT = 1, 2, 3, 4, 10
FINESS = "https://finess.esante.gouv.fr"
FR_CORE_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"


def _map(data: dict[str, Any], catalogue: Catalogue) -> tuple[LabMapping | None, ValidationReport]:
    mc = context_for(bundle_from(data))
    return to_lab_report(mc, catalogue=catalogue, facility_lab=SITE), mc.report


def _glycemie() -> dict[str, Any]:
    return copy.deepcopy(raw_bundle("glycemie.json"))


def _finess(value: str, type_code: str) -> dict[str, Any]:
    return {"system": FINESS, "value": value, "type": {"coding": [{"system": FR_CORE_0203, "code": type_code}]}}


def test_lab_organization_prefers_the_geographic_finess(catalogue: Catalogue) -> None:
    data = _glycemie()
    lab = data["entry"][LAB]["resource"]
    lab["identifier"] = [_finess("750712176", "FINEJ"), _finess("920000650", "FINEG"), *lab["identifier"][1:]]
    mapping, validation = _map(data, catalogue)
    assert mapping is not None and not validation.errors
    assert mapping.lab.id_nat == "1920000650"  # the site's FINESS (EG), not the legal entity's (EJ) listed first


def test_lab_telecoms_and_addresses_are_read_as_for_any_organization(catalogue: Catalogue) -> None:
    data = _glycemie()
    lab = data["entry"][LAB]["resource"]
    lab["telecom"] = [{"system": "phone", "value": "01.74 58 96 07", "use": "work"}, {"system": "sms", "value": "x"}]
    lab["address"] = [{"country": "FRA"}, *lab["address"]]  # says nothing that an addr can carry usefully
    mapping, validation = _map(data, catalogue)
    assert mapping is not None and not validation.errors
    assert mapping.lab.telecoms == (Telecom("tel:0174589607", "WP"),)  # dots and spaces dropped, unknown system out
    assert mapping.lab.addresses == (
        Address(lines=("8 rue Frédéric Bastia",), city="BOULOGNE-BILLANCOURT", postal_code="92100"),
    )


def test_prescriber_speciality_is_looked_up_in_j01(catalogue: Catalogue) -> None:
    mapping, validation = _map(_glycemie(), catalogue)
    assert mapping is not None and not validation.errors
    ordering = mapping.report.ordering_provider
    assert ordering is not None and ordering.person.profession is not None
    # the J01 display, as for an author (the former copy wrote the R38 display alone)
    assert ordering.person.profession.display == "Médecin - Qualifié en Médecine Générale (SM)"


def test_biologist_speciality_outside_j01_is_reported(catalogue: Catalogue) -> None:
    data = _glycemie()
    data["entry"][ROLE]["resource"]["specialty"][0]["coding"][0]["code"] = "SM99"
    _, validation = _map(data, catalogue)
    assert [(e.problem, e.expression) for e in validation.errors] == [
        (Problem.UNKNOWN_CODE, f"Bundle.entry[{ROLE}].resource.specialty[0].coding[0]")
    ]


def test_relative_references_resolve_with_the_request_resolver(catalogue: Catalogue) -> None:
    """Type/id references resolve as on the level-1 path (one ReferenceResolver for the whole request)."""
    data = _glycemie()
    lab = data["entry"][LAB]
    lab["resource"]["id"] = "lab-1"
    report = data["entry"][REPORT]["resource"]
    report["performer"] = [
        {"reference": "Organization/lab-1"} if p["reference"] == lab["fullUrl"] else p for p in report["performer"]
    ]
    mapping, validation = _map(data, catalogue)
    assert mapping is not None and not validation.errors
    assert mapping.lab.name.startswith("Laboratoire de biologie")
