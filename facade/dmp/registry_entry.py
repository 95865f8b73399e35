"""One DocumentEntry as the DMP registry returns it (ITI-18 LeafClass or ObjectRef), read into a frozen value.

The DMP is the truth for what it holds (pdsm4dmp §3.3 item 5): the entryUUID changes at each metadata update, the
logicalId (``lid``) survives it, ``VersionInfo/@versionName`` counts the versions. ``element`` is the
ExtrinsicObject itself, kept whole so that a metadata update (ITI-57) can copy every slot, classification and
external identifier (pdsm4dmp §3.4) without a second reading. The coded fields are read for the FHIR side
(DocumentReference) and for searching the simulator's registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from facade.model.document import Code
from facade.xds.codes import RIM_NS, AvailabilityStatus, ClassificationScheme, ExternalIdentifierScheme, Slot

_RIM = f"{{{RIM_NS}}}"
OBJECT_REF = f"{_RIM}ObjectRef"
EXTRINSIC_OBJECT = f"{_RIM}ExtrinsicObject"
SIGNATURE_FORMAT = "http://www.w3.org/2000/09/xmldsig#"
SIGNATURE_TYPE = "E1762"


@dataclass(frozen=True)
class RegistryEntry:
    """A DocumentEntry of the DMP registry. ObjectRef answers carry only ``entry_uuid`` (the rest is empty)."""

    entry_uuid: str  # ExtrinsicObject/@id (urn:uuid:...), changes with each metadata version
    logical_id: str  # @lid, stable across metadata versions (= entry_uuid for the first one)
    unique_id: str  # XDSDocumentEntry.uniqueId (OID)
    status: str  # availability status URN (Approved, Deprecated, Archived, Deleted)
    version: str  # VersionInfo/@versionName ("1" for a never-updated entry)
    element: etree._Element | None = field(default=None, compare=False, repr=False)  # the ExtrinsicObject
    patient_id: str = ""  # XDSDocumentEntry.patientId (INS CX)
    mime_type: str = ""
    title: str = ""
    comments: str = ""
    creation_time: str = ""  # XDS DTM (UTC, yyyyMMddHHmmss or shorter)
    service_start_time: str = ""
    service_stop_time: str = ""
    language: str = ""
    hash: str = ""  # SHA-1 hex
    size: int | None = None
    repository_unique_id: str = ""
    class_code: Code | None = None
    type_code: Code | None = None
    format_code: Code | None = None
    facility_type_code: Code | None = None
    practice_setting_code: Code | None = None
    confidentiality: tuple[Code, ...] = ()
    event_codes: tuple[Code, ...] = ()
    author_institutions: tuple[str, ...] = ()  # XON values of every author
    author_persons: tuple[str, ...] = ()  # XCN values of every author
    reference_ids: tuple[str, ...] = ()  # urn:ihe:iti:xds:2013:referenceIdList (CXi)

    @property
    def is_object_ref(self) -> bool:
        return self.element is None and not self.unique_id

    @property
    def is_signature(self) -> bool:
        """The XAdES "signature du lot" entry of a submission (formatCode xmldsig, typeCode E1762; spec §4)."""
        return (self.format_code is not None and self.format_code.code == SIGNATURE_FORMAT) or (
            self.type_code is not None and self.type_code.code == SIGNATURE_TYPE
        )

    @property
    def is_current(self) -> bool:
        """Approved or Archived ("archived and current", JDV_J52)."""
        return self.status in (AvailabilityStatus.APPROVED.value, AvailabilityStatus.ARCHIVED.value)


def _slots(el: etree._Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for slot in el.findall(f"{_RIM}Slot"):
        out.setdefault(slot.get("name", ""), []).extend(
            v.text or "" for v in slot.iterfind(f"{_RIM}ValueList/{_RIM}Value")
        )
    return out


def _localized(el: etree._Element, tag: str) -> str:
    ls = el.find(f"{_RIM}{tag}/{_RIM}LocalizedString")
    return (ls.get("value") or "") if ls is not None else ""


def _codes(el: etree._Element, scheme: ClassificationScheme) -> tuple[Code, ...]:
    codes = []
    for cl in el.findall(f"{_RIM}Classification"):
        if cl.get("classificationScheme") != scheme.value:
            continue
        coding = _slots(cl).get(Slot.CODING_SCHEME.value) or [""]
        codes.append(Code(cl.get("nodeRepresentation") or "", coding[0], _localized(cl, "Name")))
    return tuple(codes)


def _first(codes: tuple[Code, ...]) -> Code | None:
    return codes[0] if codes else None


def _external_id(el: etree._Element, scheme: ExternalIdentifierScheme) -> str:
    for ei in el.findall(f"{_RIM}ExternalIdentifier"):
        if ei.get("identificationScheme") == scheme.value:
            return ei.get("value") or ""
    return ""


def _author_values(el: etree._Element, slot: Slot) -> tuple[str, ...]:
    values: list[str] = []
    for cl in el.findall(f"{_RIM}Classification"):
        if cl.get("classificationScheme") == ClassificationScheme.DOCUMENT_ENTRY_AUTHOR.value:
            values += _slots(cl).get(slot.value, [])
    return tuple(values)


def _size(values: list[str] | None) -> int | None:
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def entry_from_extrinsic_object(el: etree._Element) -> RegistryEntry:
    """A LeafClass ExtrinsicObject -> RegistryEntry (the element is kept, detached copies are the caller's choice)."""
    slots = _slots(el)

    def slot(name: Slot) -> str:
        values = slots.get(name.value)
        return values[0] if values else ""

    version = el.find(f"{_RIM}VersionInfo")
    entry_uuid = el.get("id") or ""
    return RegistryEntry(
        entry_uuid=entry_uuid,
        logical_id=el.get("lid") or entry_uuid,
        unique_id=_external_id(el, ExternalIdentifierScheme.DOCUMENT_ENTRY_UNIQUE_ID),
        status=el.get("status") or "",
        version=(version.get("versionName") or "1") if version is not None else "1",
        element=el,
        patient_id=_external_id(el, ExternalIdentifierScheme.DOCUMENT_ENTRY_PATIENT_ID),
        mime_type=el.get("mimeType") or "",
        title=_localized(el, "Name"),
        comments=_localized(el, "Description"),
        creation_time=slot(Slot.CREATION_TIME),
        service_start_time=slot(Slot.SERVICE_START_TIME),
        service_stop_time=slot(Slot.SERVICE_STOP_TIME),
        language=slot(Slot.LANGUAGE_CODE),
        hash=slot(Slot.HASH),
        size=_size(slots.get(Slot.SIZE.value)),
        repository_unique_id=slot(Slot.REPOSITORY_UNIQUE_ID),
        class_code=_first(_codes(el, ClassificationScheme.CLASS_CODE)),
        type_code=_first(_codes(el, ClassificationScheme.TYPE_CODE)),
        format_code=_first(_codes(el, ClassificationScheme.FORMAT_CODE)),
        facility_type_code=_first(_codes(el, ClassificationScheme.HEALTHCARE_FACILITY_TYPE_CODE)),
        practice_setting_code=_first(_codes(el, ClassificationScheme.PRACTICE_SETTING_CODE)),
        confidentiality=_codes(el, ClassificationScheme.CONFIDENTIALITY_CODE),
        event_codes=_codes(el, ClassificationScheme.EVENT_CODE_LIST),
        author_institutions=_author_values(el, Slot.AUTHOR_INSTITUTION),
        author_persons=_author_values(el, Slot.AUTHOR_PERSON),
        reference_ids=tuple(slots.get(Slot.REFERENCE_ID_LIST.value, [])),
    )


def entry_from_object_ref(el: etree._Element) -> RegistryEntry:
    """An ObjectRef answer names the entryUUID only (ITI-18 returnType="ObjectRef")."""
    entry_uuid = el.get("id") or ""
    return RegistryEntry(entry_uuid=entry_uuid, logical_id="", unique_id="", status="", version="")


def entries_from_object_list(object_list: etree._Element) -> list[RegistryEntry]:
    """Every DocumentEntry of a rim:RegistryObjectList (ExtrinsicObject or ObjectRef), in document order."""
    entries = []
    for child in object_list:
        if child.tag == EXTRINSIC_OBJECT:
            entries.append(entry_from_extrinsic_object(child))
        elif child.tag == OBJECT_REF:
            entries.append(entry_from_object_ref(child))
    return entries


__all__ = [
    "RegistryEntry",
    "entries_from_object_list",
    "entry_from_extrinsic_object",
    "entry_from_object_ref",
]
