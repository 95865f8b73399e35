"""ITI-57 Update Document Set requests as the DMP takes them (pdsm4dmp §3.1 TD3.3a-d, §3.4; KIT TD3.3d sample).

Two shapes, each a ``lcm:SubmitObjectsRequest`` with a full SubmissionSet RegistryPackage (submissionTime, author,
contentTypeCode, patientId, sourceId, a new uniqueId) and no XAdES, sent as plain SOAP 1.2 to the registry:

- availability status (archive, unarchive, delete): one ``UpdateAvailabilityStatus`` Association SS -> entryUUID with
  slots ``OriginalStatus`` / ``NewStatus`` (KIT ``TD3.3d_archiver_document_request.xml``, GIE-KIT depublication);
- metadata (mask, visibility): a copy of the current ExtrinsicObject, same ``lid``, a new symbolic id, only the
  confidentiality Classifications changed, and a HasMember SS -> new version with ``SubmissionSetStatus=Original``
  and ``PreviousVersion`` = the version read (GIE-KIT ``template_masquage.xml``, whose element order is kept).

Unlike the kit sample (4 ebRIM XSD errors), every Classification has ``classifiedObject`` and every
ExternalIdentifier ``registryObject``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from facade.cda.filters import hl7_ts_utc
from facade.model.document import Author, Code
from facade.xds.codes import (
    LCM_NS,
    RIM_NS,
    AssociationType,
    ClassificationNode,
    ClassificationScheme,
    ExternalIdentifierScheme,
    Slot,
    SubmissionSetStatus,
)
from facade.xds.ebrim import (  # the ITI-41 builders' element helpers: one way to write ebRIM
    SUBMISSION_SET_ID,
    _author,
    _coded,
    _external_id,
    _Ids,
    _localized,
    _slot,
)

UPDATE_DOCUMENT_SET = "urn:ihe:iti:2010:UpdateDocumentSet"
UPDATE_DOCUMENT_SET_RESPONSE = "urn:ihe:iti:2010:UpdateDocumentSet-Response"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"  # "dépubliée" (JDV_J52)
ORIGINAL_STATUS = "OriginalStatus"
NEW_STATUS = "NewStatus"
PREVIOUS_VERSION = "PreviousVersion"
NEW_VERSION_ID = "Document01"  # symbolic id of the new metadata version (GIE-KIT template_masquage.xml)
ASSOCIATION_OBJECT_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"  # as the samples
_RIM = f"{{{RIM_NS}}}"


@dataclass(frozen=True)
class SubmissionSetHeader:
    """What every ITI-57 SubmissionSet carries (pdsm4dmp §3.1: the full SS, a new uniqueId)."""

    unique_id: str
    source_id: str
    patient_ins_cx: str
    author: Author
    content_type: Code
    submission_time: datetime
    title: str = ""


def _submission_set(root: etree._Element, ss: SubmissionSetHeader, ids: _Ids) -> None:
    rp = etree.SubElement(root, f"{_RIM}RegistryPackage", id=SUBMISSION_SET_ID)
    _slot(rp, Slot.SUBMISSION_TIME, [hl7_ts_utc(ss.submission_time)])
    if ss.title:
        _localized(rp, "Name", ss.title)
    _author(rp, ClassificationScheme.SUBMISSION_SET_AUTHOR, SUBMISSION_SET_ID, ss.author, ids)
    _coded(rp, ClassificationScheme.SUBMISSION_SET_CONTENT_TYPE_CODE, SUBMISSION_SET_ID, ss.content_type, ids)
    node = etree.SubElement(rp, f"{_RIM}Classification")
    node.set("classificationNode", ClassificationNode.SUBMISSION_SET.value)
    node.set("classifiedObject", SUBMISSION_SET_ID)
    node.set("id", ids("cl"))
    _external_id(rp, ExternalIdentifierScheme.SUBMISSION_SET_PATIENT_ID, SUBMISSION_SET_ID, ss.patient_ins_cx, ids)
    _external_id(rp, ExternalIdentifierScheme.SUBMISSION_SET_SOURCE_ID, SUBMISSION_SET_ID, ss.source_id, ids)
    _external_id(rp, ExternalIdentifierScheme.SUBMISSION_SET_UNIQUE_ID, SUBMISSION_SET_ID, ss.unique_id, ids)


def _request() -> tuple[etree._Element, etree._Element]:
    request = etree.Element(f"{{{LCM_NS}}}SubmitObjectsRequest", nsmap={"lcm": LCM_NS, "rim": RIM_NS})
    return request, etree.SubElement(request, f"{_RIM}RegistryObjectList")


def _association(root: etree._Element, ids: _Ids, kind: AssociationType, target: str) -> etree._Element:
    """An Association from the SubmissionSet to ``target``."""
    assoc = etree.SubElement(root, f"{_RIM}Association")
    assoc.set("associationType", kind.value)
    assoc.set("id", ids("as"))
    assoc.set("objectType", ASSOCIATION_OBJECT_TYPE)
    assoc.set("sourceObject", SUBMISSION_SET_ID)
    assoc.set("targetObject", target)
    return assoc


def availability_update(ss: SubmissionSetHeader, entry_uuid: str, original: str, new: str) -> etree._Element:
    """Archive / unarchive / delete one DocumentEntry (its current entryUUID, its current status URN)."""
    request, root = _request()
    ids = _Ids()
    _submission_set(root, ss, ids)
    assoc = _association(root, ids, AssociationType.UPDATE_AVAILABILITY_STATUS, entry_uuid)
    _slot(assoc, ORIGINAL_STATUS, [original])
    _slot(assoc, NEW_STATUS, [new])
    return request


def metadata_update(
    ss: SubmissionSetHeader, current: etree._Element, previous_version: str, confidentiality: Sequence[Code]
) -> etree._Element:
    """A new metadata version of ``current`` (the ExtrinsicObject as the registry returned it) with other
    confidentiality codes; everything else copied, ``lid`` kept."""
    request, root = _request()
    ids = _Ids()
    _submission_set(root, ss, ids)
    # the GIE template's order: SubmissionSet, HasMember, then the new version
    assoc = _association(root, ids, AssociationType.HAS_MEMBER, NEW_VERSION_ID)
    _slot(assoc, Slot.SUBMISSION_SET_STATUS, [SubmissionSetStatus.ORIGINAL.value])
    _slot(assoc, PREVIOUS_VERSION, [previous_version])
    root.append(new_version(current, confidentiality, ids))
    return request


def new_version(current: etree._Element, confidentiality: Sequence[Code], ids: _Ids) -> etree._Element:
    """The copy as the GIE template writes it: the registry's object with a new symbolic id, ``lid`` kept (it names
    the document across versions), ``status`` and ``VersionInfo`` as read (the registry assigns the new ones), its
    parts renamed and pointing at the new id, the confidentiality Classifications replaced."""
    eo = copy.deepcopy(current)
    lid = current.get("lid") or current.get("id") or ""
    eo.attrib.pop("home", None)
    eo.set("id", NEW_VERSION_ID)
    eo.set("lid", lid)
    for child in list(eo):
        if not isinstance(child.tag, str):
            eo.remove(child)
        elif child.tag == f"{_RIM}Classification":
            if child.get("classificationScheme") == ClassificationScheme.CONFIDENTIALITY_CODE.value:
                eo.remove(child)
                continue
            child.set("id", ids("cl"))
            child.set("classifiedObject", NEW_VERSION_ID)
        elif child.tag == f"{_RIM}ExternalIdentifier":
            child.set("id", ids("ei"))
            child.set("registryObject", NEW_VERSION_ID)
    codes = etree.Element("holder")
    for code in confidentiality:
        _coded(codes, ClassificationScheme.CONFIDENTIALITY_CODE, NEW_VERSION_ID, code, ids)
    # ebRIM order: Slot*, Name, Description, VersionInfo, Classification*, ExternalIdentifier*
    anchor = next((c for c in eo if c.tag == f"{_RIM}ExternalIdentifier"), None)
    for cl in list(codes):
        if anchor is None:
            eo.append(cl)
        else:
            anchor.addprevious(cl)
    return eo


__all__ = [
    "DELETED",
    "UPDATE_DOCUMENT_SET",
    "UPDATE_DOCUMENT_SET_RESPONSE",
    "SubmissionSetHeader",
    "availability_update",
    "metadata_update",
    "new_version",
]
