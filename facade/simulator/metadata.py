"""Reading the ITI-41 body (xdsb:ProvideAndRegisterDocumentSetRequest) with plain XPath on the ebRIM.

Deliberately independent of ``facade.xds.ebrim`` and ``facade.xds.ebrim_read``: the simulator is a second,
separate reading of the ebRIM the facade writes, so that a mistake shared by writer and reader cannot pass unseen
(the code-duplication report lists it; it stays). Only reading happens here; the rules live in
``facade.simulator.iti41_rules``.
"""

from __future__ import annotations

import base64
import binascii
from copy import deepcopy
from dataclasses import dataclass, field

from lxml import etree

from facade.simulator.mime import MimePart, normalise_cid
from facade.simulator.soap12 import SoapFault

XDSB_NS = "urn:ihe:iti:xds-b:2007"
LCM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
XOP_NS = "http://www.w3.org/2004/08/xop/include"
NS = {"xdsb": XDSB_NS, "lcm": LCM_NS, "rim": RIM_NS, "xop": XOP_NS}

# IHE classification / identification schemes (spec §3.1)
SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
DE_OBJECT_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_EVENT = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"


@dataclass(frozen=True)
class Coded:
    scheme: str
    code: str  # nodeRepresentation
    coding_scheme: str | None  # Slot codingScheme
    slots: dict[str, list[str]]


@dataclass(frozen=True)
class RegistryObject:
    """An ExtrinsicObject (DocumentEntry) or the RegistryPackage (SubmissionSet)."""

    id: str
    tag: str  # local name
    mime_type: str | None
    object_type: str | None
    slots: dict[str, list[str]]
    classifications: list[Coded]
    external_ids: dict[str, list[str]]  # identificationScheme -> values
    # a detached copy of the element, loose Classifications nested: what the registry keeps (ITI-18 answers it)
    element: etree._Element | None = field(default=None, compare=False, repr=False)

    def slot(self, name: str) -> str | None:
        values = self.slots.get(name)
        return values[0] if values else None

    def coded(self, scheme: str) -> list[Coded]:
        return [c for c in self.classifications if c.scheme == scheme]

    def external_id(self, scheme: str) -> str | None:
        values = self.external_ids.get(scheme)
        return values[0] if values else None


@dataclass(frozen=True)
class Association:
    id: str | None
    type: str
    source: str
    target: str
    slots: dict[str, list[str]]


@dataclass(frozen=True)
class DocumentContent:
    """One xdsb:Document: its bytes, or why they could not be obtained."""

    id: str
    data: bytes | None
    problem: str | None = None


@dataclass
class SubmissionRequest:
    submission_sets: list[RegistryObject] = field(default_factory=list)
    entries: list[RegistryObject] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)
    documents: dict[str, DocumentContent] = field(default_factory=dict)
    duplicate_document_ids: list[str] = field(default_factory=list)
    unused_parts: list[str] = field(default_factory=list)


def _slots(el: etree._Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for slot in el.findall("rim:Slot", NS):
        name = slot.get("name") or ""
        out.setdefault(name, []).extend((v.text or "").strip() for v in slot.findall("rim:ValueList/rim:Value", NS))
    return out


def _coded(el: etree._Element) -> Coded:
    slots = _slots(el)
    coding = slots.get("codingScheme")
    return Coded(
        scheme=el.get("classificationScheme") or el.get("classificationNode") or "",
        code=el.get("nodeRepresentation") or "",
        coding_scheme=coding[0] if coding else None,
        slots=slots,
    )


def read_submission(body: etree._Element, parts: dict[str, MimePart]) -> SubmissionRequest:
    request = body.find("xdsb:ProvideAndRegisterDocumentSetRequest", NS)
    if request is None:
        raise SoapFault("Sender", "Le corps SOAP n'est pas un xdsb:ProvideAndRegisterDocumentSetRequest")
    objects = request.find("lcm:SubmitObjectsRequest/rim:RegistryObjectList", NS)
    if objects is None:
        raise SoapFault("Sender", "lcm:SubmitObjectsRequest/rim:RegistryObjectList absent")
    out = SubmissionRequest()
    _read_objects(objects, out)
    used = _read_documents(request, parts, out)
    out.unused_parts = sorted(set(parts) - used)
    return out


def _read_objects(objects: etree._Element, out: SubmissionRequest) -> None:
    # Classifications may be nested in their object or stand alone in the list (classifiedObject = the object id)
    loose: dict[str, list[etree._Element]] = {}
    for c in objects.findall("rim:Classification", NS):
        loose.setdefault(c.get("classifiedObject") or "", []).append(c)

    for el in objects:
        if not isinstance(el.tag, str):
            continue
        local = etree.QName(el).localname
        if local in ("ExtrinsicObject", "RegistryPackage"):
            classifications = el.findall("rim:Classification", NS) + loose.get(el.get("id") or "", [])
            obj = read_registry_object(el, local, classifications)
            if local == "ExtrinsicObject":
                out.entries.append(obj)
            elif any(c.get("classificationNode") == SS_NODE for c in classifications):
                out.submission_sets.append(obj)
        elif local == "Association":
            out.associations.append(
                Association(
                    id=el.get("id"),
                    type=el.get("associationType") or "",
                    source=el.get("sourceObject") or "",
                    target=el.get("targetObject") or "",
                    slots=_slots(el),
                )
            )


def read_registry_object(
    el: etree._Element, local: str, classifications: list[etree._Element] | None = None
) -> RegistryObject:
    """One ExtrinsicObject / RegistryPackage; ``classifications`` defaults to the nested ones."""
    nested = el.findall("rim:Classification", NS)
    classifications = nested if classifications is None else classifications
    copy = deepcopy(el)
    for loose in classifications:
        if loose not in nested:
            copy.append(deepcopy(loose))
    ext: dict[str, list[str]] = {}
    for e in el.findall("rim:ExternalIdentifier", NS):
        ext.setdefault(e.get("identificationScheme") or "", []).append((e.get("value") or "").strip())
    return RegistryObject(
        id=el.get("id") or "",
        tag=local,
        mime_type=el.get("mimeType"),
        object_type=el.get("objectType"),
        slots=_slots(el),
        classifications=[_coded(c) for c in classifications],
        external_ids=ext,
        element=copy,
    )


def _read_documents(request: etree._Element, parts: dict[str, MimePart], out: SubmissionRequest) -> set[str]:
    """The xdsb:Document contents (MTOM part or inline base64); returns the MIME part ids they use."""
    used: set[str] = set()
    for doc in request.findall("xdsb:Document", NS):
        doc_id = doc.get("id") or ""
        if doc_id in out.documents:
            out.duplicate_document_ids.append(doc_id)
            continue
        include = doc.find("xop:Include", NS)
        if include is not None:
            cid = normalise_cid(include.get("href") or "")
            part = parts.get(cid)
            if part is None:
                out.documents[doc_id] = DocumentContent(doc_id, None, f"aucune partie MIME <{cid}>")
            else:
                used.add(cid)
                out.documents[doc_id] = DocumentContent(doc_id, part.data)
        else:  # inline base64 (ITI-41 without MTOM optimisation)
            try:
                data = base64.b64decode("".join((doc.text or "").split()), validate=True)
            except (binascii.Error, ValueError):
                out.documents[doc_id] = DocumentContent(doc_id, None, "contenu base64 invalide")
            else:
                out.documents[doc_id] = DocumentContent(doc_id, data)
    return used
