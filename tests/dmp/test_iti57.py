"""ITI-57 requests: valid against the kit's ebRS lcm.xsd and shaped like the official TD3.3d sample (association type,
slot names, status URNs, SubmissionSet parts), metadata updates copying the registry's ExtrinsicObject."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from facade import xmldoc
from facade.cda.validation import XmlSchema
from facade.dmp.iti57 import DELETED, NEW_VERSION_ID, SubmissionSetHeader, availability_update, metadata_update
from facade.model import oids
from facade.model.document import Author, Code, Device, Organization
from facade.xds.codes import RIM_NS, AvailabilityStatus, ClassificationScheme

NS = {"rim": RIM_NS}
INS_CX = "248039263001064^^^&1.2.250.1.213.1.4.10&ISO^NH"
SS = SubmissionSetHeader(
    unique_id="1.2.250.1.999.1.1.1.1.42",
    source_id="1.2.250.1.999.1.1.1",
    patient_ins_cx=INS_CX,
    author=Author(
        time=datetime(2026, 1, 1, tzinfo=UTC),
        organization=Organization("1120459876", "CH DEMO"),
        device=Device("1120459876/DMP-FACADE", "DMP-FACADE", "DMP-FACADE 0.1.0"),
    ),
    content_type=Code("03", "1.2.250.1.213.2.2", "Hospitalisation complète"),
    submission_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
)


def _shape(request: etree._Element) -> list[tuple[str, ...]]:
    """What the sample's shape is made of: object kinds, association type, slot names and values."""
    out: list[tuple[str, ...]] = []
    for el in request.iter(f"{{{RIM_NS}}}RegistryPackage", f"{{{RIM_NS}}}Association"):
        out.append((etree.QName(el).localname, el.get("associationType") or ""))
        for slot in el.findall("rim:Slot", NS):
            out.append(("slot", slot.get("name") or "", *(v.text or "" for v in slot.iterfind(".//rim:Value", NS))))
    return [s for s in out if s[:2] != ("slot", "submissionTime")]


def _schemes(request: etree._Element) -> list[str | None]:
    return sorted(e.get("identificationScheme") or "" for e in request.iterfind(".//rim:ExternalIdentifier", NS))


def _slots(eo: etree._Element) -> list[tuple[str | None, list[str | None]]]:
    return [(s.get("name"), [v.text for v in s.iterfind(".//rim:Value", NS)]) for s in eo.findall("rim:Slot", NS)]


def _others(eo: etree._Element) -> list[tuple[str, str]]:
    return sorted(
        (c.get("classificationScheme") or "", c.get("nodeRepresentation") or "")
        for c in eo.findall("rim:Classification", NS)
        if c.get("classificationScheme") != ClassificationScheme.CONFIDENTIALITY_CODE.value
    )


def test_archive_matches_the_kit_sample_and_passes_the_xsd(kit_path: Path, lcm_schema: XmlSchema) -> None:
    ours = availability_update(
        SS, "urn:uuid:fe5287a2-ae6a-11eb-8f5d-0050569e422e", AvailabilityStatus.APPROVED, AvailabilityStatus.ARCHIVED
    )
    assert lcm_schema.errors(ours) == []
    sample = xmldoc.parse((kit_path / "examples/dmp/TD3.3d_archiver_document_request.xml").read_bytes())
    theirs = sample.find(".//{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest")
    assert theirs is not None
    assert _shape(ours) == _shape(theirs)
    assert _schemes(ours) == _schemes(theirs)
    ours_assoc, theirs_assoc = ours.find(".//rim:Association", NS), theirs.find(".//rim:Association", NS)
    assert set(ours_assoc.attrib) == set(theirs_assoc.attrib)  # objectType included, as in the sample
    assert ours.find(".//rim:Association", NS).get("targetObject") == "urn:uuid:fe5287a2-ae6a-11eb-8f5d-0050569e422e"


def test_delete_uses_the_dmp_deleted_status() -> None:
    request = availability_update(SS, "urn:uuid:1", AvailabilityStatus.APPROVED, DELETED)
    values = [v.text for v in request.iterfind(".//rim:Association/rim:Slot/rim:ValueList/rim:Value", NS)]
    assert values == [AvailabilityStatus.APPROVED.value, "urn:asip:ci-sis:2010:StatusType:Deleted"]


def test_masking_is_a_new_version_of_the_registry_object(kit_path: Path, lcm_schema: XmlSchema) -> None:
    response = xmldoc.parse(
        (kit_path / "examples/dmp/TD3.1_recherche_document_response.xml").read_bytes(), large_text=True
    )
    current = response.find(".//rim:ExtrinsicObject", NS)
    assert current is not None
    codes = [
        Code("N", oids.HL7_CONFIDENTIALITY, "Normal"),
        Code("MASQUE_PS", oids.TRE_A07_STATUT_VISIBILITE_DOCUMENT, "Masqué aux professionnels de santé"),
    ]
    request = metadata_update(SS, current, "1", codes)
    assert lcm_schema.errors(request) == []
    eo = request.find(".//rim:ExtrinsicObject", NS)
    assert eo.get("id") == NEW_VERSION_ID == "Document01" and eo.get("lid") == current.get("lid")
    # as the GIE masquage template: status and VersionInfo as read, HasMember before the new version
    assert eo.get("status") == current.get("status") and eo.find("rim:VersionInfo", NS).get("versionName") == "1"
    kinds = [etree.QName(c).localname for c in request.find("rim:RegistryObjectList", NS)]
    assert kinds == ["RegistryPackage", "Association", "ExtrinsicObject"]
    conf = [
        (c.get("nodeRepresentation"), c.get("classifiedObject"))
        for c in eo.iterfind("rim:Classification", NS)
        if c.get("classificationScheme") == ClassificationScheme.CONFIDENTIALITY_CODE.value
    ]
    assert conf == [("N", NEW_VERSION_ID), ("MASQUE_PS", NEW_VERSION_ID)]
    # everything else is copied: same slots, same other classifications and identifiers
    assert _slots(eo) == _slots(current)
    assert _others(eo) == _others(current)
    assert all(e.get("registryObject") == NEW_VERSION_ID for e in eo.findall("rim:ExternalIdentifier", NS))
    member = request.find(".//rim:Association", NS)
    assert member.get("sourceObject") == "SubmissionSet01" and member.get("targetObject") == NEW_VERSION_ID
    assert [(s.get("name"), s.findtext(".//rim:Value", namespaces=NS)) for s in member.findall("rim:Slot", NS)] == [
        ("SubmissionSetStatus", "Original"),
        ("PreviousVersion", "1"),
    ]
