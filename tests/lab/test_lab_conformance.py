"""CR-BIO documents rendered from the example bundles pass the kit: CDA_extended.xsd, structuration minimale, the
CR-BIO 2024.01 volet schematron and the cross-cutting CI-SIS/IHE entry profiles, with 0 errors; golden files pin
the exact bytes. The catalogue's level-1 examples pass XSD + structuration minimale."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lxml import etree

from facade.cda.render import CdaRenderer
from facade.mapping.lab import apply_lab_report, find_lab_report, to_lab_report
from facade.model.document import ClinicalDocument, InstanceId, NonXmlBody, Organization
from facade.terminology.catalogue import Catalogue

from .conftest import ROOT, LabDocumentBuilder, compare_golden, context_for, load_bundle

pytestmark = pytest.mark.conformance
CR_BIO_BUNDLES = ["glycemie", "panels", "coded-value", "microbiologie", "pdf-copy", "observations-only"]
PROFILES = ["struct-min", "modeles", "modeles-ans", "ihe"]
NS = {"c": "urn:hl7-org:v3"}


def _errors(
    kit_module: ModuleType, kit_validator: Any, xml: bytes, tmp_path: Path, doc_type: str, profiles: list[str]
) -> list[str]:
    path = tmp_path / "doc.xml"
    path.write_bytes(xml)
    res = kit_module.validate_file(path, kit_validator, doc_type=doc_type, profiles=profiles)
    found = [f"xsd: {e}" for e in res["xsd_errors"]]
    for sch in res["schematron"]:
        if sch.get("fatal"):
            found.append(f"{sch['label']}: FATAL {sch['fatal'][:300]}")
        found += [f"{sch['label']}: {f['location']}: {f['text']}" for f in sch["findings"] if f["error"]]
    return found


def _cr_bio_document(name: str, lab_document: LabDocumentBuilder, catalogue: Catalogue) -> ClinicalDocument:
    bundle = load_bundle(f"{name}.json")
    request, validation = lab_document(bundle)
    assert request is not None, [i.message for i in validation.errors]
    if name != "pdf-copy":
        return request.document
    # DocumentReference bundle: its attachment is the lab's PDF rendering; the header (here the derived one)
    # becomes a CR-BIO through apply_lab_report, as the DocumentReference mapping does.
    docref = next(e.raw for e in bundle.entries if e.resource_type == "DocumentReference")
    mc = context_for(bundle)
    mapping = to_lab_report(
        mc,
        catalogue=catalogue,
        facility_lab=Organization("1750712184", "CH de Démonstration"),
        report_index=find_lab_report(mc),
        pdf_copy=base64.b64decode(docref["content"][0]["attachment"]["data"]),
    )
    assert mapping is not None and mapping.report.pdf_supplied
    return apply_lab_report(request.document, mapping, catalogue)


@pytest.mark.parametrize("name", CR_BIO_BUNDLES)
def test_cr_bio_example_renders_and_validates(
    name: str,
    lab_document: LabDocumentBuilder,
    catalogue: Catalogue,
    lab_renderer: CdaRenderer,
    kit_module: ModuleType,
    kit_validator: Any,
    tmp_path: Path,
) -> None:
    xml = lab_renderer.render(_cr_bio_document(name, lab_document, catalogue))  # XSD-checked by the renderer
    compare_golden(
        f"{name}.xml", xml, lambda data: _errors(kit_module, kit_validator, data, tmp_path, "cr-bio", PROFILES)
    )


def test_narrative_shows_every_result_and_references_resolve(
    lab_document: LabDocumentBuilder, catalogue: Catalogue, bare_lab_renderer: CdaRenderer
) -> None:
    xml = bare_lab_renderer.render(_cr_bio_document("microbiologie", lab_document, catalogue))
    root = etree.fromstring(xml)
    ids = set(root.xpath("//c:content/@ID | //c:observationMedia/@ID", namespaces=NS))
    refs = [r[1:] for r in root.xpath("//c:reference/@value", namespaces=NS)]
    assert refs and set(refs) <= ids  # every originalText/text reference points at the narrative
    narrative = " ".join(root.xpath("//c:section/c:text//text()", namespaces=NS))
    for label in ["Escherichia coli", "Ampicilline", "< 0.128 ug/mL", ">= 0.512 ug/mL", "Résistant", "Jaune paille"]:
        assert label in narrative
    values = root.xpath(
        "//c:observation/c:value/@xsi:type", namespaces={**NS, "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
    )
    assert {"PQ", "IVL_PQ", "CD", "ST"} <= set(values)
    assert (
        root.xpath(
            "count(//c:organizer[@classCode='CLUSTER']/c:specimen//c:specimenPlayingEntity"
            "[@classCode='MIC']/c:code[@code='112283007'])",
            namespaces=NS,
        )
        == 1
    )


def test_pdf_copy_section_carries_the_lab_pdf(
    lab_document: LabDocumentBuilder, catalogue: Catalogue, bare_lab_renderer: CdaRenderer
) -> None:
    data = json.loads((ROOT / "conformance/bundles/cr-bio/pdf-copy.json").read_text(encoding="utf-8"))
    docref = next(e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    root = etree.fromstring(bare_lab_renderer.render(_cr_bio_document("pdf-copy", lab_document, catalogue)))
    media = root.xpath(
        "//c:section[c:templateId/@root='1.2.250.1.213.1.1.2.243']//c:observationMedia/c:value", namespaces=NS
    )
    assert media[0].get("mediaType") == "application/pdf"
    assert base64.b64decode(media[0].text) == base64.b64decode(docref["content"][0]["attachment"]["data"])


@pytest.mark.parametrize("key", [t.key for t in Catalogue.load().types])
def test_catalogue_level1_example_validates(
    key: str,
    lab_document: LabDocumentBuilder,
    catalogue: Catalogue,
    lab_renderer: CdaRenderer,
    kit_module: ModuleType,
    kit_validator: Any,
    tmp_path: Path,
) -> None:
    row = catalogue.by_key(key)
    assert row is not None
    bundle = json.loads((ROOT / f"conformance/bundles/catalogue/{key}.json").read_text(encoding="utf-8"))
    docref = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    assert docref["type"]["coding"][0]["code"] == row.type_code.code
    assert docref["category"][0]["coding"][0]["code"] == row.class_code.code
    fmt = row.n1_format_code("application/pdf")
    assert fmt is not None and docref["content"][0]["format"]["code"] == fmt.code
    pdf = base64.b64decode(docref["content"][0]["attachment"]["data"])
    request, _ = lab_document(load_bundle("glycemie.json"))  # any valid header; the type comes from the row
    assert request is not None
    doc = dataclasses.replace(
        request.document,
        type_code=row.type_code,
        title=row.title,
        template="n1",
        template_ids=(InstanceId("1.3.6.1.4.1.19376.1.2.20"),),
        body=NonXmlBody("application/pdf", pdf),
    )
    xml = lab_renderer.render(doc)
    assert _errors(kit_module, kit_validator, xml, tmp_path, "n1", ["struct-min"]) == []


def test_validator_catches_a_missing_pdf_copy_section(
    lab_document: LabDocumentBuilder,
    catalogue: Catalogue,
    bare_lab_renderer: CdaRenderer,
    kit_module: ModuleType,
    kit_validator: Any,
    tmp_path: Path,
) -> None:
    """Guards the check above: the same pipeline reports the volet's mandatory-section rule when it is broken."""
    root = etree.fromstring(bare_lab_renderer.render(_cr_bio_document("glycemie", lab_document, catalogue)))
    section = root.xpath("//c:section[c:templateId/@root='1.2.250.1.213.1.1.2.243']", namespaces=NS)[0]
    component = section.getparent()
    component.getparent().remove(component)
    errors = _errors(kit_module, kit_validator, etree.tostring(root), tmp_path, "cr-bio", ["struct-min"])
    assert any("FR-Document-PDF-copie" in e for e in errors)
