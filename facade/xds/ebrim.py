"""Submission model -> ebRIM 3.0 metadata of an ITI-41 ProvideAndRegisterDocumentSet-b (read back by
``facade.xds.ebrim_read``).

Shapes follow the GIE TD2.1 sample (spec digest §3.2, §3.3, §4.1; kit examples/dmp/README.md) minus its quirks:
symbolic ids (``SubmissionSet01``, the DocumentRequest ``entry_id``, ``cl01``/``ei01``/``as01``), every Classification
with ``classifiedObject`` and every ExternalIdentifier with ``registryObject`` (both required by the ebRIM XSD),
LocalizedString ``charset="UTF8" xml:lang="FR"``. Times are UTC ``yyyyMMddHHmmss``. ``hash``/``size`` are those of the
exact CDA bytes sent (the repository checks them against the MIME part).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from lxml import etree

from facade.cda.filters import hl7_ts_utc
from facade.model import oids
from facade.model.document import (
    OID_PS_IDNAT,
    OID_STRUCT_IDNAT,
    Author,
    Code,
    Organization,
    Patient,
    Person,
    RenderedDocument,
    SignatureDocument,
    Submission,
)
from facade.xds.codes import (
    EXTERNAL_IDENTIFIER_NAMES,
    LCM_NS,
    RIM_NS,
    AssociationType,
    ClassificationNode,
    ClassificationScheme,
    ExternalIdentifierScheme,
    ObjectType,
    Slot,
    SubmissionSetStatus,
)

SUBMISSION_SET_ID = "SubmissionSet01"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NSMAP = {"rim": RIM_NS}
LCM_NSMAP = {"lcm": LCM_NS, "rim": RIM_NS}

# Fixed codes of the "signature du lot" DocumentEntry (spec digest §4.1)
SIGNATURE_CLASS = Code(f"urn:oid:{oids.IHE_DSG_DIGITAL_SIGNATURE}", "URN", "Digital Signature")
SIGNATURE_TYPE = Code("E1762", "ASTM", "Full Document")
SIGNATURE_FORMAT = Code("http://www.w3.org/2000/09/xmldsig#", "URN", "Default Signature Style")
SIGNATURE_EVENT = Code(f"{oids.ASTM_E1762_SIGNATURE_TYPE}.1.14", oids.ASTM_E1762_SIGNATURE_TYPE, "Source")
SIGNATURE_CONFIDENTIALITY = (
    Code("N", oids.HL7_CONFIDENTIALITY, "Normal"),
    Code("MASQUE_PS", oids.TRE_A07_STATUT_VISIBILITE_DOCUMENT, "Masqué aux professionnels de santé"),
    Code("INVISIBLE_PATIENT", oids.TRE_A07_STATUT_VISIBILITE_DOCUMENT, "Non visible par le patient"),
)
SIGNATURE_LANGUAGE = "art"
SIGNATURE_TITLE = "Source"
DEVICE_SPECIALTY = Code("DISPOSITIF", oids.TRE_A00_PRODUCTEUR_DOC_NON_PS, "Dispositif médical")


# --- HL7 v2 data types (XCN, XON, CE-like triples) ---

_HL7_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def hl7_escape(value: str) -> str:
    """Escape the HL7 v2 delimiters in a component value (the escape character first)."""
    for raw, escaped in _HL7_ESCAPES:
        value = value.replace(raw, escaped)
    return value


def xcn_person(person: Person) -> str:
    """XCN of a health professional: ``<PS_IdNat>^FAMILY^Given^Other given^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^<type>``.
    Type ``IDNPS`` for a national id (8+RPPS, 0+ADELI), ``EI`` for a structure-internal id (``3<FINESS>/<id>``)."""
    given = person.given[0] if person.given else ""
    others = " ".join(person.given[1:])
    id_type = "EI" if "/" in person.id_nat else "IDNPS"
    return (
        f"{hl7_escape(person.id_nat)}^{hl7_escape(person.family)}^{hl7_escape(given)}^{hl7_escape(others)}"
        f"^^^^^&{OID_PS_IDNAT}&ISO^D^^^{id_type}"
    )


def xcn_author(author: Author) -> str:
    """XCN of an author: the person, or the system (``<id>^<model>^<software>^...^U^^^RI``, spec digest §3.3)."""
    if author.person is not None:
        return xcn_person(author.person)
    if author.device is None:
        raise ValueError("an author needs a person or a device")
    d = author.device
    return (
        f"{hl7_escape(d.id_nat)}^{hl7_escape(d.model_name)}^{hl7_escape(d.software_name)}"
        f"^^^^^^&{OID_PS_IDNAT}&ISO^U^^^RI"
    )


def xon(org: Organization) -> str:
    """XON: ``Name^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^<Struct_IdNat>`` (XON.10 = '1'+FINESS ...)."""
    return f"{hl7_escape(org.name)}^^^^^&{OID_STRUCT_IDNAT}&ISO^IDNST^^^{hl7_escape(org.id_nat)}"


def code_triple(code: Code) -> str:
    """``code^display^system`` (authorSpecialty form of the GIE sample)."""
    return f"{hl7_escape(code.code)}^{hl7_escape(code.display)}^{code.system}"


def source_patient_info(patient: Patient) -> list[str]:
    """``PID-5|FAMILY^Given^^^^^L``, ``PID-7|yyyyMMdd``, ``PID-8|F`` (birth identity: the INS traits)."""
    gender = {"M": "M", "F": "F"}.get(patient.gender, "U")
    return [
        f"PID-5|{hl7_escape(patient.birth_family_name)}^{hl7_escape(patient.first_birth_given_name)}^^^^^L",
        f"PID-7|{patient.birth_time[:8]}",
        f"PID-8|{gender}",
    ]


# --- element builders ---


class _Ids:
    """Sequential symbolic ids for Classifications, ExternalIdentifiers and Associations (deterministic output)."""

    def __init__(self) -> None:
        self._n = {"cl": 0, "ei": 0, "as": 0}

    def __call__(self, prefix: str) -> str:
        self._n[prefix] += 1
        return f"{prefix}{self._n[prefix]:02d}"


def _rim(tag: str) -> str:
    return f"{{{RIM_NS}}}{tag}"


# the tags of the ~50 slots and ~25 names of a submission, spelt once
_SLOT, _VALUE_LIST, _VALUE, _LOCALIZED = _rim("Slot"), _rim("ValueList"), _rim("Value"), _rim("LocalizedString")
_LANG = f"{{{XML_NS}}}lang"


def _slot(parent: etree._Element, name: str, values: Iterable[str]) -> None:
    slot = etree.SubElement(parent, _SLOT, name=name)
    value_list = etree.SubElement(slot, _VALUE_LIST)
    for v in values:
        etree.SubElement(value_list, _VALUE).text = v


def _localized(parent: etree._Element, tag: str, text: str) -> None:
    holder = etree.SubElement(parent, _rim(tag))
    ls = etree.SubElement(holder, _LOCALIZED)
    ls.set("charset", "UTF8")
    ls.set("value", text)
    ls.set(_LANG, "FR")


def _coded(parent: etree._Element, scheme: ClassificationScheme, obj_id: str, code: Code, ids: _Ids) -> None:
    cl = etree.SubElement(parent, _rim("Classification"))
    cl.set("classificationScheme", scheme.value)
    cl.set("classifiedObject", obj_id)
    cl.set("id", ids("cl"))
    cl.set("nodeRepresentation", code.code)
    _slot(cl, Slot.CODING_SCHEME, [code.system])
    _localized(cl, "Name", code.display)


def _author(parent: etree._Element, scheme: ClassificationScheme, obj_id: str, author: Author, ids: _Ids) -> None:
    cl = etree.SubElement(parent, _rim("Classification"))
    cl.set("classificationScheme", scheme.value)
    cl.set("classifiedObject", obj_id)
    cl.set("id", ids("cl"))
    cl.set("nodeRepresentation", "")
    _slot(cl, Slot.AUTHOR_PERSON, [xcn_author(author)])
    specialty = author.person.profession if author.person is not None else DEVICE_SPECIALTY
    if specialty is not None:
        _slot(cl, Slot.AUTHOR_SPECIALTY, [code_triple(specialty)])
    _slot(cl, Slot.AUTHOR_INSTITUTION, [xon(author.organization)])
    if author.function_code is not None:
        _slot(cl, Slot.AUTHOR_ROLE, [hl7_escape(author.function_code.display)])


def _external_id(parent: etree._Element, scheme: ExternalIdentifierScheme, obj_id: str, value: str, ids: _Ids) -> None:
    ei = etree.SubElement(parent, _rim("ExternalIdentifier"))
    ei.set("id", ids("ei"))
    ei.set("identificationScheme", scheme.value)
    ei.set("registryObject", obj_id)
    ei.set("value", value)
    _localized(ei, "Name", EXTERNAL_IDENTIFIER_NAMES[scheme])


def _association(
    parent: etree._Element,
    kind: AssociationType,
    source: str,
    target: str,
    ids: _Ids,
    status: SubmissionSetStatus | None = SubmissionSetStatus.ORIGINAL,
) -> None:
    assoc = etree.SubElement(parent, _rim("Association"))
    assoc.set("associationType", kind.value)
    assoc.set("id", ids("as"))
    assoc.set("sourceObject", source)
    assoc.set("targetObject", target)
    if status is not None:
        _slot(assoc, Slot.SUBMISSION_SET_STATUS, [status.value])


def _submission_set(root: etree._Element, s: Submission, ids: _Ids) -> None:
    rp = etree.SubElement(root, _rim("RegistryPackage"), id=SUBMISSION_SET_ID)
    _slot(rp, Slot.SUBMISSION_TIME, [hl7_ts_utc(s.submission_time)])
    if s.title:
        _localized(rp, "Name", s.title)
    if s.comments:
        _localized(rp, "Description", s.comments)
    _author(rp, ClassificationScheme.SUBMISSION_SET_AUTHOR, SUBMISSION_SET_ID, s.author, ids)
    _coded(rp, ClassificationScheme.SUBMISSION_SET_CONTENT_TYPE_CODE, SUBMISSION_SET_ID, s.content_type, ids)
    node = etree.SubElement(rp, _rim("Classification"))
    node.set("classificationNode", ClassificationNode.SUBMISSION_SET.value)
    node.set("classifiedObject", SUBMISSION_SET_ID)
    node.set("id", ids("cl"))
    _external_id(rp, ExternalIdentifierScheme.SUBMISSION_SET_PATIENT_ID, SUBMISSION_SET_ID, s.patient.ins.cx(), ids)
    _external_id(rp, ExternalIdentifierScheme.SUBMISSION_SET_SOURCE_ID, SUBMISSION_SET_ID, s.source_id, ids)
    _external_id(rp, ExternalIdentifierScheme.SUBMISSION_SET_UNIQUE_ID, SUBMISSION_SET_ID, s.unique_id, ids)


def _document_entry(root: etree._Element, s: Submission, rendered: RenderedDocument, ids: _Ids) -> None:
    req = rendered.request
    doc = req.document
    eid = req.entry_id
    eo = etree.SubElement(root, _rim("ExtrinsicObject"))
    eo.set("id", eid)
    eo.set("mimeType", doc.mime_type)
    eo.set("objectType", ObjectType.STABLE_DOCUMENT_ENTRY.value)
    _slot(eo, Slot.CREATION_TIME, [hl7_ts_utc(doc.effective_time)])
    _slot(eo, Slot.LANGUAGE_CODE, [doc.language])
    _slot(eo, Slot.LEGAL_AUTHENTICATOR, [xcn_person(doc.legal_authenticator.person)])
    if doc.service_event.start is not None:
        _slot(eo, Slot.SERVICE_START_TIME, [hl7_ts_utc(doc.service_event.start)])
    if doc.service_event.end is not None:
        _slot(eo, Slot.SERVICE_STOP_TIME, [hl7_ts_utc(doc.service_event.end)])
    _slot(eo, Slot.SOURCE_PATIENT_ID, [req.source_patient_id])
    _slot(eo, Slot.SOURCE_PATIENT_INFO, source_patient_info(doc.patient))
    _slot(eo, Slot.HASH, [rendered.sha1_hex])
    _slot(eo, Slot.SIZE, [str(rendered.size)])
    if req.reference_ids:
        _slot(eo, Slot.REFERENCE_ID_LIST, req.reference_ids)
    _localized(eo, "Name", doc.title)
    if req.comments:
        _localized(eo, "Description", req.comments)
    for author in doc.authors:
        _author(eo, ClassificationScheme.DOCUMENT_ENTRY_AUTHOR, eid, author, ids)
    _coded(eo, ClassificationScheme.CLASS_CODE, eid, req.class_code, ids)
    _coded(eo, ClassificationScheme.TYPE_CODE, eid, doc.type_code, ids)
    for conf in req.confidentiality_codes or (doc.confidentiality,):
        _coded(eo, ClassificationScheme.CONFIDENTIALITY_CODE, eid, conf, ids)
    _coded(eo, ClassificationScheme.FORMAT_CODE, eid, req.format_code, ids)
    _coded(eo, ClassificationScheme.HEALTHCARE_FACILITY_TYPE_CODE, eid, doc.encounter.facility_type, ids)
    _coded(eo, ClassificationScheme.PRACTICE_SETTING_CODE, eid, doc.service_event.practice_setting, ids)
    for event in req.event_codes:
        _coded(eo, ClassificationScheme.EVENT_CODE_LIST, eid, event, ids)
    _external_id(eo, ExternalIdentifierScheme.DOCUMENT_ENTRY_PATIENT_ID, eid, doc.patient.ins.cx(), ids)
    _external_id(eo, ExternalIdentifierScheme.DOCUMENT_ENTRY_UNIQUE_ID, eid, doc.id, ids)


def _signature_entry(
    root: etree._Element, s: Submission, first: RenderedDocument, sig: SignatureDocument, ids: _Ids
) -> None:
    """The "signature du lot" DocumentEntry, values of spec digest §4.1."""
    eid = sig.entry_id
    when = hl7_ts_utc(sig.created)
    eo = etree.SubElement(root, _rim("ExtrinsicObject"))
    eo.set("id", eid)
    eo.set("mimeType", "text/xml")
    eo.set("objectType", ObjectType.STABLE_DOCUMENT_ENTRY.value)
    _slot(eo, Slot.CREATION_TIME, [when])
    _slot(eo, Slot.LANGUAGE_CODE, [SIGNATURE_LANGUAGE])
    _slot(eo, Slot.LEGAL_AUTHENTICATOR, [xcn_author(s.author)])
    _slot(eo, Slot.SERVICE_START_TIME, [when])
    _slot(eo, Slot.SERVICE_STOP_TIME, [when])
    _slot(eo, Slot.SOURCE_PATIENT_ID, [s.patient.ins.cx()])
    _slot(eo, Slot.HASH, [_sha1_hex(sig.xml)])
    _slot(eo, Slot.SIZE, [str(len(sig.xml))])
    _localized(eo, "Name", SIGNATURE_TITLE)
    _author(eo, ClassificationScheme.DOCUMENT_ENTRY_AUTHOR, eid, s.author, ids)
    _coded(eo, ClassificationScheme.CLASS_CODE, eid, SIGNATURE_CLASS, ids)
    _coded(eo, ClassificationScheme.TYPE_CODE, eid, SIGNATURE_TYPE, ids)
    for conf in SIGNATURE_CONFIDENTIALITY:
        _coded(eo, ClassificationScheme.CONFIDENTIALITY_CODE, eid, conf, ids)
    _coded(eo, ClassificationScheme.FORMAT_CODE, eid, SIGNATURE_FORMAT, ids)
    doc = first.request.document
    _coded(eo, ClassificationScheme.HEALTHCARE_FACILITY_TYPE_CODE, eid, doc.encounter.facility_type, ids)
    _coded(eo, ClassificationScheme.PRACTICE_SETTING_CODE, eid, doc.service_event.practice_setting, ids)
    _coded(eo, ClassificationScheme.EVENT_CODE_LIST, eid, SIGNATURE_EVENT, ids)
    _external_id(eo, ExternalIdentifierScheme.DOCUMENT_ENTRY_PATIENT_ID, eid, s.patient.ins.cx(), ids)
    _external_id(eo, ExternalIdentifierScheme.DOCUMENT_ENTRY_UNIQUE_ID, eid, sig.unique_id, ids)


def _sha1_hex(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def to_registry_object_list(
    submission: Submission,
    documents: Sequence[RenderedDocument],
    signature: SignatureDocument | None = None,
) -> etree._Element:
    """``rim:RegistryObjectList``: SubmissionSet, one DocumentEntry per rendered document (in order), the signature
    entry when given, then the HasMember associations, RPLC associations and the ``signs`` association."""
    if not documents:
        raise ValueError("a submission needs at least one document")
    entry_ids = [d.request.entry_id for d in documents] + ([signature.entry_id] if signature else [])
    if len(set(entry_ids)) != len(entry_ids) or SUBMISSION_SET_ID in entry_ids:
        raise ValueError(f"entry ids must be unique and differ from {SUBMISSION_SET_ID}: {entry_ids}")
    ids = _Ids()
    root = etree.Element(_rim("RegistryObjectList"), nsmap=NSMAP)
    _submission_set(root, submission, ids)
    for rendered in documents:
        _document_entry(root, submission, rendered, ids)
    if signature is not None:
        _signature_entry(root, submission, documents[0], signature, ids)
    for entry_id in entry_ids:
        _association(root, AssociationType.HAS_MEMBER, SUBMISSION_SET_ID, entry_id, ids)
    for rendered in documents:
        old = rendered.request.replaces_entry_uuid
        if old:
            _association(root, AssociationType.REPLACE, rendered.request.entry_id, old, ids, status=None)
    if signature is not None:
        _association(root, AssociationType.SIGNS, signature.entry_id, SUBMISSION_SET_ID, ids)
    return root


def to_submit_objects_request(
    submission: Submission,
    documents: Sequence[RenderedDocument],
    signature: SignatureDocument | None = None,
) -> etree._Element:
    """``lcm:SubmitObjectsRequest`` wrapping the RegistryObjectList."""
    request = etree.Element(f"{{{LCM_NS}}}SubmitObjectsRequest", nsmap=LCM_NSMAP)
    request.append(to_registry_object_list(submission, documents, signature))
    return request


def to_bytes(element: etree._Element) -> bytes:
    """UTF-8 XML with declaration, indented (for $preview, files and goldens; the SOAP layer embeds the element)."""
    return bytes(etree.tostring(element, xml_declaration=True, encoding="UTF-8", pretty_print=True))


__all__ = [
    "SUBMISSION_SET_ID",
    "code_triple",
    "hl7_escape",
    "source_patient_info",
    "to_registry_object_list",
    "to_bytes",
    "to_submit_objects_request",
    "xcn_author",
    "xcn_person",
    "xon",
]
