"""FHIR R4 lab results (DiagnosticReport + Observations) -> the CR-BIO model (``facade.model.lab``).

Two entry points:

* ``to_lab_report(bundle, ...)``: the body and lab header parts of a CR-BIO, from the bundle's DiagnosticReport
  (or, when there is none, from its bare Observations of one patient). Used for a DocumentReference whose type is
  11502-2 (``context.related`` -> the DiagnosticReport) and by ``lab_document_from_report``.
* ``lab_document_from_report(bundle, ...)``: the "no DocumentReference" case: derives the whole document request
  (type 11502-2, class, dates, authors from the report) and says so with an informational issue.

``apply_lab_report(doc, mapping, catalogue)`` turns any ClinicalDocument (e.g. one mapped by H1 from a
DocumentReference) into a CR-BIO level-3 document.

Every problem is collected in the caller's ``ValidationReport`` with a FHIRPath expression into the request:
an invalid UCUM unit is an error (422); a code unknown to our chapter table is a warning (the result is rendered
with its original display in the category/fallback chapter, never dropped).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from facade.errors import Issue, Problem, ValidationReport
from facade.mapping.lab_report_pdf import text_pdf
from facade.mapping.related import order_reference_ids
from facade.model.document import (
    Address,
    Author,
    BuildContext,
    ClinicalDocument,
    Code,
    DocumentRequest,
    Encounter,
    InstanceId,
    LegalAuthenticator,
    Organization,
    Patient,
    Person,
    ServiceEvent,
    StructuredBody,
    Telecom,
)
from facade.model.identifiers import (
    SYSTEM_FINESS,
    SYSTEM_IDNATPS,
    SYSTEM_IDNATST,
    SYSTEM_RPPS,
    IdentifierError,
    check_ps_idnat,
    check_struct_idnat,
    ps_idnat_from_rpps,
    struct_idnat_from_finess,
)
from facade.model.lab import (
    INTERPRETATION_OID,
    LOINC_OID,
    CodedValue,
    IntervalValue,
    LabBattery,
    LabChapter,
    LabIsolate,
    LabObservation,
    LabReport,
    LabResult,
    LabSubChapter,
    LabValue,
    NullValue,
    OrderingProvider,
    OrganizerStatus,
    PerformingLab,
    PhysicalQuantity,
    RatioValue,
    ReferenceRange,
    ResponsibleBiologist,
    ResultStatus,
    Specimen,
    TextValue,
)
from facade.terminology.catalogue import V2_0074_SYSTEMS, Catalogue, ChapterEntry
from facade.terminology.uri_mapper import uri_to_oid

LOINC_URI = "http://loinc.org"
UCUM_URI = "http://unitsofmeasure.org"
SNOMED_OID = "2.16.840.1.113883.6.96"
_OID_PS = "1.2.250.1.71.4.2.1"
_OID_COFRAC = "1.2.250.1.213.6.3.1"
_EXTRA_SYSTEMS = {  # code systems the shared uri_mapper does not know and lab data uses
    "http://terminology.hl7.org/CodeSystem/v2-0487": "2.16.840.1.113883.18.311",  # specimen type (JDV CI-SIS)
    "http://terminology.hl7.org/CodeSystem/v2-0078": INTERPRETATION_OID,  # v2 abnormal flags = v3 codes
    "http://hl7.org/fhir/v2/0487": "2.16.840.1.113883.18.311",
}
# JDV_HL7_ObservationInterpretation-CISIS (the CR-BIO schematron checks membership): code -> French display.
INTERPRETATIONS: dict[str, str] = {
    "<": "Inférieur à la limite de détection",
    ">": "Supérieur à la limite maximale de mesure",
    "A": "Anormal",
    "AA": "Très anormal, alerte",
    "B": "Amélioration",
    "CAR": "Porteur d'une forme altérée d'un gène",
    "D": "Diminution significative par rapport au résultat antérieur",
    "DET": "Détecté",
    "E": "Équivoque",
    "EX": "Hors seuils",
    "EXP": "Attendu",
    "H": "Anormalement haut",
    "HH": "Très anormalement haut, alerte",
    "HU": "Significativement haut",
    "HX": "Hors seuil supérieur",
    "I": "Intermédiaire",
    "IE": "Preuves insuffisantes",
    "IND": "Indéterminé",
    "L": "Anormalement bas",
    "LL": "Très anormalement bas, alerte",
    "LU": "Significativement bas",
    "LX": "Hors seuil inférieur",
    "N": "Normal",
    "NCL": "Pas de standard défini",
    "ND": "Non détecté",
    "NEG": "Négatif",
    "NR": "Non réactif",
    "NS": "Non sensible",
    "POS": "Positif",
    "R": "Résistant",
    "RR": "Réactif",
    "S": "Sensible",
    "SDD": "Sensible à forte dose",
    "SYN-R": "Synergie - résistant",
    "SYN-S": "Synergie - sensible",
    "U": "Augmentation significative par rapport au résultat antérieur",
    "UNE": "Inattendu",
    "W": "Dégradation",
    "WR": "Faiblement réactif",
}
_OBS_STATUS: dict[str, ResultStatus] = {
    "final": "completed",
    "amended": "completed",
    "corrected": "completed",
    "preliminary": "completed",  # the report-level status (lab:statusCode active) says the report is partial
    "cancelled": "aborted",
}
_REPORT_STATUS: dict[str, OrganizerStatus] = {
    "final": "completed",
    "amended": "completed",
    "corrected": "completed",
    "appended": "completed",
    "registered": "active",
    "partial": "active",
    "preliminary": "active",
    "cancelled": "aborted",
}
_MAX_DEPTH = 8  # hasMember nesting (panel > isolate > antibiogram is 3)
# FHIR data-absent-reason -> the nullFlavors the CI-SIS allows outside mandatory elements (spec digest §6.1:
# UNK, NASK, ASKU, NAV, MSK); every other reason (not-performed, error, as-text...) is "unknown" to the reader.
_NULL_FLAVORS = {"unknown": "UNK", "asked-unknown": "ASKU", "temp-unknown": "NAV", "not-asked": "NASK", "masked": "MSK"}
_ABSENT_TEXT = {  # French wording of the reason for the narrative, when the sender gives no text
    "unknown": "Inconnu",
    "asked-unknown": "Inconnu",
    "temp-unknown": "Temporairement inconnu",
    "not-asked": "Non demandé",
    "asked-declined": "Refusé",
    "masked": "Masqué",
    "not-applicable": "Sans objet",
    "unsupported": "Non pris en charge",
    "as-text": "Voir commentaire",
    "error": "Erreur",
    "not-a-number": "Valeur non numérique",
    "negative-infinity": "Infini négatif",
    "positive-infinity": "Infini positif",
    "not-performed": "Non réalisé",
    "not-permitted": "Non autorisé",
}
_INS_SYSTEM_PREFIX = "urn:oid:1.2.250.1.213.1.4."  # INS-NIR / NIA / test / demo OIDs


class UnitValidator(Protocol):
    def __call__(self, unit: str) -> str | None:
        """None when ``unit`` is a valid UCUM code, else the reason."""
        ...


class PersonMapper(Protocol):
    def __call__(self, index: int) -> Person | None:
        """The Person of bundle entry ``index`` (a Practitioner or PractitionerRole); None once reported."""
        ...


@lru_cache(maxsize=1)
def _ucum_parser() -> Any:
    from ucumvert import get_ucum_parser  # imported lazily: pint/lark cost ~0.1 s at first use

    return get_ucum_parser()


def ucum_error(unit: str) -> str | None:
    """UCUM check with ucumvert (Lark grammar of the UCUM spec + the atoms of ucum-essence.xml): None if valid.
    Case-sensitive UCUM ('mEq/L' and 'µg/mL' are invalid, 'meq/L' and 'ug/mL' valid)."""
    if not unit or unit != unit.strip():
        return "empty or padded unit"
    try:
        _ucum_parser().parse(unit)
    except Exception as exc:  # lark raises a family of UnexpectedInput errors
        return type(exc).__name__
    return None


@dataclass(frozen=True)
class LabMapping:
    """What ``to_lab_report`` derives: the body plus the header facts of the lab report."""

    report: LabReport
    lab: Organization  # serviceEvent/performer/assignedEntity/representedOrganization (laboratoire exécutant)
    biologist: Person | None  # responsible biologist (also author / legal authenticator when derived)
    order_ids: tuple[InstanceId, ...]  # inFulfillmentOf/order/id
    start: datetime | None  # serviceEvent/effectiveTime/low (specimen collection / report effective)
    issued: datetime | None  # DiagnosticReport.issued (serviceEvent high, document time when derived)
    report_fullurl: str | None
    report_index: int | None
    used: frozenset[int] = frozenset()  # bundle entries the document is built from (report, results, specimens...)


# --------------------------------------------------------------------------------------------------------------
# bundle access
# --------------------------------------------------------------------------------------------------------------
class _Entries:
    """Resolve references inside the bundle (fullUrl, Type/id) and name entries by FHIRPath."""

    def __init__(self, bundle: Any) -> None:
        self.resources: list[Any] = [e.resource for e in (bundle.entry or [])]
        self.full_urls: list[str | None] = [e.fullUrl for e in (bundle.entry or [])]
        self._index: dict[str, int] = {}
        for i, (url, res) in enumerate(zip(self.full_urls, self.resources, strict=True)):
            if res is None:
                continue
            if url:
                self._index[url] = i
            if getattr(res, "id", None):
                self._index[f"{res.get_resource_type()}/{res.id}"] = i
                if url and "/" in url and not url.startswith("urn:"):  # absolute URL: also its tail
                    self._index[url.rsplit("/", 2)[-2] + "/" + url.rsplit("/", 1)[-1]] = i

    def index_of(self, reference: Any) -> int | None:
        ref = getattr(reference, "reference", None) if reference is not None else None
        if not ref:
            return None
        if ref in self._index:
            return self._index[ref]
        tail = "/".join(ref.split("/")[-2:])
        return self._index.get(tail)

    def of_type(self, resource_type: str) -> Iterator[int]:
        for i, res in enumerate(self.resources):
            if res is not None and res.get_resource_type() == resource_type:
                yield i

    @staticmethod
    def path(index: int) -> str:
        return f"Bundle.entry[{index}].resource"


def _aware(value: Any) -> datetime | None:
    """FHIR dateTime/instant -> aware datetime; dates and naive times are too imprecise for CDA TS: None."""
    if isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() is not None:
        return value
    return None


def _decimal(value: Any) -> str:
    if isinstance(value, Decimal):
        text = format(value, "f")
    else:
        text = str(value)
    return text


def _coding_code(coding: Any) -> Code | None:
    system = getattr(coding, "system", None)
    code = getattr(coding, "code", None)
    if not system or not code:
        return None
    oid = _EXTRA_SYSTEMS.get(system) or uri_to_oid(system)
    if oid is None:
        return None
    return Code(code, oid, coding.display or code)


def _first_code(concept: Any) -> Code | None:
    for coding in getattr(concept, "coding", None) or []:
        c = _coding_code(coding)
        if c is not None:
            return c
    return None


def _telecoms(points: Any) -> tuple[Telecom, ...]:
    out = []
    for p in points or []:
        if not p.value:
            continue
        prefix = {"phone": "tel:", "fax": "fax:", "email": "mailto:"}.get(p.system or "", "")
        value = p.value if ":" in p.value else prefix + p.value.replace(" ", "")
        if value.startswith(("tel:", "fax:", "mailto:", "http")):
            out.append(Telecom(value, "WP"))
    return tuple(out)


def _addresses(values: Any) -> tuple[Address, ...]:
    return tuple(
        Address(lines=tuple(a.line or ()), city=a.city, postal_code=a.postalCode, country=a.country)
        for a in values or []
    )


_A02 = "1.2.250.1.213.1.1.4.5"  # TRE_A02-ProfessionSavFaire-CISIS (JDV_J01: "G15_10/SM03")


def _profession(role: Any) -> Code | None:
    """assignedEntity/code from a PractitionerRole: a TRE_A02 code as is, or TRE_G15 profession (+ TRE_R38
    specialty) combined into the TRE_A02 form ``G15_<profession>[/<specialty>]``."""
    profession = specialty = None
    for concept in [*(role.code or []), *(role.specialty or [])]:
        for coding in concept.coding or []:
            oid = uri_to_oid(coding.system or "")
            if oid == _A02 and coding.code:
                return Code(coding.code, _A02, coding.display or coding.code)
            if oid == "1.2.250.1.71.1.2.7" and coding.code and profession is None:  # TRE_G15
                profession = coding
            if oid == "1.2.250.1.71.4.2.5" and coding.code and specialty is None:  # TRE_R38
                specialty = coding
    if profession is None:
        return None
    code = f"G15_{profession.code}" + (f"/{specialty.code}" if specialty is not None else "")
    display = (specialty.display if specialty is not None else None) or profession.display or code
    return Code(code, _A02, display)


def _person(res: Any, role: Any, path: str, validation: ValidationReport) -> Person | None:
    """Practitioner (+ PractitionerRole) -> Person; None without a national identifier (PS_IdNat) or with a
    malformed one (reported at ``<path>.identifier[i].value`` with the level-1 author checks)."""
    id_nat = None
    for system, convert in ((SYSTEM_IDNATPS, check_ps_idnat), (SYSTEM_RPPS, ps_idnat_from_rpps)):  # IDNPS first
        for i, ident in enumerate(res.identifier or []):
            if id_nat is not None or (ident.system or "").rstrip("/") != system or not ident.value:
                continue
            try:
                id_nat = convert(ident.value)
            except IdentifierError as exc:
                validation.add(
                    Problem.INVALID_VALUE,
                    expression=f"{path}.identifier[{i}].value",
                    element=f"identifier {system}",
                    reason=exc.reason,
                )
                return None
    if id_nat is None:
        return None
    name = (res.name or [None])[0]
    family = (name.family if name else None) or ""
    given = tuple(name.given or ()) if name else ()
    prefix = (name.prefix or [None])[0] if name else None
    profession = _profession(role) if role is not None else None
    telecoms = _telecoms(res.telecom) or (_telecoms(role.telecom) if role is not None else ())
    return Person(
        id_nat=id_nat,
        family=family,
        given=given,
        prefix=prefix,
        profession=profession,
        telecoms=telecoms,
        addresses=_addresses(res.address),
    )


def _organization(res: Any, path: str, validation: ValidationReport) -> tuple[Organization | None, InstanceId | None]:
    """Organization -> (Organization with Struct_IdNat, COFRAC accreditation id). Identifiers are checked as for
    a level-1 author's organization (IDNST, FINESS, SIRET); a malformed one is reported at
    ``<path>.identifier[i].value`` and the organization is not used."""
    id_nat = None
    accreditation = None
    rank = 9
    for i, ident in enumerate(res.identifier or []):
        system = (ident.system or "").rstrip("/")
        if not ident.value:
            continue
        value = ident.value.strip()
        try:
            if system == SYSTEM_IDNATST and rank > 0:
                id_nat, rank = check_struct_idnat(value), 0
            elif system == SYSTEM_FINESS and rank > 1:
                id_nat, rank = struct_idnat_from_finess(value), 1
            elif system == "https://sirene.fr" and rank > 2 and len(value) == 14 and value.isdigit():
                id_nat, rank = "3" + value, 2  # as the level-1 path: another SIRENE id (SIREN) is ignored
            elif system == f"urn:oid:{_OID_COFRAC}":
                accreditation = InstanceId(_OID_COFRAC, value)
        except IdentifierError as exc:
            validation.add(
                Problem.INVALID_VALUE,
                expression=f"{path}.identifier[{i}].value",
                element=f"Organization.identifier {system}",
                reason=exc.reason,
            )
            return None, accreditation
    if id_nat is None or not res.name:
        return None, accreditation
    return (
        Organization(id_nat=id_nat, name=res.name, addresses=_addresses(res.address), telecoms=_telecoms(res.telecom)),
        accreditation,
    )


# --------------------------------------------------------------------------------------------------------------
# the mapping proper
# --------------------------------------------------------------------------------------------------------------
@dataclass
class _State:
    entries: _Entries
    catalogue: Catalogue
    validation: ValidationReport
    check_unit: Callable[[str], str | None]
    category_chapter: ChapterEntry | None
    refs: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))
    specimens: dict[int, Specimen] = field(default_factory=dict)
    member_of: set[int] = field(default_factory=set)
    lab: Organization | None = None
    patient: Patient | None = None
    used: set[int] = field(default_factory=set)  # entries the document is built from

    def ref(self, prefix: str) -> str:
        return f"{prefix}-{next(self.refs)}"

    def resolve(self, reference: Any, expression: str, expected: str) -> int | None:
        """Index of the ``expected`` resource ``reference`` designates. Unresolved: error; another resource type:
        warning (the reference is ignored, never silently)."""
        idx = self.entries.index_of(reference)
        if idx is None:
            if getattr(reference, "reference", None):
                self.validation.add(Problem.UNRESOLVED_REFERENCE, expression=expression, reference=reference.reference)
            return None
        kind = self.entries.resources[idx].get_resource_type()
        if kind != expected:
            self.validation.warn(
                Problem.INVALID_VALUE,
                expression=f"{expression}.reference",
                element=expression,
                reason=f"references a {kind}, expected a {expected}: ignored",
            )
            return None
        return idx


def _check_subject(res: Any, path: str, st: _State) -> None:
    """``res.subject`` must designate the document's patient (same INS): results of another patient are never
    sent in this patient's DMP. An absent subject is accepted: the report (or document) designates the patient."""
    patient = st.patient
    ref = getattr(res, "subject", None)
    if patient is None or ref is None:
        return
    expression = f"{path}.subject"
    idx = st.entries.index_of(ref)
    target = st.entries.resources[idx] if idx is not None else None
    shown = getattr(ref, "reference", None) or "?"
    if target is None or target.get_resource_type() != "Patient":
        what = "nothing in the bundle" if target is None else f"a {target.get_resource_type()}"
        st.validation.add(
            Problem.SUBJECT_MISMATCH,
            expression=expression,
            element=expression,
            reference=f"{shown} ({what})",
            ins=patient.ins.value,
        )
        return
    wanted = (f"urn:oid:{patient.ins.oid}", "".join(patient.ins.value.split()).upper())
    found = {
        ((i.system or "").rstrip("/"), "".join((i.value or "").split()).upper())
        for i in target.identifier or []
        if (i.system or "").startswith(_INS_SYSTEM_PREFIX)
    }
    if wanted not in found:
        st.validation.add(
            Problem.SUBJECT_MISMATCH,
            expression=expression,
            element=expression,
            reference=f"{shown} (INS {', '.join(sorted(v for _, v in found)) or 'none'})",
            ins=patient.ins.value,
        )


def _check_period(period: Any, expression: str, st: _State) -> None:
    """A Period whose end is before its start is refused (the CDA effectiveTime would be meaningless)."""
    if period is None:
        return
    start, end = _aware(period.start), _aware(period.end)
    if start is not None and end is not None and end < start:
        st.validation.add(
            Problem.INVALID_VALUE,
            expression=f"{expression}.end",
            element=expression,
            reason=f"ends ({end.isoformat()}) before it starts ({start.isoformat()})",
        )


def _quantity(q: Any, element: str, st: _State) -> PhysicalQuantity | None:
    if q is None or q.value is None:
        return None
    if q.system and q.system.rstrip("/") != UCUM_URI:
        st.validation.add(
            Problem.INVALID_UCUM_UNIT,
            expression=f"{element}.system",
            element=element,
            unit=q.code or q.unit or "",
            reason=f"system is {q.system}, expected {UCUM_URI}",
        )
        return None
    if not q.code:  # never guess "1" from a missing unit: a dimensionless value says so explicitly
        st.validation.add(
            Problem.MISSING_ELEMENT,
            expression=f"{element}.code",
            element=f'{element}.code (the UCUM unit; "1" for a dimensionless value)',
        )
        return None
    unit = q.code
    reason = st.check_unit(unit)
    if reason is not None:
        st.validation.add(
            Problem.INVALID_UCUM_UNIT,
            expression=f"{element}.code",
            element=element,
            unit=unit,
            reason=reason,
        )
        return None
    return PhysicalQuantity(_decimal(q.value), unit)


def _value(obs: Any, path: str, st: _State) -> LabValue | None:
    if obs.valueQuantity is not None:
        q = obs.valueQuantity
        pq = _quantity(q, f"{path}.valueQuantity", st)
        if pq is None:
            return None
        if q.comparator in (">", ">="):
            return IntervalValue(low=pq, high=None, low_inclusive=q.comparator == ">=")
        if q.comparator in ("<", "<="):
            return IntervalValue(low=None, high=pq, high_inclusive=q.comparator == "<=")
        return pq
    if obs.valueCodeableConcept is not None:
        cc = obs.valueCodeableConcept
        code = _first_code(cc)
        text = cc.text or next((c.display for c in cc.coding or [] if c.display), None)
        if code is None and not text:
            st.validation.add(
                Problem.MISSING_ELEMENT,
                expression=f"{path}.valueCodeableConcept",
                element=f"{path}.valueCodeableConcept.coding (with a known system) or .text",
            )
            return None
        return CodedValue(code, text)
    if obs.valueString is not None:
        return TextValue(obs.valueString)
    if obs.valueRatio is not None:
        num = _quantity(obs.valueRatio.numerator, f"{path}.valueRatio.numerator", st)
        den = _quantity(obs.valueRatio.denominator, f"{path}.valueRatio.denominator", st)
        return RatioValue(num, den) if num is not None and den is not None else None
    if obs.valueRange is not None:
        low = _quantity(obs.valueRange.low, f"{path}.valueRange.low", st)
        high = _quantity(obs.valueRange.high, f"{path}.valueRange.high", st)
        return IntervalValue(low, high) if (low or high) else None
    if obs.valueInteger is not None:
        return PhysicalQuantity(str(obs.valueInteger), "1")
    if obs.valueBoolean is not None:
        return TextValue("Oui" if obs.valueBoolean else "Non")
    for name in ("valueDateTime", "valueTime", "valuePeriod", "valueSampledData"):
        if getattr(obs, name, None) is not None:
            st.validation.warn(
                Problem.INVALID_VALUE,
                expression=f"{path}.{name}",
                element=f"{path}.{name}",
                reason="rendered as text: CR-BIO results are PQ, CD, ST, RTO or IVL_PQ",
            )
            return TextValue(str(getattr(obs, name)))
    absent = getattr(obs, "dataAbsentReason", None)
    if absent is not None:
        reason = next((c.code for c in absent.coding or [] if c.code), None)
        text = absent.text or next((c.display for c in absent.coding or [] if c.display), None)
        return NullValue(_NULL_FLAVORS.get(reason or "", "UNK"), text or _ABSENT_TEXT.get(reason or "", "Non rendu"))
    return None


def _interpretations(obs: Any, path: str, st: _State) -> tuple[Code, ...]:
    out: list[Code] = []
    for i, concept in enumerate(obs.interpretation or []):
        chosen = None
        for coding in concept.coding or []:
            system = _EXTRA_SYSTEMS.get(coding.system or "") or uri_to_oid(coding.system or "")
            if system == INTERPRETATION_OID and coding.code in INTERPRETATIONS:
                chosen = Code(coding.code, INTERPRETATION_OID, INTERPRETATIONS[coding.code])
                break
        if chosen is None:
            first = (concept.coding or [None])[0]
            st.validation.add(
                Problem.UNKNOWN_CODE,
                expression=f"{path}.interpretation[{i}]",
                element=f"{path}.interpretation[{i}]",
                system=getattr(first, "system", None) or "?",
                code=getattr(first, "code", None) or "?",
                value_set="JDV_HL7_ObservationInterpretation-CISIS",
                accepted=", ".join(sorted(INTERPRETATIONS)),
            )
            continue
        out.append(chosen)
    return tuple(out)


def _reference_range(obs: Any, path: str, st: _State) -> ReferenceRange | None:
    ranges = obs.referenceRange or []
    if not ranges:
        return None
    if len(ranges) > 1:  # the CR-BIO schematron allows one referenceRange per result
        st.validation.warn(
            Problem.INVALID_VALUE,
            expression=f"{path}.referenceRange[1]",
            element=f"{path}.referenceRange",
            reason="CR-BIO allows one reference range per result: only the first is sent",
        )
    r = ranges[0]
    low = _quantity(r.low, f"{path}.referenceRange[0].low", st)
    high = _quantity(r.high, f"{path}.referenceRange[0].high", st)
    if low is None and high is None and not r.text:
        return None
    return ReferenceRange(low=low, high=high, text=r.text)


def _specimen(index: int, st: _State) -> Specimen | None:
    if index in st.specimens:
        return st.specimens[index]
    res = st.entries.resources[index]
    if res.get_resource_type() != "Specimen":
        return None
    st.used.add(index)
    path = _Entries.path(index)
    _check_subject(res, path, st)
    type_code = _first_code(res.type) if res.type is not None else None
    type_text = (res.type.text if res.type is not None else None) or (type_code.display if type_code else None)
    ident = res.accessionIdentifier or (res.identifier or [None])[0]
    spec_id = None
    if ident is not None and ident.value and (ident.system or "").startswith("urn:oid:"):
        spec_id = InstanceId(ident.system[8:], ident.value)
    collection = res.collection
    collected = None
    if collection is not None:
        _check_period(collection.collectedPeriod, f"{path}.collection.collectedPeriod", st)
        collected = _aware(collection.collectedDateTime) or (
            _aware(collection.collectedPeriod.start) if collection.collectedPeriod is not None else None
        )
    spec = Specimen(
        ref=st.ref("spec"),
        type=type_code,
        type_text=type_text,
        id=spec_id,
        collected=collected,
        received=_aware(res.receivedTime),
    )
    st.specimens[index] = spec
    return spec


def _code_of(obs: Any, path: str, st: _State) -> tuple[Code, str, ChapterEntry, bool]:
    """(CDA code, narrative label, chapter entry, known) of an Observation; warns when unknown to the table."""
    codings = obs.code.coding or []
    loinc = next((c for c in codings if (c.system or "").rstrip("/") == LOINC_URI and c.code), None)
    entry = st.catalogue.chapter_for(loinc.code) if loinc is not None else None
    if loinc is not None:
        display = loinc.display or obs.code.text or (entry.display if entry else None) or loinc.code
        code = Code(loinc.code, LOINC_OID, display, "LOINC")
    else:
        other = next((c for c in (_coding_code(c) for c in codings) if c is not None), None)
        display = obs.code.text or (other.display if other else None) or "Résultat"
        code = other if other is not None else Code("", "", display)
    label = obs.code.text or display
    known = entry is not None
    if entry is None:
        entry = st.category_chapter or st.catalogue.fallback_chapter
        raw = loinc or (codings[0] if codings else None)
        st.validation.warn(
            Problem.UNKNOWN_LAB_CODE,
            expression=f"{path}.code",
            element=f"{path}.code",
            system=getattr(raw, "system", None) or "?",
            code=getattr(raw, "code", None) or "?",
            display=label,
            chapter=f"{entry.chapter.code} {entry.chapter.display}",
        )
    return code, label, entry, known


def _observation(index: int, st: _State, depth: int, stack: tuple[int, ...]) -> tuple[LabResult, ChapterEntry] | None:
    path = _Entries.path(index)
    obs = st.entries.resources[index]
    if obs.get_resource_type() != "Observation":
        st.validation.add(Problem.INVALID_VALUE, expression=path, element=path, reason="expected an Observation")
        return None
    if index in stack or depth > _MAX_DEPTH:
        st.validation.add(
            Problem.INVALID_VALUE,
            expression=f"{path}.hasMember",
            element=f"{path}.hasMember",
            reason="hasMember forms a cycle or nests too deep",
        )
        return None
    st.used.add(index)
    _check_subject(obs, path, st)
    _check_period(obs.effectivePeriod, f"{path}.effectivePeriod", st)
    status = _OBS_STATUS.get(obs.status or "")
    if status is None:
        st.validation.add(
            Problem.INVALID_VALUE,
            expression=f"{path}.status",
            element=f"{path}.status",
            reason=f"'{obs.status}' cannot be sent in a lab report; use final, amended, corrected, preliminary "
            "or cancelled",
        )
        status = "completed"
    code, label, entry, known = _code_of(obs, path, st)
    effective = (
        _aware(obs.effectiveDateTime)
        or _aware(obs.effectiveInstant)
        or (_aware(obs.effectivePeriod.start) if obs.effectivePeriod is not None else None)
    )
    notes = tuple(n.text for n in obs.note or [] if n.text)
    if obs.specimen is not None:
        si = st.resolve(obs.specimen, f"{path}.specimen", "Specimen")
        if si is not None:
            _specimen(si, st)
    value = _value(obs, path, st)

    members: list[LabResult] = []
    for j, ref in enumerate(obs.hasMember or []):
        mi = st.entries.index_of(ref)
        if mi is None:
            st.validation.add(
                Problem.UNRESOLVED_REFERENCE, expression=f"{path}.hasMember[{j}]", reference=ref.reference or "?"
            )
            continue
        st.member_of.add(mi)
        sub = _observation(mi, st, depth + 1, (*stack, index))
        if sub is not None:
            members.append(sub[0])
    for j, comp in enumerate(obs.component or []):
        members.append(_component(comp, f"{path}.component[{j}]", effective, status, st))

    ref = st.ref("res")
    if members:
        if isinstance(value, CodedValue) and value.code is not None and value.code.system == SNOMED_OID:
            return (
                LabIsolate(
                    ref=ref,
                    organism=value.code,
                    label=value.text or value.code.display,
                    members=tuple(members),
                    effective=effective,
                ),
                entry,
            )
        if value is not None:  # a panel that also has its own value: keep it as the first member
            members.insert(
                0,
                LabObservation(
                    ref=st.ref("res"),
                    code=code,
                    label=label,
                    value=value,
                    status=status,
                    effective=effective,
                    known_code=known,
                ),
            )
        battery_code = code if code.code and code.system == LOINC_OID else None
        return (
            LabBattery(
                ref=ref,
                code=battery_code,
                label=label,
                members=tuple(members),
                status="aborted" if status == "aborted" else "completed",
                effective=effective,
                notes=notes,
            ),
            entry,
        )
    performer = None
    for k, p in enumerate(obs.performer or []):
        pi = st.entries.index_of(p)
        if pi is None:
            expression = f"{path}.performer[{k}]"
            if not any(i.expression == expression for i in st.validation.issues):  # once (see to_lab_report)
                st.validation.add(Problem.UNRESOLVED_REFERENCE, expression=expression, reference=p.reference or "?")
            continue
        kind = st.entries.resources[pi].get_resource_type()
        if kind == "Organization":
            st.used.add(pi)
            org, _ = _organization(st.entries.resources[pi], _Entries.path(pi), st.validation)
            if org is not None and (st.lab is None or org.id_nat != st.lab.id_nat):
                performer = PerformingLab(org, _aware(obs.issued) or effective)
        elif kind in ("Practitioner", "PractitionerRole"):
            st.used.add(pi)  # the lab's staff: the CR-BIO names the responsible biologist only
        else:
            st.validation.warn(
                Problem.INVALID_VALUE,
                expression=f"{path}.performer[{k}].reference",
                element=f"{path}.performer[{k}]",
                reason=f"references a {kind}, expected an Organization, Practitioner or PractitionerRole: ignored",
            )
    return (
        LabObservation(
            ref=ref,
            code=code,
            label=label,
            value=value,
            status=status,
            effective=effective,
            interpretations=_interpretations(obs, path, st),
            reference_range=_reference_range(obs, path, st),
            method=_first_code(obs.method) if obs.method is not None else None,
            notes=notes,
            performer=performer,
            known_code=known,
        ),
        entry,
    )


def _component(comp: Any, path: str, effective: datetime | None, status: ResultStatus, st: _State) -> LabObservation:
    code, label, _, known = _code_of(comp, path, st)
    return LabObservation(
        ref=st.ref("res"),
        code=code,
        label=label,
        value=_value(comp, path, st),
        status=status,
        effective=effective,
        interpretations=_interpretations(comp, path, st),
        reference_range=_reference_range(comp, path, st),
        known_code=known,
    )


def find_lab_report(bundle: Any) -> int | None:
    """Index of the (first) DiagnosticReport entry, None when the bundle has none."""
    return next(_Entries(bundle).of_type("DiagnosticReport"), None)


def to_lab_report(
    bundle: Any,
    *,
    catalogue: Catalogue,
    validation: ValidationReport,
    facility_lab: Organization,
    report_index: int | None = None,
    pdf_copy: bytes | None = None,
    check_unit: UnitValidator | None = None,
    person_of: PersonMapper | None = None,
    patient: Patient | None = None,
) -> LabMapping | None:
    """Map the bundle's DiagnosticReport (``report_index``; default: the first one) or, without one, its bare
    Observations to a ``LabMapping``. Problems go to ``validation``; returns None when nothing usable was found
    (the caller raises ``validation``). ``facility_lab`` is the performing lab when the report names none (the
    hospital's own lab). ``pdf_copy``: the sender's PDF rendering (DocumentReference attachment) if any.
    ``person_of``: maps the responsible biologist's entry instead of the local conversion (the main mapping passes
    its author mapping, so a biologist is checked like any author: PS_IdNat, JDV_J01 speciality).
    ``patient``: the document's patient; every ``subject`` (DiagnosticReport, Observations, Specimens) must
    designate it (same INS), else SUBJECT_MISMATCH. ``LabMapping.used`` lists the entries the document is built
    from, so the caller can refuse results that no report reaches."""
    entries = _Entries(bundle)
    if report_index is None:
        report_index = next(entries.of_type("DiagnosticReport"), None)
    dr = entries.resources[report_index] if report_index is not None else None
    dr_path = _Entries.path(report_index) if report_index is not None else "Bundle"

    category_chapter = None
    for concept in (dr.category or []) if dr is not None else []:
        for coding in concept.coding or []:
            if coding.system in V2_0074_SYSTEMS and coding.code:
                category_chapter = category_chapter or catalogue.chapter_for_category(coding.code)
    st = _State(entries, catalogue, validation, check_unit or ucum_error, category_chapter, patient=patient)
    if dr is not None and report_index is not None:
        st.used.add(report_index)
        _check_subject(dr, dr_path, st)
        _check_period(dr.effectivePeriod, f"{dr_path}.effectivePeriod", st)
        _check_issued(dr, dr_path, st)

    # performing lab and responsible biologist
    people: list[tuple[Any, Any, str, int, int]] = []  # (Practitioner, PractitionerRole|None, expr, entry, prac)
    lab: Organization | None = None
    accreditation: InstanceId | None = None
    performer_refs: list[tuple[Any, str]] = []
    if dr is not None:
        performer_refs += [(r, f"{dr_path}.resultsInterpreter[{i}]") for i, r in enumerate(dr.resultsInterpreter or [])]
        performer_refs += [(r, f"{dr_path}.performer[{i}]") for i, r in enumerate(dr.performer or [])]
    else:
        for oi in entries.of_type("Observation"):
            performer_refs += [
                (r, f"{_Entries.path(oi)}.performer[{i}]") for i, r in enumerate(entries.resources[oi].performer or [])
            ]
    for ref, expr in performer_refs:
        idx = entries.index_of(ref)
        if idx is None:
            if not any(i.expression == expr for i in validation.issues):
                validation.add(Problem.UNRESOLVED_REFERENCE, expression=expr, reference=ref.reference or "?")
            continue
        res = entries.resources[idx]
        kind = res.get_resource_type()
        if kind in ("Organization", "Practitioner", "PractitionerRole"):
            st.used.add(idx)
        if kind == "Organization" and lab is None:
            lab, accreditation = _organization(res, _Entries.path(idx), validation)
        elif kind == "Practitioner":
            people.append((res, None, expr, idx, idx))
        elif kind == "PractitionerRole":
            pi = entries.index_of(res.practitioner)
            if pi is not None:
                st.used.add(pi)
                people.append((entries.resources[pi], res, expr, idx, pi))
            org_idx = entries.index_of(res.organization)
            if org_idx is not None and lab is None:
                st.used.add(org_idx)
                lab, accreditation = _organization(entries.resources[org_idx], _Entries.path(org_idx), validation)
        elif kind != "Organization":
            validation.warn(
                Problem.INVALID_VALUE,
                expression=f"{expr}.reference",
                element=expr,
                reason=f"references a {kind}, expected an Organization, Practitioner or PractitionerRole: ignored",
            )
    lab = lab or facility_lab
    st.lab = lab
    biologist = None
    for prac, role, expr, idx, prac_idx in people:
        if person_of is not None:  # the caller's author mapping (it reports its own issues)
            biologist = person_of(idx)
            break
        errors_before = len(validation.errors)
        biologist = _person(prac, role, _Entries.path(prac_idx), validation)
        if biologist is None and len(validation.errors) == errors_before:
            validation.add(
                Problem.MISSING_AUTHOR_IDENTIFIER,
                expression=expr,
                author=expr,
                accepted=f"urn:oid:{_OID_PS} or https://rpps.esante.gouv.fr",
            )
        break
    if biologist is None and not people:
        validation.add(
            Problem.MISSING_ELEMENT,
            expression=f"{dr_path}.resultsInterpreter" if dr else "Bundle",
            element="the responsible biologist (DiagnosticReport.resultsInterpreter or performer: Practitioner / "
            "PractitionerRole; Observation.performer without a DiagnosticReport)",
        )

    # top-level results
    if dr is not None:
        status = _REPORT_STATUS.get(dr.status or "")
        if status is None:
            validation.add(
                Problem.INVALID_VALUE,
                expression=f"{dr_path}.status",
                element=f"{dr_path}.status",
                reason=f"'{dr.status}' cannot be sent to the DMP",
            )
            status = "completed"
        top: list[tuple[int, str]] = []
        for i, ref in enumerate(dr.result or []):
            idx = entries.index_of(ref)
            if idx is None:
                validation.add(
                    Problem.UNRESOLVED_REFERENCE, expression=f"{dr_path}.result[{i}]", reference=ref.reference or "?"
                )
            else:
                top.append((idx, f"{dr_path}.result[{i}]"))
        if not top and not (dr.result or []):
            validation.add(Problem.MISSING_ELEMENT, expression=f"{dr_path}.result", element=f"{dr_path}.result")
    else:
        status = "completed"
        observations = list(entries.of_type("Observation"))
        members = {entries.index_of(m) for oi in observations for m in entries.resources[oi].hasMember or []}
        top = [(oi, _Entries.path(oi)) for oi in observations if oi not in members]
        if not top:
            validation.add(
                Problem.MISSING_RESOURCE, expression="Bundle.entry", resource="DiagnosticReport or Observation"
            )
        subjects = {getattr(entries.resources[oi].subject, "reference", None) for oi in observations}
        if len(subjects) > 1:
            validation.add(
                Problem.INVALID_VALUE,
                expression="Bundle.entry",
                element="Observation.subject",
                reason="the Observations concern more than one patient",
            )

    # report-level specimens
    report_specimens: list[Specimen] = []
    for i, ref in enumerate((dr.specimen or []) if dr is not None else []):
        idx = st.resolve(ref, f"{dr_path}.specimen[{i}]", "Specimen")
        if idx is None:
            continue
        spec = _specimen(idx, st)
        if spec is not None:
            report_specimens.append(spec)

    # group by chapter / sub-chapter, in order of first appearance
    grouped: dict[str, tuple[Code, dict[str, tuple[Code, list[LabResult], list[Specimen]]]]] = {}
    for idx, _expr in top:
        mapped = _observation(idx, st, 0, ())
        if mapped is None:
            continue
        result, entry = mapped
        used = _specimens_referenced(idx, st)
        chapter = entry.chapter
        sub = entry.sub_chapter or chapter
        _, subs = grouped.setdefault(chapter.code, (chapter, {}))
        _, results, specimens = subs.setdefault(sub.code, (sub, [], []))
        results.append(result)
        for s in used:
            if s not in specimens:
                specimens.append(s)
    chapters = []
    for chapter, subs in grouped.values():
        sub_chapters = tuple(
            LabSubChapter(
                code=sub, title=sub.display, results=tuple(results), specimens=tuple(specimens or report_specimens)
            )
            for sub, results, specimens in subs.values()
        )
        chapters.append(LabChapter(code=chapter, title=chapter.display, sub_chapters=sub_chapters))

    # order (basedOn ServiceRequest): id and prescriber
    order_ids: list[InstanceId] = []
    ordering: OrderingProvider | None = None
    for i, ref in enumerate((dr.basedOn or []) if dr is not None else []):
        idx = st.resolve(ref, f"{dr_path}.basedOn[{i}]", "ServiceRequest")
        if idx is None:
            continue
        st.used.add(idx)
        sr = entries.resources[idx]
        _check_subject(sr, _Entries.path(idx), st)
        for ident in [*(sr.identifier or []), *([sr.requisition] if sr.requisition is not None else [])]:
            if ident.value and (ident.system or "").startswith("urn:oid:"):
                iid = InstanceId(ident.system[8:], ident.value)
                if iid not in order_ids:
                    order_ids.append(iid)
        ri = entries.index_of(sr.requester)
        if ri is not None and ordering is None:
            req = entries.resources[ri]
            st.used.add(ri)
            role, req_idx = None, ri
            if req.get_resource_type() == "PractitionerRole":
                role, role_prac = req, entries.index_of(req.practitioner)
                req = entries.resources[role_prac] if role_prac is not None else None
                if role_prac is not None:
                    st.used.add(role_prac)
                    req_idx = role_prac
            person = (
                _person(req, role, _Entries.path(req_idx), validation)
                if req is not None and req.get_resource_type() == "Practitioner"
                else None
            )
            if person is not None:
                ordering = OrderingProvider(person=person, time=_aware(sr.authoredOn))
    if dr is not None:
        for ident in dr.identifier or []:  # the lab's own request number -> serviceEvent/id
            if ident.value and (ident.system or "").startswith("urn:oid:"):
                break
        else:
            ident = None
    else:
        ident = None

    # dates
    starts = [s.collected for ch in chapters for sc in ch.sub_chapters for s in sc.specimens if s.collected]
    effective = None
    if dr is not None:
        effective = _aware(dr.effectiveDateTime) or (
            _aware(dr.effectivePeriod.start) if dr.effectivePeriod is not None else None
        )
    issued = _aware(dr.issued) if dr is not None else None
    if issued is None:
        times = [_aware(entries.resources[i].issued) for i, _ in top]
        issued = max((t for t in times if t is not None), default=None)
    start = effective or min(starts, default=None)

    # PDF copy
    supplied = pdf_copy
    if supplied is None and dr is not None:
        for i, form in enumerate(dr.presentedForm or []):
            if form.contentType != "application/pdf" or form.data is None:
                continue
            expression = f"{dr_path}.presentedForm[{i}].data"
            if not form.data.startswith(b"%PDF-"):  # lenient base64 decoding turns garbage into bytes: refuse them
                if not any(x.expression == expression for x in validation.errors):
                    validation.add(
                        Problem.INVALID_VALUE,
                        expression=expression,
                        element=expression,
                        reason="not a PDF document (bad base64, or another format than application/pdf)",
                    )
                continue
            if supplied is None:
                supplied = form.data
    if biologist is None or not chapters:
        return None
    notes = (dr.conclusion,) if dr is not None and dr.conclusion else ()
    report = LabReport(
        chapters=tuple(chapters),
        pdf_copy=b"",
        responsible=ResponsibleBiologist(person=biologist, organization=lab, accreditation=accreditation),
        status=status,
        pdf_supplied=supplied is not None,
        ordering_provider=ordering,
        service_event_id=InstanceId(ident.system[8:], ident.value) if ident is not None else None,
        notes=notes,
        performed=issued,
    )
    pdf = (
        supplied if supplied is not None else text_pdf("Compte rendu d'examens biologiques", report_lines(report, lab))
    )
    if supplied is None:
        validation.extend([Issue(Problem.LAB_PDF_GENERATED, expression=f"{dr_path}.presentedForm" if dr else None)])
    return LabMapping(
        report=dataclasses.replace(report, pdf_copy=pdf),
        lab=lab,
        biologist=biologist,
        order_ids=tuple(order_ids),
        start=start,
        issued=issued,
        report_fullurl=entries.full_urls[report_index] if report_index is not None else None,
        report_index=report_index,
        used=frozenset(st.used),
    )


def _check_issued(dr: Any, dr_path: str, st: _State) -> None:
    """A report issued before its results' time (effective start) is refused: one of the two dates is wrong."""
    issued = _aware(dr.issued)
    start = _aware(dr.effectiveDateTime) or (_aware(dr.effectivePeriod.start) if dr.effectivePeriod else None)
    if issued is not None and start is not None and issued < start:
        st.validation.add(
            Problem.INVALID_VALUE,
            expression=f"{dr_path}.issued",
            element=f"{dr_path}.issued",
            reason=f"the report is issued ({issued.isoformat()}) before its effective time ({start.isoformat()})",
        )


def _specimens_referenced(index: int, st: _State) -> list[Specimen]:
    """Specimens an Observation (and its members) reference, already mapped by ``_observation``."""
    out: list[Specimen] = []
    seen: set[int] = set()
    todo = [index]
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        obs = st.entries.resources[i]
        if obs is None or obs.get_resource_type() != "Observation":
            continue
        si = st.entries.index_of(obs.specimen)
        if si is not None and si in st.specimens and st.specimens[si] not in out:
            out.append(st.specimens[si])
        todo += [m for m in (st.entries.index_of(r) for r in obs.hasMember or []) if m is not None]
    return out


# --------------------------------------------------------------------------------------------------------------
# narrative helpers shared by the PDF and the templates
# --------------------------------------------------------------------------------------------------------------
def value_text(value: LabValue | None) -> str:
    """Human-readable value, as the narrative table and the generated PDF show it."""
    if value is None:
        return ""
    if isinstance(value, PhysicalQuantity):
        return value.value if value.unit == "1" else f"{value.value} {value.unit}"
    if isinstance(value, CodedValue):
        return value.text or (value.code.display if value.code else "")
    if isinstance(value, TextValue | NullValue):
        return value.text
    if isinstance(value, RatioValue):
        return f"{value_text(value.numerator)} / {value_text(value.denominator)}"
    low = value_text(value.low) if value.low else ""
    high = value_text(value.high) if value.high else ""
    if value.low and not value.high:
        return f"{'>=' if value.low_inclusive else '>'} {low}"
    if value.high and not value.low:
        return f"{'<=' if value.high_inclusive else '<'} {high}"
    return f"{low} - {high}"


def range_text(rr: ReferenceRange | None) -> str:
    if rr is None:
        return ""
    if rr.low is not None or rr.high is not None:
        bounds = f"{value_text(rr.low) if rr.low else ''} - {value_text(rr.high) if rr.high else ''}".strip()
        return f"({bounds})" + (f" {rr.text}" if rr.text else "")
    return rr.text or ""


def _result_lines(result: LabResult, indent: str) -> list[str]:
    if isinstance(result, LabObservation):
        line = f"{indent}{result.label} : {value_text(result.value)}"
        if result.interpretations:
            line += " [" + ", ".join(c.display for c in result.interpretations) + "]"
        if result.reference_range is not None:
            line += " " + range_text(result.reference_range)
        return [line] + [f"{indent}  Note : {n}" for n in result.notes]
    head = f"{indent}{result.label}" if isinstance(result, LabBattery) else f"{indent}Isolat : {result.label}"
    return [head] + [line for m in result.members for line in _result_lines(m, indent + "  ")]


def report_lines(report: LabReport, lab: Organization) -> list[str]:
    """The text of the generated PDF copy: lab, chapters, results, conclusion."""
    lines = [
        f"Laboratoire : {lab.name}",
        f"Biologiste responsable : {' '.join(report.responsible.person.given)} "
        f"{report.responsible.person.family}".rstrip(),
    ]
    for chapter in report.chapters:
        lines += ["", chapter.title.upper()]
        for sub in chapter.sub_chapters:
            if sub.code.code != chapter.code.code:
                lines.append(f"  {sub.title}")
            for result in sub.results:
                lines += _result_lines(result, "  ")
    if report.notes:
        lines += ["", "Commentaire :", *report.notes]
    return lines


# --------------------------------------------------------------------------------------------------------------
# header: turning a document into a CR-BIO, or deriving one from the report
# --------------------------------------------------------------------------------------------------------------
def apply_lab_report(doc: ClinicalDocument, mapping: LabMapping, catalogue: Catalogue) -> ClinicalDocument:
    """``doc`` as a CR-BIO level-3 document: volet code/title (fixed by the schematron), model templateIds,
    structured body, the lab serviceEvent (performer = laboratoire exécutant, code = first chapter) and the order
    ids. Everything else (patient, authors, custodian, encounter ...) is kept as mapped."""
    row = catalogue.by_key("cr-bio")
    if row is None:  # pragma: no cover - the catalogue ships with the row
        raise LookupError("catalogue has no cr-bio row")
    se = doc.service_event
    first_chapter = mapping.report.chapters[0].code
    service_event = ServiceEvent(
        start=mapping.start or se.start,
        end=mapping.issued or se.end,
        performer=mapping.lab,
        practice_setting=se.practice_setting,
        code=Code(first_chapter.code, first_chapter.system, first_chapter.display, "LOINC"),
        performer_person=mapping.biologist,
    )
    return dataclasses.replace(
        doc,
        type_code=Code(row.type_code.code, row.type_code.system, row.type_code.display, "LOINC"),
        title=row.title,
        template="cr-bio",
        template_ids=row.model_template_ids,
        body=StructuredBody(content=mapping.report),
        service_event=service_event,
        order_ids=tuple(dict.fromkeys((*doc.order_ids, *mapping.order_ids))),  # DocumentReference's first
    )


def lab_document_from_report(
    bundle: Any,
    *,
    ctx: BuildContext,
    catalogue: Catalogue,
    validation: ValidationReport,
    patient: Patient,
    source_patient_id: str,
    confidentiality: Code | None = None,
    check_unit: UnitValidator | None = None,
    entry_id: str = "Document01",
    person_of: PersonMapper | None = None,
    author_organization: Organization | None = None,
    used: set[int] | None = None,
) -> DocumentRequest | None:
    """The "no DocumentReference" case (issue 4 §1): a lab bundle with a DiagnosticReport, or bare Observations
    of one patient. Derives the whole CR-BIO document request: typeCode 11502-2, classCode (ASS_X16), formatCode
    ``urn:ihe:lab:xd-lab:2008``, creation time = DiagnosticReport.issued (else the build time), author and legal
    authenticator = the responsible biologist of the performing lab, custodian = the facility; adds an
    informational issue saying so. ``author_organization`` (the emitting site under author_institution=site) replaces
    the performing lab as the author's and legal authenticator's organization; the lab stays the serviceEvent
    performer. Every ``subject`` must designate ``patient`` (same INS). ``used``, when given, receives the bundle
    entries the document is built from (``LabMapping.used``). Returns None when ``validation`` has errors (the
    caller raises it)."""
    facility = ctx.facility
    site = Organization(id_nat=facility.struct_idnat, name=facility.site_name)
    mapping = to_lab_report(
        bundle,
        catalogue=catalogue,
        validation=validation,
        facility_lab=site,
        check_unit=check_unit,
        person_of=person_of,
        patient=patient,
    )
    if mapping is not None and used is not None:
        used.update(mapping.used)
    if mapping is None or validation.errors or mapping.biologist is None:
        return None
    row = catalogue.by_key("cr-bio")
    if row is None or row.n3_format_code is None:  # pragma: no cover - the catalogue ships with the row
        raise LookupError("catalogue has no cr-bio row")
    issued = mapping.issued or ctx.now
    start = mapping.start or issued
    attributed = author_organization or mapping.lab
    if attributed.id_nat != mapping.lab.id_nat:
        validation.add(
            Problem.INFORMATION,
            expression=_Entries.path(mapping.report_index) if mapping.report_index is not None else "Bundle.entry",
            text=f"the performing laboratory {mapping.lab.name} ({mapping.lab.id_nat}) is the serviceEvent performer; "
            f"the author's and legal authenticator's organization is {attributed.name} ({attributed.id_nat}) "
            "(author_institution=site: DocumentEntry and SubmissionSet authorInstitution are identical)",
        )
    author = Author(time=issued, organization=attributed, person=mapping.biologist)
    confidentiality = confidentiality or Code("N", "2.16.840.1.113883.5.25", "Normal")
    base = ClinicalDocument(
        id=ctx.new_oid(),
        set_id=ctx.new_oid(),
        version=1,
        type_code=row.type_code,
        title=row.title,
        effective_time=issued,
        confidentiality=confidentiality,
        patient=patient,
        authors=(author,),
        custodian=site,
        legal_authenticator=LegalAuthenticator(person=mapping.biologist, organization=attributed, time=issued),
        service_event=ServiceEvent(
            start=start, end=issued, performer=mapping.lab, practice_setting=facility.practice_setting
        ),
        encounter=Encounter(start=start, end=None, facility_type=facility.sector, facility_name=facility.site_name),
        body=StructuredBody(content=mapping.report),
        template_ids=row.model_template_ids,
    )
    doc = apply_lab_report(base, mapping, catalogue)
    validation.extend(
        [
            Issue(
                Problem.LAB_METADATA_DERIVED,
                expression=_Entries.path(mapping.report_index) if mapping.report_index is not None else "Bundle.entry",
                details={
                    "source": "the DiagnosticReport" if mapping.report_index is not None else "the Observations",
                    "type_code": row.type_code.code,
                    "class_code": row.class_code.code,
                },
            )
        ]
    )
    return DocumentRequest(
        document=doc,
        entry_id=entry_id,
        class_code=row.class_code,
        format_code=row.n3_format_code,
        confidentiality_codes=(confidentiality,),
        source_patient_id=source_patient_id,
        fhir_fullurl=mapping.report_fullurl,
        # same rule as a DocumentReference's orders: an id with HL7 v2 separators stays in the CDA only
        reference_ids=order_reference_ids(doc.order_ids),
    )


def iter_results(results: Sequence[LabResult]) -> Iterator[LabObservation]:
    """Every LabObservation under ``results`` (depth first)."""
    for r in results:
        if isinstance(r, LabObservation):
            yield r
        else:
            yield from iter_results(r.members)


__all__ = [
    "INTERPRETATIONS",
    "LabMapping",
    "PersonMapper",
    "apply_lab_report",
    "find_lab_report",
    "iter_results",
    "lab_document_from_report",
    "range_text",
    "report_lines",
    "to_lab_report",
    "ucum_error",
    "value_text",
]
