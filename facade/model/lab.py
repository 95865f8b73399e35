"""The lab report body (CI-SIS BIO-CR-BIO 2024.01, level 3): what ``templates/cda/cr-bio`` renders.

``ClinicalDocument.body = StructuredBody(content=LabReport(...))`` with ``ClinicalDocument.template = "cr-bio"``.
The header data the volet needs beyond the base model (ordering provider, lab status, responsible biologist)
lives here too; the rest (order id -> ``ClinicalDocument.order_ids``, performing lab -> ``service_event``) is
carried by the base model. Docstrings name the CDA paths they feed (spec digest §6.3, TCDA CR-BIO examples).

Layout of the body::

    structuredBody
      section FR-CR-BIO-Chapitre            (LabChapter: LOINC chapter, e.g. 18719-5 Biochimie)
        section FR-CR-BIO-Sous-Chapitre     (LabSubChapter: narrative table + one DRIV entry)
          entry act 1.3.6.1.4.1.19376.1.3.1 (Laboratory Report Data Processing Entry)
            procedure Specimen Collection   (Specimen)
            observation / organizer BATTERY / organizer CLUSTER (LabResult)
      section FR-Commentaire-non-code       (LabReport.notes)
      section FR-Document-PDF-copie         (LabReport.pdf_copy, mandatory in 2024.01)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from facade.model import oids
from facade.model.document import Code, InstanceId, Organization, Person

LOINC_OID = oids.LOINC
INTERPRETATION_OID = oids.HL7_OBSERVATION_INTERPRETATION  # JDV_HL7_ObservationInterpretation-CISIS

ResultStatus = Literal["completed", "aborted"]  # observation/statusCode allowed by the CR-BIO schematron
OrganizerStatus = Literal["completed", "active", "aborted"]  # act / organizer statusCode


@dataclass(frozen=True)
class PhysicalQuantity:
    """CDA PQ: ``value`` is the decimal literal as received (never a float), ``unit`` a valid UCUM code."""

    value: str
    unit: str = "1"


@dataclass(frozen=True)
class CodedValue:
    """CDA CD: a code and/or the text the lab used (``originalText`` references the narrative)."""

    code: Code | None
    text: str | None = None


@dataclass(frozen=True)
class TextValue:
    """CDA ST."""

    text: str


@dataclass(frozen=True)
class RatioValue:
    """CDA RTO_PQ_PQ (titres 1:64 are numerator 1 / denominator 64, unit "1")."""

    numerator: PhysicalQuantity
    denominator: PhysicalQuantity


@dataclass(frozen=True)
class IntervalValue:
    """CDA IVL_PQ: a FHIR Range, or a Quantity with a comparator (``>=0.512`` -> low inclusive)."""

    low: PhysicalQuantity | None
    high: PhysicalQuantity | None
    low_inclusive: bool = True
    high_inclusive: bool = True


@dataclass(frozen=True)
class NullValue:
    """A result the lab could not give (FHIR ``dataAbsentReason``): ``value/@nullFlavor`` (one the CI-SIS allows:
    UNK, ASKU, NAV, NASK, MSK) and the reason as text, shown in the narrative cell and referenced by
    ``value/originalText``."""

    null_flavor: str
    text: str


LabValue = PhysicalQuantity | CodedValue | TextValue | RatioValue | IntervalValue | NullValue


@dataclass(frozen=True)
class ReferenceRange:
    """observation/referenceRange/observationRange (moodCode EVN.CRT): IVL_PQ bounds and/or a text."""

    low: PhysicalQuantity | None = None
    high: PhysicalQuantity | None = None
    text: str | None = None


@dataclass(frozen=True)
class Specimen:
    """procedure Specimen Collection (1.3.6.1.4.1.19376.1.3.1.2 / FR-Prelevement 1.2.250.1.213.1.1.3.77)."""

    ref: str  # narrative anchor of the specimen row
    type: Code | None  # participant[PRD]/participantRole[SPEC]/playingEntity/code (JDV_HL7_SpecimenType-CISIS)
    type_text: str | None = None
    id: InstanceId | None = None  # participantRole/id
    collected: datetime | None = None  # procedure/effectiveTime
    received: datetime | None = None  # act SPRECEIVE/effectiveTime (FR-Echantillon-date-reception)


@dataclass(frozen=True)
class PerformingLab:
    """observation/performer[templateId 1.3.6.1.4.1.19376.1.3.3.1.7] when a result was run by another lab."""

    organization: Organization
    time: datetime | None


@dataclass(frozen=True)
class LabObservation:
    """observation Laboratory Observation (1.3.6.1.4.1.19376.1.3.1.6 + FR 1.2.250.1.213.1.1.3.80)."""

    ref: str  # narrative anchor: code/originalText/reference/@value = "#<ref>"
    code: Code  # LOINC (2.16.840.1.113883.6.1) or a local code system
    label: str  # what the narrative shows (the sender's display, else the LOINC display)
    value: LabValue | None
    status: ResultStatus = "completed"
    effective: datetime | None = None
    interpretations: tuple[Code, ...] = ()
    reference_range: ReferenceRange | None = None
    method: Code | None = None
    notes: tuple[str, ...] = ()
    performer: PerformingLab | None = None
    known_code: bool = True  # False: code absent from our chapter table (rendered anyway, warned)


@dataclass(frozen=True)
class LabBattery:
    """organizer BATTERY (1.3.6.1.4.1.19376.1.3.1.4 + FR 1.2.250.1.213.1.1.3.78): a panel and its members."""

    ref: str
    code: Code | None
    label: str
    members: tuple[LabResult, ...]
    status: OrganizerStatus = "completed"
    effective: datetime | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabIsolate:
    """organizer CLUSTER (1.3.6.1.4.1.19376.1.3.1.5 + FR 1.2.250.1.213.1.1.3.79): an identified micro-organism
    (specimen/specimenRole/specimenPlayingEntity[@classCode=MIC]/code) and the results about it."""

    ref: str
    organism: Code
    label: str
    members: tuple[LabResult, ...]
    status: OrganizerStatus = "completed"
    effective: datetime | None = None


LabResult = LabObservation | LabBattery | LabIsolate


@dataclass(frozen=True)
class LabSubChapter:
    """section FR-CR-BIO-Sous-Chapitre (1.3.6.1.4.1.19376.1.3.3.2.2 + 1.2.250.1.213.1.1.2.71)."""

    code: Code  # LOINC; the chapter code when the table gives no finer one
    title: str
    results: tuple[LabResult, ...]
    specimens: tuple[Specimen, ...] = ()
    status: OrganizerStatus = "completed"


@dataclass(frozen=True)
class LabChapter:
    """section FR-CR-BIO-Chapitre (1.3.6.1.4.1.19376.1.3.3.2.1 + 1.2.250.1.213.1.1.2.70); its code is also
    a documentationOf/serviceEvent/code (secondary acts)."""

    code: Code
    title: str
    sub_chapters: tuple[LabSubChapter, ...]


@dataclass(frozen=True)
class OrderingProvider:
    """participant[@typeCode=REF] templateId 1.3.6.1.4.1.19376.1.3.3.1.6 (prescripteur)."""

    person: Person
    organization: Organization | None = None
    time: datetime | None = None  # time/high = date of the prescription


@dataclass(frozen=True)
class ResponsibleBiologist:
    """componentOf/encompassingEncounter/responsibleParty/assignedEntity (biologist + lab, COFRAC id)."""

    person: Person
    organization: Organization
    accreditation: InstanceId | None = None  # root 1.2.250.1.213.6.3.1 (COFRAC)


@dataclass(frozen=True)
class LabReport:
    """The CR-BIO body plus the volet-specific header parts."""

    chapters: tuple[LabChapter, ...]
    pdf_copy: bytes  # FR-Document-PDF-copie (mandatory in 2024.01): the sender's rendering, else generated
    responsible: ResponsibleBiologist
    status: OrganizerStatus = "completed"  # documentationOf/serviceEvent/lab:statusCode
    pdf_supplied: bool = True  # False when the facade generated the PDF copy itself
    ordering_provider: OrderingProvider | None = None
    service_event_id: InstanceId | None = None  # documentationOf/serviceEvent/id (the lab's request number)
    notes: tuple[str, ...] = ()  # FR-Commentaire-non-code section (DiagnosticReport.conclusion)
    performed: datetime | None = None  # serviceEvent/performer/time (results validated / report issued)

    def all_results(self) -> tuple[LabResult, ...]:
        """Every result at the top level of a sub-chapter, in document order."""
        return tuple(r for ch in self.chapters for sc in ch.sub_chapters for r in sc.results)


__all__ = [
    "INTERPRETATION_OID",
    "LOINC_OID",
    "CodedValue",
    "IntervalValue",
    "LabBattery",
    "LabChapter",
    "LabIsolate",
    "LabObservation",
    "LabReport",
    "LabResult",
    "LabSubChapter",
    "LabValue",
    "NullValue",
    "OrderingProvider",
    "OrganizerStatus",
    "PerformingLab",
    "PhysicalQuantity",
    "RatioValue",
    "ReferenceRange",
    "ResponsibleBiologist",
    "ResultStatus",
    "Specimen",
    "TextValue",
]
