"""PDSm DocumentReference -> model.DocumentRequest (CDA header + XDS DocumentEntry metadata).

Mapping (spec digest §3.3, §6.1, §7.3):
* ``masterIdentifier`` ``urn:oid:X`` -> document id / XDS uniqueId (bare OID; the DMP refuses OID^extension).
  Absent -> a new OID (information issue); a CDA supplied as content lends its ``id/@root``. Not an OID -> 422;
* entryUUID (ExtrinsicObject/@id) = the ``identifier`` ``use=official`` ``urn:uuid:`` (MHD), else derived from
  the uniqueId (UUIDv5, information issue); never the fullUrl (unique only inside one transaction);
* ``type`` -> typeCode (JDV_J66); classCode = ``Terminology.class_for_type`` (ASS_X16, then ASS_X04); a
  ``category`` that disagrees is a warning and the derived class is used;
* ``securityLabel``: N/R/V -> CDA confidentialityCode (the most restrictive when several; default N); the DMP
  masking codes (TRE_A07: MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX) -> extra XDS codes;
* ``date`` -> effectiveTime (time and offset required); ``context.period`` -> serviceEvent (start defaults to
  ``date``, with a warning); ``context.facilityType`` / ``practiceSetting`` -> J61 / J62 (defaults:
  ``ctx.facility.sector`` / ``practice_setting``); ``content.format`` -> J60, checked against the format derived
  from the media type (N1), the CDA templateIds (passthrough) or the level-3 document built (CR-BIO); the IHE
  FormatCode IG system URI is accepted as the TRE_A11 OID;
* ``context.related`` -> XDS referenceIdList and CDA inFulfillmentOf/order/id (see ``related``);
* ``author`` -> authors (see ``authors``); ``authenticator`` -> legalAuthenticator; when absent or not a person,
  the first person author is the legal authenticator (warning);
* custodian: always the emitting site (``1`` + FINESS géographique, spec digest §3.5);
* versions (setId, versionNumber, replacement): ``facade.mapping.versioning``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from facade.errors import Problem
from facade.fhir.parse import ParsedEntry
from facade.mapping.authors import PERSON_TYPES, site_organization, to_author, to_person
from facade.mapping.content import HL7, CdaHeader, Content, check_cda_header, read_content
from facade.mapping.context import MappingContext
from facade.mapping.ready_made import ready_made_request
from facade.mapping.related import Related, merge, order_reference_ids
from facade.mapping.versioning import (
    EXT_VERSION_NUMBER,
    IDENTIFIER_TYPE_SYSTEM,
    SET_ID_TYPE,
    Version,
    entry_uuid,
    read_version,
)
from facade.mapping.visibility import check_visibility, outside_dmp
from facade.model import oids
from facade.model.document import (
    Author,
    ClinicalDocument,
    Code,
    DocumentRequest,
    Encounter,
    InstanceId,
    LegalAuthenticator,
    NonXmlBody,
    Patient,
    ServiceEvent,
)
from facade.model.identifiers import oid_from_urn
from facade.terminology.tables import XDS_SD_TEMPLATE_ID, ValueSetName

# IHE FormatCode IG canonical URI of the formatCode system (TRE_A11, 1.3.6.1.4.1.19376.1.2.3), used by MHD examples
IHE_FORMAT_CODE_SYSTEM = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
IHE_FORMAT_CODE_OID = oids.TRE_A11_IHE_FORMAT_CODE
FRENCH_TEMPLATE_IDS = ("2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1")
CONFIDENTIALITY_OID = oids.HL7_CONFIDENTIALITY
MASKING_OID = oids.TRE_A07_STATUT_VISIBILITE_DOCUMENT
_RESTRICTION = {"N": 0, "R": 1, "V": 2}
_DEFAULT_N = Code("N", CONFIDENTIALITY_OID, "Normal")
TITLE_MAX = 128


@dataclass(frozen=True)
class _Codes:
    """What identifies and classifies the document (each None once its problem is reported)."""

    unique_id: str | None
    type_code: Code | None
    class_code: Code | None
    effective_time: datetime | None
    confidentiality: Code
    masks: tuple[Code, ...]
    format_code: Code | None


@dataclass(frozen=True)
class _Service:
    """The care the document reports: serviceEvent / encompassingEncounter times and settings."""

    start: datetime | None
    end: datetime | None
    facility_type: Code | None
    practice_setting: Code | None


def to_document_request(
    doc: ParsedEntry,
    number: int,
    patient: Patient | None,
    source_patient_id: str | None,
    mc: MappingContext,
    *,
    related: Related | None = None,
    level3_format: Code | None = None,
) -> DocumentRequest | None:
    """Map one DocumentReference. ``number`` (1-based): its position among the documents. ``related``: its
    ``context.related`` already read (referenceIdList, order ids); ``level3_format``: the formatCode of the level-3
    document the caller will build from the same bundle (CR-BIO), checked against ``content.format`` instead of
    the N1 one derived from the media type. Every step reports its own problems; None when any was an error."""
    errors_before = len(mc.report.errors)
    content = read_content(doc, mc)
    if content is not None and content.cda is not None and content.cda.root is not None:
        return ready_made_request(doc, number, content, patient, source_patient_id, mc, related)
    header = content.cda if content else None
    codes = _codes(doc, content, mc, level3_format)
    check_visibility(doc, codes.masks, patient.birth_time if patient else None, codes.effective_time, mc)
    service = _service(doc, codes.effective_time, mc)
    time = codes.effective_time or mc.build.now
    authors = _authors(doc, time, mc)
    legal = _legal_authenticator(doc, authors, time, mc)
    title = _title(doc.raw, doc.path, codes.type_code, mc)
    version = read_version(doc, codes.unique_id, header, mc)
    entry_id = entry_uuid(doc.raw, doc.path, codes.unique_id, mc)
    if header is not None:
        check_cda_header(doc.path, header, codes.unique_id, codes.type_code, patient, mc)
    required = (
        content,
        codes.unique_id,
        codes.type_code,
        codes.class_code,
        codes.effective_time,
        codes.format_code,
        service.facility_type,
        service.practice_setting,
        legal,
        patient,
        title,
    )
    if len(mc.report.errors) > errors_before or not authors or any(x is None for x in required):
        return None  # every problem is in the report
    if source_patient_id is None or version.set_id is None or version.version is None or entry_id is None:
        return None
    assert content is not None and patient is not None and legal is not None and title is not None
    document = _document(doc, content, codes, service, authors, legal, patient, title, version, related, mc)
    if content.binary is not None:
        mc.mark(content.binary, "content", number - 1)
    related = related or Related()
    assert codes.class_code is not None and codes.format_code is not None
    return DocumentRequest(
        document=document,
        entry_id=entry_id,
        class_code=codes.class_code,
        format_code=codes.format_code,
        confidentiality_codes=(codes.confidentiality, *codes.masks),
        source_patient_id=source_patient_id,
        comments=doc.raw.get("description"),
        replaces_entry_uuid=version.replaces_uuid,
        fhir_fullurl=doc.full_url,
        event_codes=_event_codes(doc.raw.get("context") or {}, mc),
        reference_ids=merge(related.reference_ids, order_reference_ids(related.order_ids)),
    )


def _codes(doc: ParsedEntry, content: Content | None, mc: MappingContext, level3_format: Code | None) -> _Codes:
    raw, p = doc.raw, doc.path
    unique_id = _unique_id(raw, p, content.cda if content else None, mc)
    type_code = mc.codeable(
        ValueSetName.TYPE_CODE, raw.get("type"), f"{p}.type", "DocumentReference.type", required=True
    )
    class_code = _class_code(raw, p, type_code, mc)
    effective_time = mc.datetime_with_offset(raw.get("date"), f"{p}.date", "DocumentReference.date", required=True)
    confidentiality, masks = _confidentiality(raw, p, mc)
    format_code = _format_code(raw, p, content, mc, level3_format)
    return _Codes(unique_id, type_code, class_code, effective_time, confidentiality, masks, format_code)


def _service(doc: ParsedEntry, effective_time: datetime | None, mc: MappingContext) -> _Service:
    """``context.period`` (start defaults to ``date``, with a warning), ``facilityType``, ``practiceSetting``."""
    p = doc.path
    context = doc.raw.get("context") or {}
    period = context.get("period") or {}
    start = mc.datetime_with_offset(
        period.get("start"), f"{p}.context.period.start", "context.period.start", required=False
    )
    end = mc.datetime_with_offset(period.get("end"), f"{p}.context.period.end", "context.period.end", required=False)
    if start is None and "start" not in period and effective_time is not None:
        start = effective_time
        mc.report.warn(
            Problem.MISSING_ELEMENT,
            expression=f"{p}.context.period.start",
            element="context.period.start (serviceEvent start; DocumentReference.date used)",
        )
    facility_type = _coded_or_default(
        ValueSetName.FACILITY_TYPE,
        context.get("facilityType"),
        f"{p}.context.facilityType",
        "context.facilityType",
        mc.build.facility.sector,
        mc,
    )
    practice_setting = _coded_or_default(
        ValueSetName.PRACTICE_SETTING,
        context.get("practiceSetting"),
        f"{p}.context.practiceSetting",
        "context.practiceSetting",
        mc.build.facility.practice_setting,
        mc,
    )
    return _Service(start, end, facility_type, practice_setting)


def _document(
    doc: ParsedEntry,
    content: Content,
    codes: _Codes,
    service: _Service,
    authors: tuple[Author, ...],
    legal: LegalAuthenticator,
    patient: Patient,
    title: str,
    version: Version,
    related: Related | None,
    mc: MappingContext,
) -> ClinicalDocument:
    """The CDA header of a complete DocumentReference, around its content (N1 body or passed-through CDA)."""
    header = content.cda
    assert codes.unique_id is not None and codes.type_code is not None and codes.effective_time is not None
    assert service.facility_type is not None and service.practice_setting is not None
    assert version.set_id is not None and version.version is not None
    body = NonXmlBody(
        media_type=header.nonxml_media_type if header and header.nonxml_media_type else content.media_type,
        data=content.data,
    )
    template_ids = (
        tuple(InstanceId(t) for t in header.template_ids if t not in FRENCH_TEMPLATE_IDS)
        if header
        else (InstanceId(XDS_SD_TEMPLATE_ID),)
    )
    start, end = service.start, service.end
    return ClinicalDocument(
        id=codes.unique_id,
        set_id=version.set_id,
        version=version.version,
        type_code=codes.type_code,
        title=title,
        effective_time=codes.effective_time,
        confidentiality=codes.confidentiality,
        patient=patient,
        authors=authors,
        custodian=site_organization(mc),
        legal_authenticator=legal,
        service_event=ServiceEvent(
            start=start, end=end, performer=authors[0].organization, practice_setting=service.practice_setting
        ),
        encounter=Encounter(
            start=start, end=end, facility_type=service.facility_type, facility_name=mc.build.facility.site_name
        ),
        body=body,
        template_ids=template_ids,
        language=str((doc.raw.get("content") or [{}])[0].get("attachment", {}).get("language") or "fr-FR"),
        replaces_id=version.replaces_id,
        order_ids=(related or Related()).order_ids,
        passthrough=content.data if header else None,
    )


def _unique_id(raw: dict[str, Any], p: str, header: CdaHeader | None, mc: MappingContext) -> str | None:
    master = raw.get("masterIdentifier")
    if isinstance(master, dict) and master.get("value"):
        value = str(master["value"]).strip()
        oid = oid_from_urn(value)
        if oid is None or not (value.lower().startswith("urn:oid:") or master.get("system") in (None, "urn:oid")):
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=f"{p}.masterIdentifier.value",
                element="DocumentReference.masterIdentifier",
                reason=f"{value} is not urn:oid:<OID>: the DMP uniqueId (CDA id) must be a bare OID",
            )
            return None
        return oid
    if header is not None and header.id_root and not header.id_extension and oid_from_urn(header.id_root):
        return header.id_root
    new_id = mc.build.new_oid()
    mc.report.inform(
        Problem.INFORMATION,
        expression=f"{p}.masterIdentifier",
        text=f"no masterIdentifier: the document uniqueId {new_id} was generated",
    )
    return new_id


def _class_code(raw: dict[str, Any], p: str, type_code: Code | None, mc: MappingContext) -> Code | None:
    categories = [c for c in raw.get("category") or [] if isinstance(c, dict)]
    derived = mc.terminology.class_for_type(type_code) if type_code else None
    given: Code | None = None
    if categories:
        given = mc.codeable(ValueSetName.CLASS_CODE, categories[0], f"{p}.category[0]", "DocumentReference.category")
    if type_code is None:
        return given
    if derived is None:
        if given is None and not categories:
            mc.report.add(
                Problem.MISSING_ELEMENT,
                expression=f"{p}.category",
                element=f"DocumentReference.category (no classCode is derived from typeCode {type_code.code})",
            )
        return given
    if given is not None and given != derived:
        mc.report.warn(
            Problem.INVALID_VALUE,
            expression=f"{p}.category[0]",
            element="DocumentReference.category",
            reason=f"{given.code} differs from {derived.code} derived from typeCode {type_code.code}; "
            f"{derived.code} is used",
        )
    return derived


def _confidentiality(raw: dict[str, Any], p: str, mc: MappingContext) -> tuple[Code, tuple[Code, ...]]:
    level: Code | None = None
    masks: list[Code] = []
    for i, label in enumerate(raw.get("securityLabel") or []):
        for j, coding in enumerate((label or {}).get("coding") or []):
            if outside_dmp(coding):
                continue  # not a DMP code: check_visibility reports it
            found = mc.coding(
                ValueSetName.CONFIDENTIALITY,
                coding,
                f"{p}.securityLabel[{i}].coding[{j}]",
                "DocumentReference.securityLabel",
            )
            if found is None:
                continue
            if found.code in _RESTRICTION and found.system == CONFIDENTIALITY_OID:
                if level is None or _RESTRICTION[found.code] > _RESTRICTION[level.code]:
                    level = found
            elif found not in masks:
                masks.append(found)
    if level is None:
        level = mc.terminology.lookup(ValueSetName.CONFIDENTIALITY, "N", CONFIDENTIALITY_OID) or _DEFAULT_N
    return level, tuple(masks)


def _format_code(
    raw: dict[str, Any], p: str, content: Content | None, mc: MappingContext, level3: Code | None = None
) -> Code | None:
    contents = raw.get("content") or [{}]
    fmt = contents[0].get("format") if isinstance(contents[0], dict) else None
    expr = f"{p}.content[0].format"
    if isinstance(fmt, dict) and str(fmt.get("system") or "").rstrip("/") == IHE_FORMAT_CODE_SYSTEM:
        fmt = {**fmt, "system": f"urn:oid:{IHE_FORMAT_CODE_OID}"}  # IHE's canonical URI for the same codes
    given = mc.coding(ValueSetName.FORMAT_CODE, fmt, expr, "content.format") if fmt else None
    if content is None:
        return given
    derived: Code | None = None
    if level3 is not None:  # a level-3 document built here, or a ready-made one whose format A11 lacks (J10)
        derived = level3
    elif content.cda is None:
        derived = mc.terminology.format_for_media_type(content.media_type)
    else:
        for template in content.cda.template_ids:
            derived = mc.terminology.format_for_template(template)
            if derived:
                break
        if derived is None and content.cda.nonxml_media_type:
            derived = mc.terminology.format_for_media_type(content.cda.nonxml_media_type)
    if derived is None:
        if given is None and not fmt:
            mc.report.add(
                Problem.MISSING_ELEMENT,
                expression=expr,
                element="content.format (no formatCode derives from the content)",
            )
        return given
    if given is not None and (given.system, given.code) != (derived.system, derived.code):
        mc.report.warn(
            Problem.INVALID_VALUE,
            expression=expr,
            element="content.format",
            reason=f"{given.code} does not match the content ({derived.code}); {derived.code} is used",
        )
    return derived


def _coded_or_default(
    vs: ValueSetName, concept: Any, expression: str, element: str, default: Code, mc: MappingContext
) -> Code | None:
    if not concept:
        return default
    return mc.codeable(vs, concept, expression, element, required=True)


def _title(raw: dict[str, Any], p: str, type_code: Code | None, mc: MappingContext) -> str | None:
    contents = raw.get("content") or [{}]
    attachment = contents[0].get("attachment") or {} if isinstance(contents[0], dict) else {}
    title = str(attachment.get("title") or "").strip()
    expr = f"{p}.content[0].attachment.title"
    if not title:
        title = str(raw.get("description") or "").strip() or (type_code.display if type_code else "")
    if len(title) > TITLE_MAX:
        mc.report.add(
            Problem.INVALID_VALUE,
            expression=expr,
            element="attachment.title",
            reason=f"{len(title)} characters; the CDA title allows {TITLE_MAX}",
        )
        return None
    if not title and type_code is not None:  # (no type: already reported)
        mc.report.add(Problem.MISSING_ELEMENT, expression=expr, element="attachment.title (document title)")
    return title or None


def _authors(doc: ParsedEntry, time: datetime, mc: MappingContext) -> tuple[Author, ...]:
    refs = doc.raw.get("author") or []
    if not refs:
        mc.report.add(Problem.MISSING_ELEMENT, expression=f"{doc.path}.author", element="DocumentReference.author")
        return ()
    authors = [to_author(ref, doc, f"{doc.path}.author[{i}]", mc, time) for i, ref in enumerate(refs)]
    return tuple(a for a in authors if a is not None)


def _legal_authenticator(
    doc: ParsedEntry, authors: tuple[Author, ...], time: datetime, mc: MappingContext
) -> LegalAuthenticator | None:
    ref = doc.raw.get("authenticator")
    expr = f"{doc.path}.authenticator"
    if ref is not None:
        target = mc.resolver.resolve(ref, doc)
        if target is not None and target.resource_type in PERSON_TYPES:
            person_org = to_person(target, mc)
            if person_org is None:
                return None
            return LegalAuthenticator(person=person_org[0], organization=person_org[1], time=time)
        if target is None:
            mc.resolve(ref, doc, expr, expected=PERSON_TYPES)  # reports the unresolved reference
            return None
        mc.mark(target, "participant")
    first_person = next((a for a in authors if a.person is not None), None)
    if first_person is None or first_person.person is None:
        if authors:  # authors present but none is a person: nobody can sign
            mc.report.add(
                Problem.MISSING_ELEMENT,
                expression=expr,
                element="DocumentReference.authenticator (a Practitioner/PractitionerRole: the legal authenticator)",
            )
        return None
    mc.report.inform(
        Problem.INFORMATION,
        expression=expr,
        text="no person authenticator: the first person author is the legal authenticator",
    )
    return LegalAuthenticator(person=first_person.person, organization=first_person.organization, time=time)


def _event_codes(context: dict[str, Any], mc: MappingContext) -> tuple[Code, ...]:
    from facade.terminology.tables import uri_to_oid

    out: list[Code] = []
    for concept in context.get("event") or []:
        for coding in (concept or {}).get("coding") or []:
            oid = uri_to_oid(str(coding.get("system") or ""))
            if oid and coding.get("code"):
                out.append(Code(str(coding["code"]), oid, str(coding.get("display") or coding["code"])))
                break
    return tuple(out)


__all__ = [
    "EXT_VERSION_NUMBER",
    "HL7",
    "IDENTIFIER_TYPE_SYSTEM",
    "SET_ID_TYPE",
    "check_cda_header",
    "to_document_request",
]
