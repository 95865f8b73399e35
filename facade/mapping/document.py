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
* versions (our documented rule, STRUCMIN setId/versionNumber, spec digest §2.5):
  - ``DocumentReference.identifier`` with ``type.coding`` = ``IDENTIFIER_TYPE_SYSTEM|set-id`` and value
    ``urn:oid:X`` carries the setId; extension ``EXT_VERSION_NUMBER`` (valuePositiveInt/valueInteger) the
    versionNumber;
  - first version: setId = a new OID, distinct from the id; versionNumber 1;
  - replacement (``relatesTo.code = replaces``): the setId is REQUIRED (the old document's), versionNumber =
    the extension, else the replaced DocumentReference's version + 1 when it is in the request, else 2; the old
    uniqueId comes from ``relatesTo.target.identifier`` (``urn:oid:``) or the target's ``masterIdentifier``; the
    old entryUUID (needed for the XDS RPLC association) from a ``urn:uuid:`` target identifier, or the target's
    id / ``DocumentReference/<uuid>`` reference.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from facade.errors import PROBLEM_SYSTEM, Problem
from facade.fhir.parse import ParsedEntry
from facade.fhir.references import Resolved
from facade.ids import derived_entry_uuid
from facade.mapping.authors import PERSON_TYPES, site_organization, to_author, to_person
from facade.mapping.content import HL7, CdaHeader, Content, read_content
from facade.mapping.context import MappingContext, extension
from facade.mapping.related import Related, merge, order_reference_ids
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
from facade.model.identifiers import is_ins_oid, oid_from_urn
from facade.terminology.tables import XDS_SD_TEMPLATE_ID, ValueSetName

FACADE_NS = PROBLEM_SYSTEM.rsplit("/", 1)[0]
IDENTIFIER_TYPE_SYSTEM = f"{FACADE_NS}/identifier-type"
SET_ID_TYPE = "set-id"
EXT_VERSION_NUMBER = f"{FACADE_NS}/StructureDefinition/version-number"
# IHE FormatCode IG canonical URI of the formatCode system (TRE_A11, 1.3.6.1.4.1.19376.1.2.3), used by MHD examples
IHE_FORMAT_CODE_SYSTEM = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
IHE_FORMAT_CODE_OID = oids.TRE_A11_IHE_FORMAT_CODE
FRENCH_TEMPLATE_IDS = ("2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1")
CONFIDENTIALITY_OID = oids.HL7_CONFIDENTIALITY
MASKING_OID = oids.TRE_A07_STATUT_VISIBILITE_DOCUMENT
_RESTRICTION = {"N": 0, "R": 1, "V": 2}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DEFAULT_N = Code("N", CONFIDENTIALITY_OID, "Normal")
TITLE_MAX = 128


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
    the N1 one derived from the media type."""
    p = doc.path
    related = related or Related()
    raw = doc.raw
    errors_before = len(mc.report.errors)

    content = read_content(doc, mc)
    header = content.cda if content else None
    unique_id = _unique_id(raw, p, header, mc)
    type_code = mc.codeable(
        ValueSetName.TYPE_CODE, raw.get("type"), f"{p}.type", "DocumentReference.type", required=True
    )
    class_code = _class_code(raw, p, type_code, mc)
    effective_time = mc.datetime_with_offset(raw.get("date"), f"{p}.date", "DocumentReference.date", required=True)
    confidentiality, masks = _confidentiality(raw, p, mc)
    format_code = _format_code(raw, p, content, mc, level3_format)
    context = raw.get("context") or {}
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
    authors = _authors(doc, effective_time or mc.build.now, mc)
    legal = _legal_authenticator(doc, authors, effective_time or mc.build.now, mc)
    title = _title(raw, p, type_code, mc)
    replaces_id, replaces_uuid, replaced_version, replaced_set_id = _replacement(doc, mc)
    set_id, version = _versioning(raw, p, unique_id, header, replaces_id, replaced_version, replaced_set_id, mc)
    entry_id = entry_uuid(raw, p, unique_id, mc)

    if header is not None:
        check_cda_header(p, header, unique_id, type_code, patient, mc)
    if (
        len(mc.report.errors) > errors_before
        or content is None
        or unique_id is None
        or type_code is None
        or class_code is None
        or effective_time is None
        or format_code is None
        or facility_type is None
        or practice_setting is None
        or not authors
        or legal is None
        or patient is None
        or source_patient_id is None
        or set_id is None
        or version is None
        or title is None
        or entry_id is None
    ):
        return None  # every problem is in the report

    performer = authors[0].organization
    body = NonXmlBody(
        media_type=header.nonxml_media_type if header and header.nonxml_media_type else content.media_type,
        data=content.data,
    )
    template_ids = (
        tuple(InstanceId(t) for t in header.template_ids if t not in FRENCH_TEMPLATE_IDS)
        if header
        else (InstanceId(XDS_SD_TEMPLATE_ID),)
    )
    document = ClinicalDocument(
        id=unique_id,
        set_id=set_id,
        version=version,
        type_code=type_code,
        title=title,
        effective_time=effective_time,
        confidentiality=confidentiality,
        patient=patient,
        authors=authors,
        custodian=site_organization(mc),
        legal_authenticator=legal,
        service_event=ServiceEvent(start=start, end=end, performer=performer, practice_setting=practice_setting),
        encounter=Encounter(
            start=start, end=end, facility_type=facility_type, facility_name=mc.build.facility.site_name
        ),
        body=body,
        template_ids=template_ids,
        language=str((raw.get("content") or [{}])[0].get("attachment", {}).get("language") or "fr-FR"),
        replaces_id=replaces_id,
        order_ids=related.order_ids,
        passthrough=content.data if header else None,
    )
    if content.binary is not None:
        mc.mark(content.binary, "content", number - 1)
    return DocumentRequest(
        document=document,
        entry_id=entry_id,
        class_code=class_code,
        format_code=format_code,
        confidentiality_codes=(confidentiality, *masks),
        source_patient_id=source_patient_id,
        comments=raw.get("description"),
        replaces_entry_uuid=replaces_uuid,
        fhir_fullurl=doc.full_url,
        event_codes=_event_codes(context, mc),
        reference_ids=merge(related.reference_ids, order_reference_ids(related.order_ids)),
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


def entry_uuid(raw: dict[str, Any], p: str, unique_id: str | None, mc: MappingContext) -> str | None:
    """The DocumentEntry entryUUID (ExtrinsicObject/@id): the ``identifier`` with ``use=official`` whose value is
    ``urn:uuid:<uuid>`` (MHD / PDSM4DMP), else one derived from the uniqueId (``derived_entry_uuid``, information
    issue). Never the fullUrl: a ``urn:uuid`` fullUrl is unique only inside its transaction, and a DMP registry
    refuses a second document under an entryUUID it already holds. None: an error was reported."""
    for i, ident in enumerate(raw.get("identifier") or []):
        if not isinstance(ident, dict) or ident.get("use") != "official":
            continue
        value = str(ident.get("value") or "").strip()
        if not value.lower().startswith("urn:uuid:"):
            continue  # another official identifier (not the entryUUID): not ours to judge
        if not _UUID.match(value[9:]):
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=f"{p}.identifier[{i}].value",
                element="DocumentReference.identifier (official: the entryUUID)",
                reason=f"{value} is not urn:uuid:<UUID>",
            )
            return None
        return "urn:uuid:" + value[9:].lower()
    if unique_id is None:
        return None  # the uniqueId problem is reported; nothing to derive from
    derived = derived_entry_uuid(unique_id)
    mc.report.inform(
        Problem.INFORMATION,
        expression=f"{p}.identifier",
        text=f"no official urn:uuid identifier: the DocumentEntry entryUUID {derived} was derived from the uniqueId "
        "(quote it to replace this document)",
    )
    return derived


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
    if level3 is not None and content.cda is None:
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


def _replacement(doc: ParsedEntry, mc: MappingContext) -> tuple[str | None, str | None, int | None, str | None]:
    """(old uniqueId, old entryUUID, old version, old setId) from relatesTo[code=replaces]."""
    relations = [(k, r) for k, r in enumerate(doc.raw.get("relatesTo") or []) if isinstance(r, dict)]
    for k, rel in relations:
        if rel.get("code") != "replaces":
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=f"{doc.path}.relatesTo[{k}].code",
                element="DocumentReference.relatesTo.code",
                reason=f"{rel.get('code')} is not supported (only replaces: a new version, XDS RPLC)",
            )
    replaces = [(k, r) for k, r in relations if r.get("code") == "replaces"]
    if not replaces:
        return None, None, None, None
    for k, _ in replaces[1:]:
        mc.report.add(
            Problem.INVALID_VALUE,
            expression=f"{doc.path}.relatesTo[{k}]",
            element="DocumentReference.relatesTo",
            reason="a document replaces at most one document",
        )
    k, rel = replaces[0]
    expr = f"{doc.path}.relatesTo[{k}].target"
    target = rel.get("target") or {}
    old_id: str | None = None
    old_uuid: str | None = None
    old_version: int | None = None
    old_set_id: str | None = None
    ident = target.get("identifier") or {}
    value = str(ident.get("value") or "").strip()
    if value.lower().startswith("urn:uuid:") and _UUID.match(value[9:]):
        old_uuid = "urn:uuid:" + value[9:].lower()
    elif value:
        old_id = oid_from_urn(value)
    ref = target.get("reference")
    if isinstance(ref, str) and ref:
        resolved = mc.resolver.resolve(target, doc)
        if resolved is not None and resolved.resource_type == "DocumentReference":
            mc.mark(resolved, "replaced")
            rid, ruuid, rversion, rset = _describe_old(resolved)
            old_id, old_uuid = old_id or rid, old_uuid or ruuid
            old_version, old_set_id = rversion, rset
        elif resolved is not None:
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=f"{expr}.reference",
                element="relatesTo.target",
                reason=f"{ref} is a {resolved.resource_type}; expected a DocumentReference",
            )
        elif old_uuid is None:
            tail = ref.rsplit("/", 1)[-1]
            if ref.startswith("DocumentReference/") and _UUID.match(tail):
                old_uuid = "urn:uuid:" + tail.lower()
            elif ref.lower().startswith("urn:uuid:") and _UUID.match(ref[9:]):
                old_uuid = "urn:uuid:" + ref[9:].lower()
    if old_id is None:
        mc.report.add(
            Problem.MISSING_ELEMENT,
            expression=f"{expr}.identifier",
            element="relatesTo.target.identifier: the replaced document's uniqueId (urn:oid:...)",
        )
    if old_uuid is None:
        mc.report.add(
            Problem.MISSING_ELEMENT,
            expression=f"{expr}.reference",
            element="relatesTo.target: the replaced DocumentEntry's entryUUID (DocumentReference/<uuid>, or an "
            "identifier urn:uuid:...) for the XDS RPLC association",
        )
    return old_id, old_uuid, old_version, old_set_id


def _describe_old(target: Resolved) -> tuple[str | None, str | None, int | None, str | None]:
    raw = target.raw
    master = raw.get("masterIdentifier") or {}
    old_id = oid_from_urn(str(master.get("value") or "")) if master.get("value") else None
    old_uuid = None
    rid = raw.get("id")
    if isinstance(rid, str) and _UUID.match(rid):
        old_uuid = "urn:uuid:" + rid.lower()
    for ident in raw.get("identifier") or []:
        value = str((ident or {}).get("value") or "")
        if value.lower().startswith("urn:uuid:") and _UUID.match(value[9:]):
            old_uuid = old_uuid or "urn:uuid:" + value[9:].lower()
    return old_id, old_uuid, _version_extension(raw), _set_id_identifier(raw)[0]


def _set_id_identifier(raw: dict[str, Any]) -> tuple[str | None, int | None]:
    """(setId OID, identifier index) of the identifier typed IDENTIFIER_TYPE_SYSTEM|set-id."""
    for i, ident in enumerate(raw.get("identifier") or []):
        codings = ((ident or {}).get("type") or {}).get("coding") or []
        if any(c.get("system") == IDENTIFIER_TYPE_SYSTEM and c.get("code") == SET_ID_TYPE for c in codings):
            return oid_from_urn(str(ident.get("value") or "")), i
    return None, None


def _version_extension(raw: dict[str, Any]) -> int | None:
    found = extension(raw, EXT_VERSION_NUMBER)
    if found is None:
        return None
    value = found[1].get("valuePositiveInt", found[1].get("valueInteger"))
    return value if isinstance(value, int) and value >= 1 else None


def _versioning(
    raw: dict[str, Any],
    p: str,
    unique_id: str | None,
    header: CdaHeader | None,
    replaces_id: str | None,
    replaced_version: int | None,
    replaced_set_id: str | None,
    mc: MappingContext,
) -> tuple[str | None, int | None]:
    set_id, index = _set_id_identifier(raw)
    if index is not None and set_id is None:
        mc.report.add(
            Problem.INVALID_VALUE,
            expression=f"{p}.identifier[{index}].value",
            element="setId identifier",
            reason="must be urn:oid:<OID>",
        )
        return None, None
    set_id = set_id or replaced_set_id or (header.set_id if header else None)
    version = _version_extension(raw) or (header.version if header else None)
    is_replacement = bool(raw.get("relatesTo")) and any(
        (r or {}).get("code") == "replaces" for r in raw.get("relatesTo") or []
    )
    if is_replacement:
        if set_id is None:
            mc.report.add(
                Problem.MISSING_ELEMENT,
                expression=f"{p}.identifier",
                element=f"DocumentReference.identifier typed {IDENTIFIER_TYPE_SYSTEM}|{SET_ID_TYPE}: the setId of "
                "the replaced document (a new version keeps the setId)",
            )
        version = version or ((replaced_version + 1) if replaced_version else 2)
        if version < 2:
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=f"{p}.extension",
                element="version-number",
                reason="a replacement has versionNumber 2 or more",
            )
        if replaces_id is not None and replaces_id == unique_id:
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=f"{p}.masterIdentifier.value",
                element="masterIdentifier",
                reason="a new version needs a new uniqueId",
            )
        return set_id, version
    if set_id is None and unique_id is not None:
        set_id = mc.build.new_oid()
        while set_id == unique_id:  # defensive: a factory never repeats, but setId must differ from id
            set_id = mc.build.new_oid()
    return set_id, version or 1


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


def check_cda_header(
    p: str,
    header: CdaHeader,
    unique_id: str | None,
    type_code: Code | None,
    patient: Patient | None,
    mc: MappingContext,
) -> None:
    """A CDA passed through must agree with its DocumentReference (uniqueId, typeCode, the patient's INS)."""
    data_expr = f"{p}.content[0].attachment"
    if header.id_extension:
        mc.report.add(
            Problem.CDA_INPUT_INVALID,
            expression=data_expr,
            reason=f"ClinicalDocument/id has an extension ({header.id_extension}): the DMP needs a bare OID",
        )
    if unique_id is not None and header.id_root != unique_id:
        mc.report.add(
            Problem.CDA_HEADER_MISMATCH,
            expression=f"{p}.masterIdentifier",
            element="DocumentReference.masterIdentifier",
            fhir_value=f"urn:oid:{unique_id}",
            cda_value=f"ClinicalDocument/id/@root={header.id_root}",
        )
    if type_code is not None and header.code != type_code.code:
        mc.report.add(
            Problem.CDA_HEADER_MISMATCH,
            expression=f"{p}.type",
            element="DocumentReference.type",
            fhir_value=type_code.code,
            cda_value=f"ClinicalDocument/code/@code={header.code}",
        )
    if patient is None:
        return
    ins = patient.ins
    if (ins.oid, ins.value) not in header.patient_ids:
        cda_ins = [f"{r}|{e}" for r, e in header.patient_ids if is_ins_oid(r)]
        mc.report.add(
            Problem.CDA_HEADER_MISMATCH,
            expression=f"{p}.subject",
            element="DocumentReference.subject (Patient INS)",
            fhir_value=f"{ins.oid}|{ins.value}",
            cda_value=f"recordTarget/patientRole/id={', '.join(cda_ins) or '(no INS)'}",
        )


__all__ = [
    "EXT_VERSION_NUMBER",
    "HL7",
    "IDENTIFIER_TYPE_SYSTEM",
    "SET_ID_TYPE",
    "check_cda_header",
    "to_document_request",
]
