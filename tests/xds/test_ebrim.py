from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pytest
from lxml import etree

from facade.cda.render import CdaRenderer
from facade.cda.validation import XmlSchema
from facade.ids import SequentialOids
from facade.model.document import Code, Person, RenderedDocument
from facade.xds.codes import (
    RIM_NS,
    AssociationType,
    ClassificationNode,
    ClassificationScheme,
    ExternalIdentifierScheme,
    ObjectType,
)
from facade.xds.ebrim import (
    SUBMISSION_SET_ID,
    hl7_escape,
    to_bytes,
    to_registry_object_list,
    to_submit_objects_request,
    xcn_author,
    xcn_person,
    xon,
)
from facade.xds.ebrim_read import from_registry_object_list
from tests.cda.golden_files import check_golden, xsd_validation
from tests.cda.model_samples import (
    CLASS_CR,
    FORMAT_PDF,
    MASQUE_PS,
    device_author,
    document_request,
    n1_document,
    rendered,
    signature_document,
    submission,
)

OLD_ENTRY = "urn:uuid:5a1c4f7e-1111-4c2d-9d3e-000000000001"


def _one_document(renderer: CdaRenderer, **req_changes: Any) -> RenderedDocument:
    doc = n1_document()
    req = document_request(doc, **req_changes)
    return rendered(req, renderer.render(doc))


def _two_documents(renderer: CdaRenderer) -> list[RenderedDocument]:
    oids = SequentialOids("1.2.250.1.999.1.1.7898.3")
    first = n1_document(oids)
    second = n1_document(
        oids,
        title="Compte rendu de consultation",
        type_code=Code("11488-4", "2.16.840.1.113883.6.1", "CR ou fiche de consultation ou de visite"),
    )
    return [
        rendered(document_request(first), renderer.render(first)),
        rendered(document_request(second, entry_id="Document02", confidentiality_codes=()), renderer.render(second)),
    ]


@pytest.mark.conformance
def test_golden_submit_objects_request(cda_renderer: CdaRenderer, kit_validator: Any) -> None:
    rd = _one_document(cda_renderer, replaces_entry_uuid=OLD_ENTRY)
    el = to_submit_objects_request(submission((rd.request,)), [rd], signature_document())
    check_golden("xds/submit_objects_request.xml", to_bytes(el), xsd_validation(kit_validator, "lcm"))


@pytest.mark.parametrize("with_signature", [False, True])
def test_generated_lists_pass_the_ebrim_xsd(
    cda_renderer: CdaRenderer, lcm_schema: XmlSchema, rim_schema: XmlSchema, with_signature: bool
) -> None:
    docs = _two_documents(cda_renderer)
    sub = submission(tuple(d.request for d in docs))
    sig = signature_document() if with_signature else None
    assert rim_schema.errors(to_registry_object_list(sub, docs, sig)) == []
    assert lcm_schema.errors(to_submit_objects_request(sub, docs, sig)) == []


def test_submission_set_metadata(cda_renderer: CdaRenderer) -> None:
    rd = _one_document(cda_renderer)
    meta = from_registry_object_list(to_registry_object_list(submission((rd.request,)), [rd]))
    ss = meta.submission_set
    assert ss.id == SUBMISSION_SET_ID and ss.tag == "RegistryPackage"
    assert ss.slot("submissionTime") == "20240502083015"  # 10:30:15+02:00 in UTC
    assert ss.name == "Lot de sortie" and ss.description == "Envoi automatique"
    assert ss.unique_id == "1.2.250.1.999.1.1.7898.4.1"
    assert ss.patient_id == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert ss.external_ids[ExternalIdentifierScheme.SUBMISSION_SET_SOURCE_ID] == "1.2.250.1.999.1.1.7898"
    assert [c.code for c in ss.codes(ClassificationScheme.SUBMISSION_SET_CONTENT_TYPE_CODE)] == ["03"]
    assert any(c.node == ClassificationNode.SUBMISSION_SET for c in ss.classifications)
    (author,) = ss.authors()
    assert author["authorPerson"] == ["801234567897^MARTIN^Claire^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"]
    # XON.10 carries the Struct_IdNat of the emitting site ('1' + FINESS géographique)
    assert author["authorInstitution"] == [
        r"CH DE DEMONSTRATION \T\ ASSOCIES^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750100125"
    ]
    assert author["authorSpecialty"] == [
        "G15_10/SM26^Médecin - Qualifié en Médecine Générale (SM)^1.2.250.1.213.1.1.4.5"
    ]


def test_document_entry_metadata(cda_renderer: CdaRenderer) -> None:
    rd = _one_document(cda_renderer)
    meta = from_registry_object_list(to_registry_object_list(submission((rd.request,)), [rd]))
    (de,) = meta.documents
    assert de.id == "Document01"
    assert de.attributes["mimeType"] == "text/xml"
    assert de.attributes["objectType"] == ObjectType.STABLE_DOCUMENT_ENTRY
    assert de.slot("creationTime") == "20240502083015"
    assert de.slot("serviceStartTime") == "20240115070500"  # 08:05+01:00 in UTC
    assert de.slot("serviceStopTime") == "20240502083015"
    assert de.slot("languageCode") == "fr-FR"
    assert de.slot("hash") == hashlib.sha1(rd.cda).hexdigest()
    assert de.slot("size") == str(len(rd.cda))
    assert de.slot("sourcePatientId") == "IPP0042^^^&1.2.250.1.999.1.1.7898.2&ISO^PI"
    assert de.slots["sourcePatientInfo"] == ["PID-5|PAT-TROIS^DOMINIQUE^^^^^L", "PID-7|19790328", "PID-8|F"]
    assert de.slot("legalAuthenticator") == "801234567897^MARTIN^Claire^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    assert de.slots["urn:ihe:iti:xds:2013:referenceIdList"] == [
        "ORD-77^^^&1.2.250.1.999.1.1.7898.9&ISO^urn:ihe:iti:xds:2013:order"
    ]
    assert de.name == rd.request.document.title and de.description == "Sortie le 2 mai"
    assert de.unique_id == rd.request.document.id  # = CDA id/@root
    assert de.patient_id == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert de.codes(ClassificationScheme.CLASS_CODE) == [CLASS_CR]
    assert de.codes(ClassificationScheme.TYPE_CODE) == [rd.request.document.type_code]
    assert de.codes(ClassificationScheme.FORMAT_CODE) == [FORMAT_PDF]
    assert [c.code for c in de.codes(ClassificationScheme.CONFIDENTIALITY_CODE)] == ["N", "MASQUE_PS"]
    assert de.codes(ClassificationScheme.CONFIDENTIALITY_CODE)[1] == MASQUE_PS
    assert [c.code for c in de.codes(ClassificationScheme.HEALTHCARE_FACILITY_TYPE_CODE)] == ["SA01"]
    assert [c.code for c in de.codes(ClassificationScheme.PRACTICE_SETTING_CODE)] == ["ETABLISSEMENT"]
    assert [c.code for c in de.codes(ClassificationScheme.EVENT_CODE_LIST)] == ["HPHB003"]
    assert len(de.authors()) == 1
    (has_member,) = meta.associations_of(AssociationType.HAS_MEMBER)
    assert (has_member.source, has_member.target) == (SUBMISSION_SET_ID, "Document01")
    assert has_member.slots == {"SubmissionSetStatus": ["Original"]}
    assert meta.associations_of(AssociationType.REPLACE) == []


def test_document_confidentiality_defaults_to_the_cda_one(cda_renderer: CdaRenderer) -> None:
    rd = _one_document(cda_renderer, confidentiality_codes=())
    meta = from_registry_object_list(to_registry_object_list(submission((rd.request,)), [rd]))
    assert [c.code for c in meta.documents[0].codes(ClassificationScheme.CONFIDENTIALITY_CODE)] == ["N"]


def test_optional_slots_are_omitted(cda_renderer: CdaRenderer) -> None:
    doc = n1_document()
    doc = replace(doc, service_event=replace(doc.service_event, end=None))
    req = document_request(doc, comments=None, reference_ids=(), event_codes=())
    rd = rendered(req, cda_renderer.render(doc))
    sub = replace(submission((req,)), title=None, comments=None)
    meta = from_registry_object_list(to_registry_object_list(sub, [rd]))
    de = meta.documents[0]
    assert "serviceStopTime" not in de.slots and "urn:ihe:iti:xds:2013:referenceIdList" not in de.slots
    assert de.description is None and de.codes(ClassificationScheme.EVENT_CODE_LIST) == []
    assert meta.submission_set.name is None and meta.submission_set.description is None


def test_replacement_adds_an_rplc_association(cda_renderer: CdaRenderer) -> None:
    rd = _one_document(cda_renderer, replaces_entry_uuid=OLD_ENTRY)
    meta = from_registry_object_list(to_registry_object_list(submission((rd.request,)), [rd]))
    (rplc,) = meta.associations_of(AssociationType.REPLACE)
    assert (rplc.source, rplc.target) == ("Document01", OLD_ENTRY)
    assert rplc.slots == {}


def test_two_documents_in_one_submission(cda_renderer: CdaRenderer) -> None:
    docs = _two_documents(cda_renderer)
    meta = from_registry_object_list(to_registry_object_list(submission(tuple(d.request for d in docs)), docs))
    assert [d.id for d in meta.documents] == ["Document01", "Document02"]
    assert [d.unique_id for d in meta.documents] == ["1.2.250.1.999.1.1.7898.3.1", "1.2.250.1.999.1.1.7898.3.3"]
    assert [(a.source, a.target) for a in meta.associations_of(AssociationType.HAS_MEMBER)] == [
        (SUBMISSION_SET_ID, "Document01"),
        (SUBMISSION_SET_ID, "Document02"),
    ]
    assert meta.documents[1].codes(ClassificationScheme.TYPE_CODE)[0].code == "11488-4"
    # every symbolic id is unique
    root = to_registry_object_list(submission(tuple(d.request for d in docs)), docs)
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))


def test_signature_entry_has_the_dmp_values(cda_renderer: CdaRenderer) -> None:
    rd = _one_document(cda_renderer)
    sig = signature_document()
    meta = from_registry_object_list(to_registry_object_list(submission((rd.request,)), [rd], sig))
    se = meta.document("Signature01")
    assert se.slot("languageCode") == "art"
    assert se.slot("creationTime") == se.slot("serviceStartTime") == se.slot("serviceStopTime") == "20240502083015"
    assert se.slot("sourcePatientId") == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert se.slot("legalAuthenticator") == "801234567897^MARTIN^Claire^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    assert se.slot("hash") == hashlib.sha1(sig.xml).hexdigest() and se.slot("size") == str(len(sig.xml))
    assert se.name == "Source"
    assert se.codes(ClassificationScheme.CLASS_CODE) == [
        Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature")
    ]
    assert se.codes(ClassificationScheme.TYPE_CODE) == [Code("E1762", "ASTM", "Full Document")]
    assert se.codes(ClassificationScheme.FORMAT_CODE) == [
        Code("http://www.w3.org/2000/09/xmldsig#", "URN", "Default Signature Style")
    ]
    assert [(c.code, c.system) for c in se.codes(ClassificationScheme.CONFIDENTIALITY_CODE)] == [
        ("N", "2.16.840.1.113883.5.25"),
        ("MASQUE_PS", "1.2.250.1.213.1.1.4.13"),
        ("INVISIBLE_PATIENT", "1.2.250.1.213.1.1.4.13"),
    ]
    assert se.codes(ClassificationScheme.EVENT_CODE_LIST) == [
        Code("1.2.840.10065.1.12.1.14", "1.2.840.10065.1.12", "Source")
    ]
    assert [c.code for c in se.codes(ClassificationScheme.HEALTHCARE_FACILITY_TYPE_CODE)] == ["SA01"]
    assert [c.code for c in se.codes(ClassificationScheme.PRACTICE_SETTING_CODE)] == ["ETABLISSEMENT"]
    assert se.unique_id == sig.unique_id and se.patient_id == meta.submission_set.patient_id
    assert se.authors() == meta.submission_set.authors()
    assert [(a.source, a.target) for a in meta.associations_of(AssociationType.HAS_MEMBER)] == [
        (SUBMISSION_SET_ID, "Document01"),
        (SUBMISSION_SET_ID, "Signature01"),
    ]
    (signs,) = meta.associations_of(AssociationType.SIGNS)
    assert (signs.source, signs.target) == ("Signature01", SUBMISSION_SET_ID)
    assert signs.slots == {"SubmissionSetStatus": ["Original"]}


def test_device_author(cda_renderer: CdaRenderer) -> None:
    doc = n1_document(authors=(device_author(),))
    req = document_request(doc)
    rd = rendered(req, cda_renderer.render(doc))
    meta = from_registry_object_list(to_registry_object_list(submission((req,)), [rd]))
    (author,) = meta.documents[0].authors()
    assert author["authorPerson"] == ["1750100125/LOG01^Facade DMP^dmp-facade 0.1^^^^^^&1.2.250.1.71.4.2.1&ISO^U^^^RI"]
    assert author["authorSpecialty"] == ["DISPOSITIF^Dispositif médical^1.2.250.1.213.1.1.4.6"]


def test_rejects_duplicate_or_reserved_entry_ids(cda_renderer: CdaRenderer) -> None:
    rd = _one_document(cda_renderer)
    with pytest.raises(ValueError, match="unique"):
        to_registry_object_list(submission((rd.request,)), [rd, rd])
    clash = replace(signature_document(), entry_id="Document01")
    with pytest.raises(ValueError, match="unique"):
        to_registry_object_list(submission((rd.request,)), [rd], clash)
    with pytest.raises(ValueError, match="at least one"):
        to_registry_object_list(submission((rd.request,)), [])


def test_root_elements(cda_renderer: CdaRenderer) -> None:
    rd = _one_document(cda_renderer)
    rol = to_registry_object_list(submission((rd.request,)), [rd])
    sor = to_submit_objects_request(submission((rd.request,)), [rd])
    assert rol.tag == f"{{{RIM_NS}}}RegistryObjectList"
    assert sor.tag == "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest"
    assert sor[0].tag == rol.tag and len(sor) == 1
    assert to_bytes(sor).startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


def test_hl7_escaping_and_identifier_types() -> None:
    assert hl7_escape(r"a^b&c~d|e\f") == r"a\S\b\T\c\R\d\F\e\E\f"
    internal = Person(id_nat="31750100125/1453", family="D'ARC", given=("Jeanne", "Marie"))
    assert xcn_person(internal) == "31750100125/1453^D'ARC^Jeanne^Marie^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^EI"
    assert xcn_author(device_author()).endswith("^U^^^RI")
    assert xon(device_author().organization).endswith("&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750100125")


def test_round_trip_reads_a_provide_and_register_wrapper(cda_renderer: CdaRenderer) -> None:
    rd = _one_document(cda_renderer)
    sor = to_submit_objects_request(submission((rd.request,)), [rd])
    wrapper = etree.Element("{urn:ihe:iti:xds-b:2007}ProvideAndRegisterDocumentSetRequest")
    wrapper.append(sor)
    meta = from_registry_object_list(wrapper)
    assert meta.documents[0].unique_id == rd.request.document.id
    with pytest.raises(ValueError):
        from_registry_object_list(etree.Element("nothing"))
