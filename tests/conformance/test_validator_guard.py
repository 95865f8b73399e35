"""The validators must be able to say no: a broken validator (schematron not run, wrong volet, XSD not loaded) would
bless every golden in expected/. Known-good documents pass, and each deliberately broken copy fails for the right
reason (XSD, structuration minimale, volet, ebRS)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from facade import xmldoc
from facade.cda.validation import FullValidator, XmlSchema
from facade.errors import Issue, Problem

from .conftest import EXPECTED, describe

pytestmark = pytest.mark.conformance

NS = {"h": "urn:hl7-org:v3", "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"}
GOLDEN_N1 = EXPECTED / "ldl-ses" / "pdf-discharge-letter"  # our own level-1 output (struct-min only)
OFFICIAL_CR_BIO = "examples/cda/BIO-CR-BIO/BIO-CR-BIO_2024.01_TSH_1.xml"  # kit INDEX.csv: 0 volet, 0 struct-min errors
OFFICIAL_N1 = "examples/cda/N1-NON-STRUCTURE/DOC_NON_STRUCTURE_CDA-R2-N1.xml"  # kit INDEX.csv: 0 errors

Mutation = Callable[[etree._Element], None]


def mutate(xml: bytes, change: Mutation) -> bytes:
    root = xmldoc.parse(xml, large_text=True)
    change(root)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def remove(root: etree._Element, xpath: str) -> None:
    found = root.xpath(xpath, namespaces=NS)
    assert found, f"mutation target {xpath} not found: the golden changed shape, update this test"
    for node in found:
        node.getparent().remove(node)


def set_attr(xpath: str, name: str, value: str) -> Mutation:
    def change(root: etree._Element) -> None:
        (node,) = root.xpath(xpath, namespaces=NS)
        node.set(name, value)

    return change


def remove_ins_traits(root: etree._Element) -> None:
    # INS traits (STRUCMIN): birth family name, sex, birth date must come with the INS
    remove(root, "//h:patient/h:name/h:family[@qualifier='BR']")
    remove(root, "//h:patient/h:administrativeGenderCode")
    remove(root, "//h:patient/h:birthTime")


def add_unknown_element(root: etree._Element) -> None:
    etree.SubElement(root, "{urn:hl7-org:v3}unexpectedElement")


def set_title(text: str) -> Mutation:
    def change(root: etree._Element) -> None:
        root.find("h:title", NS).text = text  # type: ignore[union-attr]

    return change


def errors(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.is_error]


@pytest.fixture(scope="module")
def golden_cda() -> bytes:
    path = GOLDEN_N1 / "1.cda.xml"
    assert path.is_file(), f"{path} is missing: run the example tests first (FACADE_REGEN_GOLDEN=1)"
    return path.read_bytes()


@pytest.mark.parametrize("relative", [OFFICIAL_N1, OFFICIAL_CR_BIO])
def test_official_valid_examples_pass(full_validator: FullValidator, kit_path: Path, relative: str) -> None:
    issues = full_validator.issues((kit_path / relative).read_bytes(), relative)
    assert not errors(issues), describe(errors(issues))


def test_our_golden_passes_before_mutation(full_validator: FullValidator, golden_cda: bytes) -> None:
    assert not errors(full_validator.issues(golden_cda, "golden"))


@pytest.mark.parametrize(
    ("change", "problem", "reason"),
    [
        (remove_ins_traits, Problem.OUTPUT_SCHEMATRON, "INS"),
        (set_attr("/h:ClinicalDocument/h:code", "code", "99999-9"), Problem.OUTPUT_SCHEMATRON, "value set"),
        (set_attr("/h:ClinicalDocument/h:confidentialityCode", "code", "ZZ"), Problem.OUTPUT_SCHEMATRON, "value set"),
        (add_unknown_element, Problem.OUTPUT_XSD, "unexpectedElement"),
    ],
    ids=["ins-traits-removed", "unknown-type-code", "unknown-confidentiality", "element-outside-the-xsd"],
)
def test_a_broken_golden_is_rejected(
    full_validator: FullValidator, golden_cda: bytes, change: Mutation, problem: Problem, reason: str
) -> None:
    found = errors(full_validator.issues(mutate(golden_cda, change), "mutated golden"))
    assert found, "the validator accepted a broken document"
    assert any(i.problem is problem and reason in i.message for i in found), describe(found)


def test_the_volet_schematron_runs_on_level_3_documents(full_validator: FullValidator, kit_path: Path) -> None:
    # the CR-BIO volet fixes the title; structuration minimale does not: only the volet can catch this
    xml = mutate((kit_path / OFFICIAL_CR_BIO).read_bytes(), set_title("Résultats"))
    found = errors(full_validator.issues(xml, "mutated CR-BIO"))
    assert any(i.details.get("schematron", "").startswith("CI-SIS_BIO-CR-BIO_2024.01") for i in found), describe(found)


def test_broken_metadata_is_rejected_by_the_ebrim_schema(rim_schema: XmlSchema) -> None:
    metadata = (GOLDEN_N1 / "metadata.xml").read_bytes()
    assert rim_schema.issues(metadata, "metadata") == []

    def drop_slot_name(root: etree._Element) -> None:
        slot = root.xpath("//rim:ExtrinsicObject/rim:Slot", namespaces=NS)[0]
        del slot.attrib["name"]  # Slot/@name is required by rim.xsd

    found = rim_schema.issues(mutate(metadata, drop_slot_name), "metadata")
    assert found and all(i.problem is Problem.OUTPUT_XSD for i in found)
    assert any("name" in i.message for i in found), describe(found)
