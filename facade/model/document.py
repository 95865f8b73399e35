"""The internal clinical-document model: what the CDA templates and the XDS builder see.

Templates never see FHIR objects: every FHIR quirk is settled in ``facade.mapping``. Values are frozen
dataclasses; times are timezone-aware ``datetime`` (rendered by filters: CDA keeps the offset, XDS uses UTC).
Docstrings name the CDA paths they feed (spec digest §6.1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from facade.model import oids

# --- OIDs used across the model (spec digest §5) ---
OID_PS_IDNAT = oids.PS_IDNAT  # PS national id (8+RPPS, 0+ADELI, 3+FINESS/internal ...)
OID_STRUCT_IDNAT = oids.STRUCT_IDNAT  # structure national id (1+FINESS, 3+SIRET, 4+RPPS rang ...)
OID_INS_NIR = oids.INS_NIR
OID_INS_NIA = oids.INS_NIA
OID_INS_NIR_TEST = oids.INS_NIR_TEST
OID_INS_NIR_DEMO = oids.INS_NIR_DEMO


@dataclass(frozen=True)
class Code:
    """A coded value: CDA CD/CE (code, codeSystem, displayName) and XDS Classification (codingScheme)."""

    code: str
    system: str  # OID (CDA codeSystem / XDS codingScheme); "URN"/"ASTM" only for the XAdES entry
    display: str
    system_name: str | None = None


@dataclass(frozen=True)
class InstanceId:
    """CDA II: root (+ optional extension)."""

    root: str
    extension: str | None = None


@dataclass(frozen=True)
class Ins:
    """Identifiant National de Santé: 15-char matricule (NIR/NIA 13 + key 2) and its OID (4.8/4.9/4.10/4.11)."""

    value: str
    oid: str

    def cx(self) -> str:
        """HL7v2 CX form used by XDS patientId and the VIHF resource-id: ``<INS>^^^&<OID>&ISO^NH``."""
        return f"{self.value}^^^&{self.oid}&ISO^NH"


@dataclass(frozen=True)
class Address:
    lines: tuple[str, ...] = ()
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    county: str | None = None  # COG code (birthplace)
    use: str | None = None  # CDA use: H, WP, ...


@dataclass(frozen=True)
class Telecom:
    value: str  # URI form: tel:..., mailto:..., fax:...
    use: str | None = None  # CDA use: H, WP, MC ...


@dataclass(frozen=True)
class Patient:
    """ClinicalDocument/recordTarget/patientRole. INS traits per STRUCMIN §3.5.5.12."""

    ins: Ins
    local_ids: tuple[InstanceId, ...]  # IPP etc. (root = the structure's OID)
    birth_family_name: str  # family@qualifier="BR"
    birth_given_names: tuple[str, ...]  # full list of birth given names (given without qualifier)
    first_birth_given_name: str  # given@qualifier="BR"
    gender: Literal["M", "F", "UN"]  # administrativeGenderCode (2.16.840.1.113883.5.1)
    birth_time: str  # HL7 TS, date precision at least: YYYYMMDD[HHMM...]
    used_family_name: str | None = None  # family@qualifier="CL"
    used_given_name: str | None = None  # given@qualifier="CL"
    birthplace_cog: str | None = None  # birthplace/place/addr/county (INSEE COG code)
    birthplace_city: str | None = None
    addresses: tuple[Address, ...] = ()
    telecoms: tuple[Telecom, ...] = ()


@dataclass(frozen=True)
class Organization:
    """A structure. ``id_nat`` is the Struct_IdNat (root 1.2.250.1.71.4.2.2): '1'+FINESS, '3'+SIRET, ..."""

    id_nat: str
    name: str
    addresses: tuple[Address, ...] = ()
    telecoms: tuple[Telecom, ...] = ()
    sector: Code | None = None  # TRE_R02 secteur d'activité (SAxx), when known


@dataclass(frozen=True)
class Person:
    """A health professional. ``id_nat`` is the PS_IdNat (root 1.2.250.1.71.4.2.1): '8'+RPPS, '0'+ADELI ..."""

    id_nat: str
    family: str
    given: tuple[str, ...] = ()
    prefix: str | None = None
    profession: Code | None = None  # CDA assignedAuthor/code (JDV_J01: G15_10/SM26 ...), XDS authorSpecialty
    telecoms: tuple[Telecom, ...] = ()
    addresses: tuple[Address, ...] = ()


@dataclass(frozen=True)
class Device:
    """A system author (assignedAuthoringDevice). ``id_nat`` = structure prefix+id '/' internal id."""

    id_nat: str
    model_name: str
    software_name: str


@dataclass(frozen=True)
class Author:
    """ClinicalDocument/author: a person or a device, acting for an organization, at a time."""

    time: datetime
    organization: Organization
    person: Person | None = None
    device: Device | None = None
    function_code: Code | None = None  # author/functionCode (XDS authorRole)


@dataclass(frozen=True)
class LegalAuthenticator:
    person: Person
    organization: Organization
    time: datetime


@dataclass(frozen=True)
class ServiceEvent:
    """documentationOf/serviceEvent: the main act documented, performed by an organization."""

    start: datetime | None
    end: datetime | None
    performer: Organization
    practice_setting: Code  # representedOrganization/standardIndustryClassCode (JDV_J04 / XDS practiceSettingCode)
    code: Code | None = None  # serviceEvent/code (also XDS eventCodeList)
    performer_person: Person | None = None


@dataclass(frozen=True)
class Encounter:
    """componentOf/encompassingEncounter."""

    start: datetime | None
    end: datetime | None
    facility_type: Code  # location/healthCareFacility/code (JDV_J02, XDS healthcareFacilityTypeCode)
    facility_name: str | None = None
    ids: tuple[InstanceId, ...] = ()


@dataclass(frozen=True)
class NonXmlBody:
    """component/nonXMLBody/text (structuration minimale N1): raw bytes, base64-encoded by the template."""

    media_type: str  # application/pdf | text/plain | text/rtf | image/jpeg | image/tiff
    data: bytes


@dataclass(frozen=True)
class StructuredBody:
    """component/structuredBody (level 3). ``content`` is a volet-specific model (e.g. model.lab.LabReport)
    rendered by the volet template folder named in ``DocumentKind.template``."""

    content: object


Body = NonXmlBody | StructuredBody


@dataclass(frozen=True)
class ClinicalDocument:
    """One CDA R2 document (header + body). ``id`` is a bare OID (DMP rejects OID^extension)."""

    id: str  # ClinicalDocument/id/@root, = XDS uniqueId
    set_id: str  # setId/@root (same across versions)
    version: int  # versionNumber
    type_code: Code  # code (JDV_J07), = XDS typeCode
    title: str
    effective_time: datetime  # effectiveTime (with offset), XDS creationTime (UTC)
    confidentiality: Code  # confidentialityCode (N/R/V, 2.16.840.1.113883.5.25)
    patient: Patient
    authors: tuple[Author, ...]
    custodian: Organization
    legal_authenticator: LegalAuthenticator
    service_event: ServiceEvent
    encounter: Encounter
    body: Body
    template_ids: tuple[InstanceId, ...]  # the model template ids after the 2 French ones (N1: XDS-SD)
    language: str = "fr-FR"
    replaces_id: str | None = None  # relatedDocument[@typeCode=RPLC]/parentDocument/id/@root
    order_ids: tuple[InstanceId, ...] = ()  # inFulfillmentOf/order/id
    template: str = "n1"  # folder under templates/cda/
    passthrough: bytes | None = None  # the CDA as supplied, when the input already is a CDA (not re-rendered)
    mime_type: str = "text/xml"  # XDS ExtrinsicObject/@mimeType: application/xslt+xml for an auto-presentable CDA


@dataclass(frozen=True)
class DocumentRequest:
    """A document to submit: the clinical document plus what only XDS carries."""

    document: ClinicalDocument
    entry_id: str  # symbolic id of the ExtrinsicObject / DocumentReference fullUrl-derived
    class_code: Code  # XDS classCode (JDV_J57, derived from the typeCode by ASS_X16)
    format_code: Code  # XDS formatCode (JDV_J60)
    confidentiality_codes: tuple[Code, ...]  # XDS confidentialityCode: CDA one + DMP masking codes (J58)
    source_patient_id: str  # CX: local id (IPP ...^PI) or the INS
    comments: str | None = None
    replaces_entry_uuid: str | None = None  # RPLC association target (urn:uuid of the old DocumentEntry)
    fhir_fullurl: str | None = None  # to build the transaction-response entry
    event_codes: tuple[Code, ...] = ()
    reference_ids: tuple[str, ...] = ()  # urn:ihe:iti:xds:2013:referenceIdList values (CXi)


@dataclass(frozen=True)
class Submission:
    """A submission set: one or more documents for one patient, with its own metadata."""

    unique_id: str  # SubmissionSet uniqueId (OID)
    source_id: str  # OID of the sending system (configuration)
    submission_time: datetime
    content_type: Code  # SubmissionSet contentTypeCode (JDV_J59)
    author: Author  # SubmissionSet author (same institution as the documents: safe reading of ANS-HL7V2)
    patient: Patient
    documents: tuple[DocumentRequest, ...]
    title: str | None = None
    comments: str | None = None
    fhir_fullurl: str | None = None  # the SubmissionSet List's fullUrl, when one was posted


@dataclass(frozen=True)
class FacilitySettings:
    """Facility rules (configuration): certificates belong to the legal entity (FINESS EJ); the geographic
    FINESS of the emitting site (FINESS EG) appears in the VIHF, the submission set and the CDA."""

    finess_ej: str  # legal entity, owner of the ORG certificates
    finess_eg: str  # geographic site emitting the documents
    site_name: str
    source_id: str  # XDS sourceId OID of this facade installation
    oid_root: str  # root under which document / submission unique ids are generated
    sector: Code  # Secteur_Activite / healthcareFacilityTypeCode default (SAxx)
    practice_setting: Code  # default practiceSettingCode (JDV_J62)
    ipp_oid: str | None = None  # assigning authority of the local patient ids

    @property
    def struct_idnat(self) -> str:
        """Struct_IdNat of the emitting site: '1' + FINESS géographique."""
        return "1" + self.finess_eg


@dataclass(frozen=True)
class BuildContext:
    """What a pure build step needs besides its input: injected clock and id factory keep output deterministic."""

    facility: FacilitySettings
    now: datetime
    new_oid: Callable[[], str]  # a fresh OID under facility.oid_root
    extra: dict[str, object] = field(default_factory=dict)


__all__ = [
    "Address",
    "Author",
    "Body",
    "BuildContext",
    "ClinicalDocument",
    "Code",
    "Device",
    "DocumentRequest",
    "Encounter",
    "FacilitySettings",
    "InstanceId",
    "Ins",
    "LegalAuthenticator",
    "NonXmlBody",
    "Organization",
    "Patient",
    "Person",
    "ServiceEvent",
    "StructuredBody",
    "Submission",
    "Telecom",
]


@dataclass(frozen=True)
class RenderedDocument:
    """A DocumentRequest with the exact CDA bytes that will be sent (hash and size are computed on these)."""

    request: DocumentRequest
    cda: bytes

    @property
    def sha1_hex(self) -> str:
        import hashlib

        return hashlib.sha1(self.cda, usedforsecurity=False).hexdigest()

    @property
    def size(self) -> int:
        return len(self.cda)


@dataclass(frozen=True)
class SignatureDocument:
    """The XAdES "signature du lot" (spec digest §4): a second DocumentEntry whose content is the signature."""

    entry_id: str  # symbolic id of its ExtrinsicObject (e.g. "Signature01")
    unique_id: str  # its own OID
    xml: bytes  # the exact XAdES bytes sent
    created: datetime
