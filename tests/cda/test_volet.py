"""Picking the volet schematron and its version from a ready-made CDA's templateIds (facade/cda/volet.py)."""

from __future__ import annotations

from types import ModuleType

import pytest
from lxml import etree

from facade.cda.volet import pick_volet


def cd(*templates: str, code: str = "11502-2") -> etree._Element:
    tids = "".join(
        f'<templateId root="{r}"{f" extension={chr(34)}{e}{chr(34)}" if e else ""}/>'
        for r, _, e in (t.partition("@") for t in templates)
    )
    return etree.fromstring(f'<ClinicalDocument xmlns="urn:hl7-org:v3">{tids}<code code="{code}"/></ClinicalDocument>')


BASE = ("2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1")


def test_the_named_version_is_used(kit_module: ModuleType) -> None:
    volet = pick_volet(cd(*BASE, "1.2.250.1.213.1.1.1.55@2021.01"), kit_module)
    assert volet is not None and volet.candidates == ("CI-SIS_BIO-CR-BIO_2021.01.sch",) and volet.note is None


def test_no_version_tries_the_newest_first_and_says_so(kit_module: ModuleType) -> None:
    volet = pick_volet(cd(*BASE, "1.2.250.1.213.1.1.1.55"), kit_module)
    assert volet is not None
    assert volet.candidates == ("CI-SIS_BIO-CR-BIO_2024.01.sch", "CI-SIS_BIO-CR-BIO_2021.01.sch")
    assert volet.note is not None and "names no version" in volet.note


def test_an_unknown_version_takes_the_next_published_one(kit_module: ModuleType) -> None:
    volet = pick_volet(cd(*BASE, "1.2.250.1.213.1.1.1.30@2024.01"), kit_module)  # SDM-MR: 2022.01, 2025.01
    assert volet is not None and volet.candidates == ("CI-SIS_SDM-MR_2025.01.sch",)
    assert volet.note is not None and "2024.01" in volet.note


def test_the_most_specific_model_of_a_hierarchy_wins(kit_module: ModuleType) -> None:
    volet = pick_volet(cd(*BASE, "1.2.250.1.213.1.1.1.2.1", "1.2.250.1.213.1.1.1.2.1.1@2022.01"), kit_module)
    assert volet is not None and volet.name == "CARD-F-PRC-AVK"


def test_n1_has_no_volet_and_an_unknown_model_is_refused(kit_module: ModuleType) -> None:
    assert pick_volet(cd(*BASE, "1.3.6.1.4.1.19376.1.2.20", code="11490-0"), kit_module) is None
    with pytest.raises(LookupError, match="1.2.250.1.213.1.1.1.999"):
        pick_volet(cd(*BASE, "1.2.250.1.213.1.1.1.999@2024.01"), kit_module)
