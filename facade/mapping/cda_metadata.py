"""Ready-made CDA header -> the XDS DocumentEntry attributes it carries (spec digest pdsm4dmp-lifecycle §1.1).

Every value is read from the header, with the XPath it came from, so that a DocumentReference value can be
compared with it (``facade.mapping.ready_made``) and ``$preview`` can say where each attribute came from:

* creationTime ``effectiveTime``; title ``title``; typeCode ``code``; confidentialityCode ``confidentialityCode``;
  languageCode ``languageCode``; patient ids ``recordTarget`` (see ``cda_header``);
* serviceStart/StopTime, practiceSettingCode: the main ``documentationOf/serviceEvent`` (the first one with a
  performer: spec [UNCERTAIN] for several); eventCodeList: every ``serviceEvent/code``;
* healthcareFacilityTypeCode ``componentOf/encompassingEncounter/location/healthCareFacility/code``;
* author person (or device) / institution / specialty (``assignedAuthor/code``) / role (``functionCode``): one XDS
  author per CDA author, ids as written (a device's id is never rewritten); legalAuthenticator ``assignedEntity``;
* setId, versionNumber, ``relatedDocument[@typeCode='RPLC']/parentDocument/id``, ``inFulfillmentOf/order/id``.

A timestamp without an offset is read as Europe/Paris local time; a date alone as midnight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from lxml import etree

from facade.mapping.cda_header import NS, attr, first, text
from facade.model.document import Author, Code, Device, InstanceId, LegalAuthenticator, Organization, Person

PARIS = ZoneInfo("Europe/Paris")
MAIN_SERVICE_EVENT = "documentationOf/serviceEvent[performer]"
FACILITY_CODE = "componentOf/encompassingEncounter/location/healthCareFacility/code"
PRACTICE_SETTING = f"{MAIN_SERVICE_EVENT}/performer/assignedEntity/representedOrganization/standardIndustryClassCode"


@dataclass(frozen=True)
class HeaderMetadata:
    """What the header says, each attribute None when the header does not carry it."""

    effective_time: datetime | None
    title: str | None
    type_code: Code | None
    confidentiality: Code | None
    language: str | None
    service_start: datetime | None
    service_end: datetime | None
    facility_type: Code | None
    practice_setting: Code | None
    event_codes: tuple[Code, ...]
    authors: tuple[Author, ...]
    legal_authenticator: LegalAuthenticator | None
    custodian: Organization | None
    set_id: str | None
    version: int | None
    replaces_id: str | None
    order_ids: tuple[InstanceId, ...]


def hl7_time(value: str | None) -> datetime | None:
    """HL7 TS ``YYYYMMDD[HHMM[SS[.S]]][+/-ZZZZ]`` -> aware datetime (no offset: Europe/Paris); None if unreadable."""
    if not value:
        return None
    body, sign, offset = value, "", ""
    for s in "+-":
        if s in value[8:]:
            body, _, offset = value.rpartition(s)
            sign = s
    body = body.split(".", 1)[0]
    fmt = {8: "%Y%m%d", 10: "%Y%m%d%H", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}.get(len(body))
    if fmt is None or not body.isdigit():
        return None
    try:
        if sign and len(offset) == 4 and offset.isdigit():
            return datetime.strptime(f"{body}{sign}{offset}", fmt + "%z")
        return datetime.strptime(body, fmt).replace(tzinfo=PARIS)
    except ValueError:
        return None


def code_at(root: etree._Element, xpath: str) -> Code | None:
    el = first(root, xpath)
    if el is None or not el.get("code"):
        return None
    code = str(el.get("code"))
    return Code(code, str(el.get("codeSystem") or ""), str(el.get("displayName") or code))


def _organization(el: etree._Element | None) -> Organization | None:
    if el is None:
        return None
    return Organization(
        id_nat=attr(el, "hl7:id", "extension") or attr(el, "hl7:id", "root") or "", name=text(el, "hl7:name") or ""
    )


def _person(entity: etree._Element, person_xpath: str) -> Person | None:
    name = first(entity, f"{person_xpath}/hl7:name")
    ident = attr(entity, "hl7:id", "extension")
    if name is None or ident is None:
        return None
    return Person(
        id_nat=ident,
        family=text(name, "hl7:family") or "",
        given=tuple(" ".join(g.itertext()).strip() for g in name.xpath("hl7:given", namespaces=NS)),
        prefix=text(name, "hl7:prefix"),
        profession=code_at(entity, "hl7:code"),
    )


def _author(el: etree._Element, fallback_time: datetime) -> Author | None:
    assigned = first(el, "hl7:assignedAuthor")
    if assigned is None:
        return None
    organization = _organization(first(assigned, "hl7:representedOrganization")) or Organization("", "")
    time = hl7_time(attr(el, "hl7:time", "value")) or fallback_time
    device_el = first(assigned, "hl7:assignedAuthoringDevice")
    device = None
    if device_el is not None:
        device = Device(
            id_nat=attr(assigned, "hl7:id", "extension") or "",
            model_name=text(device_el, "hl7:manufacturerModelName") or "",
            software_name=text(device_el, "hl7:softwareName") or "",
        )
    person = _person(assigned, "hl7:assignedPerson") if device is None else None
    if person is None and device is None:
        return None
    return Author(time, organization, person, device, code_at(el, "hl7:functionCode"))


def read_metadata(root: etree._Element) -> HeaderMetadata:
    """The DocumentEntry attributes of a ClinicalDocument header (pure: nothing reported here)."""
    effective = hl7_time(attr(root, "hl7:effectiveTime", "value"))
    main = first(root, "hl7:documentationOf/hl7:serviceEvent[hl7:performer]")
    if main is None:
        main = first(root, "hl7:documentationOf/hl7:serviceEvent")
    events: list[Code] = []
    for se in root.xpath("hl7:documentationOf/hl7:serviceEvent", namespaces=NS):
        code = code_at(se, "hl7:code")
        if code is not None and code not in events:
            events.append(code)
    fallback = effective or datetime.now(PARIS)
    authors = tuple(
        a for a in (_author(el, fallback) for el in root.xpath("hl7:author", namespaces=NS)) if a is not None
    )
    legal_el = first(root, "hl7:legalAuthenticator")
    legal = None
    if legal_el is not None:
        entity = first(legal_el, "hl7:assignedEntity")
        person = _person(entity, "hl7:assignedPerson") if entity is not None else None
        org = _organization(first(entity, "hl7:representedOrganization")) if entity is not None else None
        if person is not None:
            when = hl7_time(attr(legal_el, "hl7:time", "value")) or fallback
            legal = LegalAuthenticator(person, org or Organization("", ""), when)
    version = attr(root, "hl7:versionNumber", "value")
    confidentiality = code_at(root, "hl7:confidentialityCode")
    return HeaderMetadata(
        effective_time=effective,
        title=text(root, "hl7:title"),
        type_code=code_at(root, "hl7:code"),
        confidentiality=confidentiality if confidentiality is None or confidentiality.system else None,
        language=attr(root, "hl7:languageCode", "code"),
        service_start=hl7_time(attr(main, "hl7:effectiveTime/hl7:low", "value")) if main is not None else None,
        service_end=hl7_time(attr(main, "hl7:effectiveTime/hl7:high", "value")) if main is not None else None,
        facility_type=code_at(root, "hl7:" + FACILITY_CODE.replace("/", "/hl7:")),
        practice_setting=code_at(
            main, "hl7:performer/hl7:assignedEntity/hl7:representedOrganization/hl7:standardIndustryClassCode"
        )
        if main is not None
        else None,
        event_codes=tuple(events),
        authors=authors,
        legal_authenticator=legal,
        custodian=_organization(
            first(root, "hl7:custodian/hl7:assignedCustodian/hl7:representedCustodianOrganization")
        ),
        set_id=attr(root, "hl7:setId", "root"),
        version=int(version) if version and version.isdigit() else None,
        replaces_id=attr(root, "hl7:relatedDocument[@typeCode='RPLC']/hl7:parentDocument/hl7:id", "root"),
        order_ids=tuple(
            InstanceId(str(el.get("root")), el.get("extension"))
            for el in root.xpath("hl7:inFulfillmentOf/hl7:order/hl7:id", namespaces=NS)
            if isinstance(el, etree._Element) and el.get("root")
        ),
    )


__all__ = [
    "FACILITY_CODE",
    "MAIN_SERVICE_EVENT",
    "PRACTICE_SETTING",
    "HeaderMetadata",
    "code_at",
    "hl7_time",
    "read_metadata",
]
