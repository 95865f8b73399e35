"""Happy path: the conformance bundles map to the expected model (what the CDA header and XDS metadata need)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from facade.ids import derived_entry_uuid
from facade.model.document import Code, InstanceId, NonXmlBody

from .conftest import CONFORMANCE, FACILITY, NOW, Run, load

PARIS = timezone(timedelta(hours=1))
# the input-side bundles (other folders, e.g. cr-bio/, belong to other capabilities and have their own tests)
OURS = (
    "ldl-ses/pdf-discharge-letter",
    "cr/text-plain-report",
    "replacement/rplc",
    "multi/two-documents",
    "iti105/simplified-publish",
)
ALL = [CONFORMANCE / f"{name}.json" for name in OURS]


@pytest.mark.parametrize("path", ALL, ids=[f"{p.parent.name}/{p.name}" for p in ALL])
def test_every_conformance_bundle_maps_without_errors(run: Run, path) -> None:  # type: ignore[no-untyped-def]
    result = run(path)
    assert result.submission.documents
    assert result.submission.patient.ins.oid == "1.2.250.1.213.1.4.10"


@pytest.mark.parametrize("path", ALL, ids=[f"{p.parent.name}/{p.name}" for p in ALL])
def test_conformance_bundles_declare_their_pdsm_profile(path) -> None:  # type: ignore[no-untyped-def]
    profiles = load(path)["meta"]["profile"]
    assert any(p.startswith("https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-") for p in profiles)


def test_ldl_pdf_header_and_metadata(run: Run) -> None:
    path = CONFORMANCE / "ldl-ses" / "pdf-discharge-letter.json"
    result = run(path)
    sub = result.submission
    assert sub.unique_id == "1.2.250.1.999.1.1.200.1"
    assert sub.source_id == FACILITY.source_id
    assert sub.submission_time == NOW
    assert sub.content_type == Code("03", "1.2.250.1.213.2.2", sub.content_type.display)
    assert sub.title == "Sortie d'hospitalisation - cardiologie"
    assert sub.fhir_fullurl == "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000010"
    # submission-set author: the List.source person, institution = the emitting site (FINESS géographique)
    assert sub.author.person is not None and sub.author.person.id_nat == "810101201234"
    assert sub.author.organization.id_nat == "1690000880"

    (req,) = sub.documents
    doc = req.document
    assert doc.id == "1.2.250.1.999.1.1.100.1"
    assert doc.set_id == "1.2.250.1.999.1.9.1" and doc.set_id != doc.id
    assert doc.version == 1
    assert doc.type_code.code == "11490-0" and doc.type_code.system == "2.16.840.1.113883.6.1"
    assert req.class_code.code == "10" and req.class_code.system == "1.2.250.1.213.1.1.4.1"
    assert req.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert doc.title == "Lettre de liaison à la sortie - cardiologie"
    assert doc.effective_time == datetime(2026, 3, 2, 17, 30, tzinfo=PARIS)
    assert doc.confidentiality == Code("N", "2.16.840.1.113883.5.25", doc.confidentiality.display)
    assert req.confidentiality_codes == (doc.confidentiality,)
    assert doc.template_ids == (InstanceId("1.3.6.1.4.1.19376.1.2.20"),)
    assert doc.passthrough is None and doc.replaces_id is None
    assert isinstance(doc.body, NonXmlBody) and doc.body.media_type == "application/pdf"
    raw = load(path)
    pdf = base64.b64decode(raw["entry"][2]["resource"]["data"])
    assert doc.body.data == pdf and pdf.startswith(b"%PDF-")
    # patient INS traits
    p = doc.patient
    assert (p.ins.value, p.ins.oid) == ("185076912345673", "1.2.250.1.213.1.4.10")
    assert p.birth_family_name == "MARTIN"
    assert p.birth_given_names == ("Pierre", "Jean", "Marie")
    assert p.first_birth_given_name == "Pierre"
    assert (p.used_family_name, p.used_given_name) == ("MARTIN", "Jean-Pierre")
    assert p.gender == "M" and p.birth_time == "19850714"
    assert (p.birthplace_cog, p.birthplace_city) == ("69123", "Lyon")
    assert p.local_ids == (InstanceId("1.2.250.1.999.1.2", "IPP-00451287"),)
    assert req.source_patient_id == "IPP-00451287^^^&1.2.250.1.999.1.2&ISO^PI"
    assert sub.patient == p
    # author: PractitionerRole -> Practitioner (IDNPS) + Organization (IDNST), speciality from J01
    (author,) = doc.authors
    assert author.person is not None
    assert author.person.id_nat == "810101201234"
    assert (author.person.family, author.person.given, author.person.prefix) == ("LECLERC", ("Sophie",), "DR")
    assert author.person.profession is not None
    assert author.person.profession.code == "G15_10/SM04"
    assert author.person.profession.system == "1.2.250.1.213.1.1.4.5"
    assert author.organization.id_nat == "1690000880"
    assert author.time == doc.effective_time
    assert doc.legal_authenticator.person == author.person
    assert doc.custodian.id_nat == "1" + FACILITY.finess_eg
    # context
    assert doc.service_event.start == datetime(2026, 2, 24, 9, 30, tzinfo=PARIS)
    assert doc.service_event.end == datetime(2026, 3, 2, 16, 0, tzinfo=PARIS)
    assert doc.service_event.practice_setting.code == "ETABLISSEMENT"
    assert doc.encounter.facility_type == Code("SA01", "1.2.250.1.71.4.2.4", doc.encounter.facility_type.display)
    # entryUUID = the official urn:uuid identifier, never the fullUrl (unique only inside one transaction)
    assert req.entry_id == "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000021"
    assert req.fhir_fullurl == "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000012"
    # attachment.hash of the bundle is the SHA-1 of the bytes we carry
    att = raw["entry"][1]["resource"]["content"][0]["attachment"]
    assert att["hash"] == base64.b64encode(hashlib.sha1(doc.body.data).digest()).decode()
    # one EntryRef per request entry, in order
    assert [(e.index, e.resource_type, e.role) for e in result.entries] == [
        (0, "List", "submission-set"),
        (1, "DocumentReference", "document"),
        (2, "Binary", "content"),
        (3, "Patient", "patient"),
        (4, "Organization", "participant"),
        (5, "Practitioner", "participant"),
        (6, "PractitionerRole", "participant"),
    ]
    assert result.entries[1].unique_id == doc.id and result.entries[1].document_index == 0
    assert result.entries[0].unique_id == sub.unique_id
    assert not [w for w in result.warnings if w.is_error]


def test_text_plain_report(run: Run) -> None:
    result = run(CONFORMANCE / "cr" / "text-plain-report.json")
    (req,) = result.submission.documents
    assert isinstance(req.document.body, NonXmlBody)
    assert req.document.body.media_type == "text/plain"  # charset parameter dropped
    assert req.document.body.data.startswith(b"COMPTE RENDU DE CONSULTATION")
    assert req.format_code.code == "urn:ihe:iti:xds-sd:text:2008"
    assert req.document.type_code.code == "11488-4"
    assert result.submission.content_type.code == "07"
    # a Practitioner author without role: the organization is the emitting site
    (author,) = req.document.authors
    assert author.person is not None and author.person.profession is None
    assert author.organization.id_nat == "1690000880"
    assert author.organization.name == FACILITY.site_name


def test_replacement(run: Run) -> None:
    result = run(CONFORMANCE / "replacement" / "rplc.json")
    (req,) = result.submission.documents
    doc = req.document
    assert doc.id == "1.2.250.1.999.1.1.100.3"
    assert doc.replaces_id == "1.2.250.1.999.1.1.100.1"
    assert req.replaces_entry_uuid == "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000021"
    assert doc.set_id == "1.2.250.1.999.1.1.300.1"
    assert doc.version == 2


def test_two_documents_in_one_submission(run: Run) -> None:
    result = run(CONFORMANCE / "multi" / "two-documents.json")
    ldl, op = result.submission.documents
    assert (ldl.document.type_code.code, op.document.type_code.code) == ("11490-0", "34874-8")
    assert ldl.document.set_id != op.document.set_id
    assert len({ldl.document.id, ldl.document.set_id, op.document.id, op.document.set_id}) == 4
    assert [c.code for c in op.confidentiality_codes] == ["N", "MASQUE_PS"]
    assert op.confidentiality_codes[1].system == "1.2.250.1.213.1.1.4.13"
    assert op.document.confidentiality.code == "N"
    assert op.document.authors[0].person is not None
    assert op.document.authors[0].person.id_nat == "899900063480"
    assert ldl.document.patient == op.document.patient == result.submission.patient
    roles = [(e.resource_type, e.role, e.document_index) for e in result.entries]
    assert roles[:5] == [
        ("List", "submission-set", None),
        ("DocumentReference", "document", 0),
        ("Binary", "content", 0),
        ("DocumentReference", "document", 1),
        ("Binary", "content", 1),
    ]


def test_iti105_simplified_publish(run: Run) -> None:
    result = run(CONFORMANCE / "iti105" / "simplified-publish.json")
    sub = result.submission
    assert sub.unique_id == "1.2.250.1.999.1.9.2"  # generated (no List): after the document's setId
    assert sub.content_type.code == "07"  # policy default
    assert sub.fhir_fullurl is None
    (req,) = sub.documents
    # no official identifier: the entryUUID derives from the (generated) uniqueId, with an information issue
    assert req.entry_id == derived_entry_uuid(req.document.id)
    (told,) = [w for w in result.warnings if req.entry_id in w.message]
    assert told.effective_severity == "information" and told.expression == "DocumentReference.identifier"
    assert req.document.patient.ins.value == "185076912345673"
    assert req.document.authors[0].organization.id_nat == "1690000880"
    assert [(e.index, e.resource_type, e.role) for e in result.entries] == [(0, "DocumentReference", "document")]
    assert any("submission set uniqueId" in w.message for w in result.warnings)
