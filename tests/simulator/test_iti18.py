"""The simulator's own reading of ITI-18 values and its FindDocuments matching (facade/simulator/iti18.py)."""

from __future__ import annotations

import pytest
from lxml import etree

from facade.simulator import metadata as md
from facade.simulator.entry_form import registry_form
from facade.simulator.iti18 import Query, matches, split_list

RIM = md.RIM_NS


@pytest.mark.parametrize(
    ("value", "items"),
    [
        ("'a'", ["a"]),
        ("('a','b')", ["a", "b"]),
        ("('O''Neil')", ["O'Neil"]),
        ("(20240101)", ["20240101"]),
        ("20240101", ["20240101"]),
        ("('a^^1.2,3')", ["a^^1.2,3"]),
    ],
)
def test_iti18_values(value: str, items: list[str]) -> None:
    assert split_list(value) == items


def test_an_unclosed_quote_is_an_error() -> None:
    with pytest.raises(ValueError):
        split_list("('a)")


def _entry() -> md.RegistryObject:
    eo = etree.Element(f"{{{RIM}}}ExtrinsicObject", id="Doc01", mimeType="text/xml")
    slot = etree.SubElement(eo, f"{{{RIM}}}Slot", name="creationTime")
    etree.SubElement(etree.SubElement(slot, f"{{{RIM}}}ValueList"), f"{{{RIM}}}Value").text = "20240315101500"
    for code, scheme in (("N", "2.16.840.1.113883.5.25"), ("MASQUE_PS", "1.2.250.1.213.1.1.4.13")):
        cl = etree.SubElement(
            eo, f"{{{RIM}}}Classification", classificationScheme=md.DE_CONFIDENTIALITY, nodeRepresentation=code
        )
        s = etree.SubElement(cl, f"{{{RIM}}}Slot", name="codingScheme")
        etree.SubElement(etree.SubElement(s, f"{{{RIM}}}ValueList"), f"{{{RIM}}}Value").text = scheme
    return md.read_registry_object(eo, "ExtrinsicObject")


def test_matching_codes_and_times() -> None:
    entry = _entry()
    conf = "$XDSDocumentEntryConfidentialityCode"
    assert matches(entry, Query("q", "LeafClass", {conf: [["MASQUE_PS^^1.2.250.1.213.1.1.4.13"]]}))
    assert matches(
        entry, Query("q", "LeafClass", {conf: [["N^^2.16.840.1.113883.5.25"], ["MASQUE_PS^^1.2.250.1.213.1.1.4.13"]]})
    )
    assert not matches(
        entry,
        Query("q", "LeafClass", {conf: [["N^^2.16.840.1.113883.5.25"], ["INVISIBLE_PATIENT^^1.2.250.1.213.1.1.4.13"]]}),
    )
    assert not matches(entry, Query("q", "LeafClass", {conf: [["MASQUE_PS^^9.9"]]}))
    assert matches(entry, Query("q", "LeafClass", {"$XDSDocumentEntryCreationTimeFrom": [["20240315"]]}))
    assert not matches(entry, Query("q", "LeafClass", {"$XDSDocumentEntryCreationTimeTo": [["20240315"]]}))
    assert matches(entry, Query("q", "LeafClass", {"$XDSDocumentEntryCreationTimeTo": [["20240316"]]}))
    assert not matches(entry, Query("q", "LeafClass", {"$XDSDocumentEntryServiceStartTimeFrom": [["2000"]]}))


def test_the_registry_form_points_every_child_at_the_entry_uuid_in_ebrim_order() -> None:
    eo = etree.Element(f"{{{RIM}}}ExtrinsicObject", id="Doc01")
    etree.SubElement(
        eo, f"{{{RIM}}}ExternalIdentifier", id="ei", registryObject="Doc01", identificationScheme="x", value="1"
    )
    etree.SubElement(eo, f"{{{RIM}}}Classification", id="cl", classifiedObject="Doc01", classificationScheme="y")
    etree.SubElement(eo, f"{{{RIM}}}Name")
    form = registry_form(
        eo, entry_uuid="urn:uuid:1", lid="urn:uuid:1", version=3, status="S", registry_slots={"size": "7"}
    )

    assert [etree.QName(c).localname for c in form] == [
        "Slot",
        "Name",
        "VersionInfo",
        "Classification",
        "ExternalIdentifier",
    ]
    assert (form.get("id"), form.get("lid"), form.get("status")) == ("urn:uuid:1", "urn:uuid:1", "S")
    assert form.find(f"{{{RIM}}}VersionInfo").get("versionName") == "3"  # type: ignore[union-attr]
    assert form.find(f"{{{RIM}}}Classification").get("classifiedObject") == "urn:uuid:1"  # type: ignore[union-attr]
    assert form.find(f"{{{RIM}}}ExternalIdentifier").get("registryObject") == "urn:uuid:1"  # type: ignore[union-attr]
    assert all(c.get("id", "").startswith("urn:uuid:") for c in form if c.get("id") is not None)
    assert eo.get("id") == "Doc01"  # the submitted element is untouched
