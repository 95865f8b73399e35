"""A DocumentReference whose content is a ready-made CDA -> DocumentRequest, the CDA header being the truth.

Precedence (conformance/mapping.md, "Ready-made CDA"; spec digest pdsm4dmp-lifecycle §1.1-§1.2 [REC]):
* every DocumentEntry attribute the header carries comes from the header (``cda_metadata``); the CDA bytes are
  passed through unchanged;
* a DocumentReference value for the same attribute must agree: a disagreement is CDA_HEADER_MISMATCH naming the
  FHIRPath and the CDA XPath and both values (date, securityLabel N/R/V, context.period, facilityType,
  practiceSetting, attachment.title, attachment.language, author, authenticator, setId/version);
* the bundle adds only what the header cannot carry: the TRE_A07 visibility codes (securityLabel), comments
  (description), referenceIdList from ``context.related``, the SubmissionSet contentTypeCode;
* what neither says falls back to the configuration (facility type, practice setting) with a warning.
``authorInstitution=site`` never applies: the CDA's authors and institutions are the metadata.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from facade.errors import Problem
from facade.fhir.parse import ParsedEntry
from facade.mapping.authors import site_organization
from facade.mapping.cda_metadata import (
    FACILITY_CODE,
    MAIN_SERVICE_EVENT,
    PRACTICE_SETTING,
    HeaderMetadata,
    read_metadata,
)
from facade.mapping.content import Content
from facade.mapping.context import MappingContext, parse_fhir_datetime
from facade.mapping.related import Related, merge, order_reference_ids
from facade.mapping.versioning import Version, entry_uuid, read_version
from facade.model.document import (
    ClinicalDocument,
    Code,
    DocumentRequest,
    Encounter,
    InstanceId,
    NonXmlBody,
    Patient,
    ServiceEvent,
)
from facade.model.identifiers import oid_from_urn
from facade.terminology.tables import ValueSetName

FRENCH_TEMPLATE_IDS = ("2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1")

IDNPS_OID = "1.2.250.1.71.4.2.1"
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"


def mismatch(mc: MappingContext, expression: str, element: str, fhir: object, xpath: str, cda: object) -> None:
    mc.report.add(
        Problem.CDA_HEADER_MISMATCH,
        expression=expression,
        element=element,
        fhir_value=str(fhir),
        cda_value=f"{xpath}={cda}",
    )


def check_against_header(doc: ParsedEntry, meta: HeaderMetadata, mc: MappingContext) -> None:
    """Every DocumentReference value that the header also carries must agree with it."""
    raw, p = doc.raw, doc.path
    _check_code(raw.get("type"), f"{p}.type", meta.type_code, "code", mc)
    _check_time(raw.get("date"), f"{p}.date", "DocumentReference.date", meta.effective_time, "effectiveTime", mc)
    context = _object(raw.get("context"))
    period = _object(context.get("period"))
    low, high = f"{MAIN_SERVICE_EVENT}/effectiveTime/low/@value", f"{MAIN_SERVICE_EVENT}/effectiveTime/high/@value"
    _check_time(period.get("start"), f"{p}.context.period.start", "context.period.start", meta.service_start, low, mc)
    _check_time(period.get("end"), f"{p}.context.period.end", "context.period.end", meta.service_end, high, mc)
    _check_code(context.get("facilityType"), f"{p}.context.facilityType", meta.facility_type, FACILITY_CODE, mc)
    _check_code(
        context.get("practiceSetting"), f"{p}.context.practiceSetting", meta.practice_setting, PRACTICE_SETTING, mc
    )
    attachment = _attachment(raw)
    title = str(attachment.get("title") or "").strip()
    if title and meta.title is not None and " ".join(title.split()) != meta.title:
        mismatch(mc, f"{p}.content[0].attachment.title", "attachment.title", title, "title", meta.title)
    language = attachment.get("language")
    if isinstance(language, str) and meta.language and language.lower() != meta.language.lower():
        mismatch(
            mc,
            f"{p}.content[0].attachment.language",
            "attachment.language",
            language,
            "languageCode/@code",
            meta.language,
        )
    _check_confidentiality(raw, p, meta, mc)
    _check_people(doc, meta, mc)
    _check_version(raw, p, meta, mc)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _attachment(raw: dict[str, Any]) -> dict[str, Any]:
    contents = raw.get("content") or [{}]
    first = contents[0] if isinstance(contents[0], dict) else {}
    attachment = first.get("attachment")
    return attachment if isinstance(attachment, dict) else {}


def _check_time(
    value: Any, expression: str, element: str, cda: datetime | None, xpath: str, mc: MappingContext
) -> None:
    if value is None or cda is None:
        return
    given = parse_fhir_datetime(value)
    if given is None and isinstance(value, str) and len(value) == 10:  # a date: compare the day
        if value.replace("-", "") != cda.strftime("%Y%m%d"):
            mismatch(mc, expression, element, value, xpath, cda.strftime("%Y%m%d%H%M%S%z"))
        return
    if given is not None and given != cda:
        mismatch(mc, expression, element, value, xpath, cda.strftime("%Y%m%d%H%M%S%z"))


def _codes_of(concept: Any) -> list[tuple[str, str]]:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return [
        (str(c.get("code")), str(c.get("system") or "")) for c in codings or [] if isinstance(c, dict) and c.get("code")
    ]


def _check_code(concept: Any, expression: str, cda: Code | None, xpath: str, mc: MappingContext) -> None:
    given = _codes_of(concept)
    if not given or cda is None:
        return
    if all(code != cda.code for code, _ in given):
        shown = ", ".join(code for code, _ in given)
        rest = expression.split(".resource.", 1)[-1]
        element = rest if rest.startswith("DocumentReference.") else f"DocumentReference.{rest}"
        mismatch(mc, expression, element, shown, f"{xpath}/@code", cda.code)


def _check_confidentiality(raw: dict[str, Any], p: str, meta: HeaderMetadata, mc: MappingContext) -> None:
    if meta.confidentiality is None:
        return
    for i, label in enumerate(raw.get("securityLabel") or []):
        for j, (code, system) in enumerate(_codes_of(label)):
            hl7 = oid_from_urn(system) == meta.confidentiality.system or system.endswith("v3-Confidentiality")
            if hl7 and code in ("N", "R", "V") and code != meta.confidentiality.code:
                mismatch(
                    mc,
                    f"{p}.securityLabel[{i}].coding[{j}]",
                    "securityLabel (HL7 confidentiality)",
                    code,
                    "confidentialityCode/@code",
                    meta.confidentiality.code,
                )


def person_ids(target: dict[str, Any]) -> set[str]:
    """PS_IdNat values of a Practitioner / PractitionerRole (IDNPS as is, RPPS as ``8`` + RPPS)."""
    out: set[str] = set()
    for ident in target.get("identifier") or []:
        if not isinstance(ident, dict) or not ident.get("value"):
            continue
        system, value = str(ident.get("system") or ""), str(ident["value"])
        if oid_from_urn(system) == IDNPS_OID:
            out.add(value)
        elif system.rstrip("/") == RPPS_SYSTEM:
            out.add("8" + value)
    return out


def _resolved_ids(ref: Any, doc: ParsedEntry, mc: MappingContext) -> set[str] | None:
    target = mc.resolver.resolve(ref, doc)
    if target is None:
        return None
    ids = person_ids(target.raw)
    practitioner = target.raw.get("practitioner")
    if target.resource_type == "PractitionerRole" and practitioner is not None:
        inner = mc.resolver.resolve(practitioner, doc)
        ids |= person_ids(inner.raw) if inner is not None else set()
    identifier = (ref or {}).get("identifier") if isinstance(ref, dict) else None
    if isinstance(identifier, dict):
        ids |= person_ids({"identifier": [identifier]})
    return ids


def _check_people(doc: ParsedEntry, meta: HeaderMetadata, mc: MappingContext) -> None:
    """A DocumentReference author / authenticator with a national id must be one of the CDA's."""
    cda_authors = {a.person.id_nat if a.person else a.device.id_nat if a.device else "" for a in meta.authors}
    for i, ref in enumerate(doc.raw.get("author") or []):
        ids = _resolved_ids(ref, doc, mc)
        if ids and not ids & cda_authors:
            mismatch(
                mc,
                f"{doc.path}.author[{i}]",
                "DocumentReference.author",
                ", ".join(sorted(ids)),
                "author/assignedAuthor/id/@extension",
                ", ".join(sorted(cda_authors)),
            )
    legal = meta.legal_authenticator
    if doc.raw.get("authenticator") is not None and legal is not None:
        ids = _resolved_ids(doc.raw["authenticator"], doc, mc)
        if ids and legal.person.id_nat not in ids:
            mismatch(
                mc,
                f"{doc.path}.authenticator",
                "DocumentReference.authenticator",
                ", ".join(sorted(ids)),
                "legalAuthenticator/assignedEntity/id/@extension",
                legal.person.id_nat,
            )


def _check_version(raw: dict[str, Any], p: str, meta: HeaderMetadata, mc: MappingContext) -> None:
    from facade.mapping.versioning import EXT_VERSION_NUMBER, SET_ID_TYPE

    for i, ident in enumerate(raw.get("identifier") or []):
        codings = _codes_of((ident or {}).get("type")) if isinstance(ident, dict) else []
        if any(code == SET_ID_TYPE for code, _ in codings) and meta.set_id:
            value = oid_from_urn(str(ident.get("value") or ""))
            if value is not None and value != meta.set_id:
                mismatch(
                    mc, f"{p}.identifier[{i}].value", "setId identifier", ident.get("value"), "setId/@root", meta.set_id
                )
    for i, ext in enumerate(raw.get("extension") or []):
        if isinstance(ext, dict) and ext.get("url") == EXT_VERSION_NUMBER and meta.version is not None:
            given = ext.get("valueInteger", ext.get("valueString"))
            if given is not None and str(given) != str(meta.version):
                mismatch(mc, f"{p}.extension[{i}]", "version-number", given, "versionNumber/@value", meta.version)


def sources(doc: ParsedEntry, meta: HeaderMetadata, masks: tuple[Code, ...], mc: MappingContext) -> None:
    """Say (information issue, shown by $preview) which metadata came from the header and which from the bundle."""
    from_header = [
        name
        for name, value in (
            ("uniqueId", True),
            ("creationTime", meta.effective_time),
            ("title", meta.title),
            ("typeCode/classCode", meta.type_code),
            ("confidentialityCode", meta.confidentiality),
            ("languageCode", meta.language),
            ("serviceStartTime", meta.service_start),
            ("serviceStopTime", meta.service_end),
            ("healthcareFacilityTypeCode", meta.facility_type),
            ("practiceSettingCode", meta.practice_setting),
            ("eventCodeList", meta.event_codes),
            ("author", meta.authors),
            ("legalAuthenticator", meta.legal_authenticator),
            ("patientId/sourcePatientId", True),
            ("formatCode", True),
        )
        if value
    ]
    from_bundle = [
        name
        for name, value in (
            ("confidentialityCode (TRE_A07 visibility)", masks),
            ("comments", doc.raw.get("description")),
            ("referenceIdList", (doc.raw.get("context") or {}).get("related")),
        )
        if value
    ]
    mc.report.inform(
        Problem.INFORMATION,
        expression=f"{doc.path}.content[0].attachment",
        text="ready-made CDA: metadata from the CDA header: "
        + ", ".join(from_header)
        + "; from the bundle: "
        + (", ".join(from_bundle) or "none"),
    )


def ready_made_request(
    doc: ParsedEntry,
    number: int,
    content: Content,
    patient: Patient | None,
    source_patient_id: str | None,
    mc: MappingContext,
    related: Related | None,
) -> DocumentRequest | None:
    """The DocumentRequest of a ready-made CDA: header first, the bundle adds what the header lacks."""
    from facade.mapping.document import _confidentiality, _event_codes, _format_code, check_cda_header
    from facade.mapping.visibility import check_visibility

    header = content.cda
    assert header is not None and header.root is not None
    errors_before = len(mc.report.errors)
    meta = read_metadata(header.root)
    p = doc.path
    type_code = _type_code(meta, p, mc)
    check_cda_header(p, header, _master_identifier(doc.raw), None, patient, mc)
    check_against_header(doc, meta, mc)
    level, masks = _confidentiality(doc.raw, p, mc)
    birth_time = patient.birth_time if patient else None
    check_visibility(doc, masks, birth_time, meta.effective_time, mc, header_level=True)  # the bundle's TRE_A07 codes
    format_code = _format_code(doc.raw, p, content, mc, j10_format(header.template_ids, mc))
    class_code = _class_code(type_code, p, mc)
    version = read_version(doc, header.id_root, header, mc)
    entry_id = entry_uuid(doc.raw, p, header.id_root, mc)
    _header_gaps(meta, f"{p}.content[0].attachment", mc)
    if len(mc.report.errors) > errors_before or patient is None or source_patient_id is None:
        return None
    if type_code is None or class_code is None or format_code is None or entry_id is None:
        return None
    sources(doc, meta, masks, mc)
    document = _document(content, meta, type_code, level, patient, version, mc)
    if content.binary is not None:
        mc.mark(content.binary, "content", number - 1)
    related = related or Related()
    return DocumentRequest(
        document=document,
        entry_id=entry_id,
        class_code=class_code,
        format_code=format_code,
        confidentiality_codes=(document.confidentiality, *masks),
        source_patient_id=source_patient_id,
        comments=doc.raw.get("description"),
        replaces_entry_uuid=version.replaces_uuid,
        fhir_fullurl=doc.full_url,
        event_codes=meta.event_codes or _event_codes(doc.raw.get("context") or {}, mc),
        reference_ids=merge(related.reference_ids, order_reference_ids(meta.order_ids or related.order_ids)),
    )


# Volets whose model templateId has no ASS_A11 row yet, with the JDV_J10 formatCode published for them
# (TRE_A06-FormatCodeComplementaire): BIO-TROD 2024 (``urn:ans:ci-sis:trod:2024``, "Test rapide d'orientation
# diagnostique"). Checked against J10 at run time: a code that left the value set is not used.
J10_FORMAT_BY_TEMPLATE = {"1.2.250.1.213.1.1.1.59": "urn:ans:ci-sis:trod:2024"}


def j10_format(template_ids: tuple[str, ...], mc: MappingContext) -> Code | None:
    """The formatCode of a model templateId that ASS_A11 does not map (None when A11 does, or when unknown)."""
    if any(mc.terminology.format_for_template(t) for t in template_ids):
        return None
    for template in template_ids:
        code = J10_FORMAT_BY_TEMPLATE.get(template)
        found = mc.terminology.lookup(ValueSetName.FORMAT_CODE, code) if code else None
        if found is not None:
            return found
    return None


def _class_code(type_code: Code | None, p: str, mc: MappingContext) -> Code | None:
    class_code = mc.terminology.class_for_type(type_code) if type_code else None
    if type_code is not None and class_code is None:
        mc.report.add(
            Problem.MISSING_ELEMENT,
            expression=f"{p}.category",
            element=f"DocumentReference.category (no classCode derives from typeCode {type_code.code})",
        )
    return class_code


def _header_gaps(meta: HeaderMetadata, where: str, mc: MappingContext) -> None:
    """What structuration minimale requires and the metadata cannot do without."""
    missing = [
        x
        for x, v in (
            ("effectiveTime", meta.effective_time),
            ("title", meta.title),
            ("author/assignedAuthor", meta.authors),
            ("legalAuthenticator/assignedEntity/assignedPerson", meta.legal_authenticator),
        )
        if not v
    ]
    if missing:
        mc.report.add(
            Problem.CDA_INPUT_INVALID,
            expression=where,
            reason="the header lacks " + ", ".join(missing) + " (structuration minimale)",
        )


def _document(
    content: Content,
    meta: HeaderMetadata,
    type_code: Code,
    level: Code,
    patient: Patient,
    version: Version,
    mc: MappingContext,
) -> ClinicalDocument:
    """The model of the CDA as received (it is passed through, never re-rendered): what the XDS metadata reads."""
    header = content.cda
    assert header is not None and header.id_root is not None and version.set_id is not None
    assert meta.effective_time is not None and meta.title is not None and meta.legal_authenticator is not None
    practice = meta.practice_setting or mc.build.facility.practice_setting
    return ClinicalDocument(
        id=header.id_root,
        set_id=version.set_id,
        version=version.version or 1,
        type_code=type_code,
        title=meta.title,
        effective_time=meta.effective_time,
        confidentiality=meta.confidentiality or level,
        patient=patient,
        authors=meta.authors,
        custodian=meta.custodian or site_organization(mc),
        legal_authenticator=meta.legal_authenticator,
        service_event=ServiceEvent(meta.service_start, meta.service_end, meta.authors[0].organization, practice),
        encounter=Encounter(meta.service_start, meta.service_end, meta.facility_type or mc.build.facility.sector),
        body=NonXmlBody(header.nonxml_media_type or content.media_type, content.data),
        template_ids=tuple(InstanceId(t) for t in header.template_ids if t not in FRENCH_TEMPLATE_IDS),
        language=meta.language or "fr-FR",
        replaces_id=meta.replaces_id or version.replaces_id,
        order_ids=meta.order_ids,
        passthrough=content.data,
        mime_type="application/xslt+xml" if header.auto_presentable else "text/xml",
    )


def _master_identifier(raw: dict[str, Any]) -> str | None:
    master = raw.get("masterIdentifier")
    return oid_from_urn(str(master.get("value") or "")) if isinstance(master, dict) else None


def _type_code(meta: HeaderMetadata, p: str, mc: MappingContext) -> Code | None:
    """The header's code, which must be a DMP typeCode (JDV_J66)."""
    if meta.type_code is None:
        mc.report.add(Problem.CDA_INPUT_INVALID, expression=f"{p}.content[0].attachment", reason="no code/@code")
        return None
    if mc.terminology.lookup(ValueSetName.TYPE_CODE, meta.type_code.code, meta.type_code.system) is None:
        mc.report.add(
            Problem.CDA_INPUT_INVALID,
            expression=f"{p}.content[0].attachment",
            reason=f"code/@code {meta.type_code.code} ({meta.type_code.system}) is not a DMP typeCode (JDV_J66)",
        )
        return None
    return meta.type_code


__all__ = ["check_against_header", "mismatch", "person_ids", "ready_made_request", "sources"]
