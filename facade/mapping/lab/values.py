"""Observation values: codes, UCUM quantities, value[x], interpretations and the reference range
(FHIR JSON -> ``facade.model.lab`` values).

An invalid UCUM unit is an error (422): the CR-BIO schematron and every reader rely on it. Interpretations must be
in JDV_HL7_ObservationInterpretation-CISIS (``terminology/data/lab_interpretations.csv``).
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from facade.errors import Problem
from facade.mapping.lab.state import LabState, items
from facade.model import oids
from facade.model.document import Code
from facade.model.lab import (
    INTERPRETATION_OID,
    CodedValue,
    IntervalValue,
    LabValue,
    NullValue,
    PhysicalQuantity,
    RatioValue,
    ReferenceRange,
    TextValue,
)
from facade.terminology.uri_mapper import uri_to_oid

UCUM_URI = "http://unitsofmeasure.org"
_EXTRA_SYSTEMS = {  # code systems the shared uri_mapper does not know and lab data uses
    "http://terminology.hl7.org/CodeSystem/v2-0487": oids.HL7_V2_0487_SPECIMEN_TYPE,  # JDV CI-SIS specimen type
    "http://terminology.hl7.org/CodeSystem/v2-0078": INTERPRETATION_OID,  # v2 abnormal flags = v3 codes
    "http://hl7.org/fhir/v2/0487": oids.HL7_V2_0487_SPECIMEN_TYPE,
}
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
_AS_TEXT = ("valueDateTime", "valueTime", "valuePeriod", "valueSampledData")


@lru_cache(maxsize=1)
def _ucum_parser() -> Any:
    from ucumvert import get_ucum_parser  # imported lazily: pint/lark cost ~0.1 s at first use

    return get_ucum_parser()


@lru_cache(maxsize=2048)
def ucum_error(unit: str) -> str | None:
    """UCUM check with ucumvert (Lark grammar of the UCUM spec + the atoms of ucum-essence.xml): None if valid.
    Case-sensitive UCUM ('mEq/L' and 'µg/mL' are invalid, 'meq/L' and 'ug/mL' valid). Cached per unit string
    (bounded): a lab sends the same few units endlessly and the Earley parse was half of a CR-BIO conversion."""
    if not unit or unit != unit.strip():
        return "empty or padded unit"
    try:
        _ucum_parser().parse(unit)
    except Exception as exc:  # lark raises a family of UnexpectedInput errors
        return type(exc).__name__
    return None


def system_oid(system: Any) -> str | None:
    text = str(system or "")
    return _EXTRA_SYSTEMS.get(text) or uri_to_oid(text)


def coding_code(coding: Any) -> Code | None:
    """A Coding whose system has a known OID -> Code (display defaults to the code)."""
    if not isinstance(coding, dict):
        return None
    system, code = coding.get("system"), coding.get("code")
    if not system or not code:
        return None
    oid = system_oid(system)
    if oid is None:
        return None
    return Code(str(code), oid, str(coding.get("display") or code))


def first_code(concept: Any) -> Code | None:
    """The first coding of a CodeableConcept with a known system."""
    return next((c for c in (coding_code(x) for x in items(concept, "coding")) if c is not None), None)


def decimal_text(value: Any) -> str:
    """A FHIR decimal as written (``Decimal`` from the parser keeps ``4.890``; never an exponent)."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def quantity(q: Any, element: str, st: LabState) -> PhysicalQuantity | None:
    if not isinstance(q, dict) or q.get("value") is None:
        return None
    system, code = q.get("system"), q.get("code")
    if system and str(system).rstrip("/") != UCUM_URI:
        st.report.add(
            Problem.INVALID_UCUM_UNIT,
            expression=f"{element}.system",
            element=element,
            unit=code or q.get("unit") or "",
            reason=f"system is {system}, expected {UCUM_URI}",
        )
        return None
    if not code:  # never guess "1" from a missing unit: a dimensionless value says so explicitly
        st.report.add(
            Problem.MISSING_ELEMENT,
            expression=f"{element}.code",
            element=f'{element}.code (the UCUM unit; "1" for a dimensionless value)',
        )
        return None
    unit = str(code)
    reason = st.check_unit(unit)
    if reason is not None:
        st.report.add(
            Problem.INVALID_UCUM_UNIT, expression=f"{element}.code", element=element, unit=unit, reason=reason
        )
        return None
    return PhysicalQuantity(decimal_text(q["value"]), unit)


def value_of(obs: dict[str, Any], path: str, st: LabState) -> LabValue | None:
    """value[x] (or dataAbsentReason) of an Observation or a component."""
    if obs.get("valueQuantity") is not None:
        return _quantity_value(obs["valueQuantity"], f"{path}.valueQuantity", st)
    if obs.get("valueCodeableConcept") is not None:
        return _coded_value(obs["valueCodeableConcept"], path, st)
    if obs.get("valueString") is not None:
        return TextValue(str(obs["valueString"]))
    if obs.get("valueRatio") is not None:
        ratio = obs["valueRatio"]
        num = quantity(ratio.get("numerator"), f"{path}.valueRatio.numerator", st)
        den = quantity(ratio.get("denominator"), f"{path}.valueRatio.denominator", st)
        return RatioValue(num, den) if num is not None and den is not None else None
    if obs.get("valueRange") is not None:
        low = quantity(obs["valueRange"].get("low"), f"{path}.valueRange.low", st)
        high = quantity(obs["valueRange"].get("high"), f"{path}.valueRange.high", st)
        return IntervalValue(low, high) if (low or high) else None
    if obs.get("valueInteger") is not None:
        return PhysicalQuantity(str(obs["valueInteger"]), "1")
    if obs.get("valueBoolean") is not None:
        return TextValue("Oui" if obs["valueBoolean"] else "Non")
    for name in _AS_TEXT:
        if obs.get(name) is not None:
            st.report.warn(
                Problem.INVALID_VALUE,
                expression=f"{path}.{name}",
                element=f"{path}.{name}",
                reason="rendered as text: CR-BIO results are PQ, CD, ST, RTO or IVL_PQ",
            )
            return TextValue(_as_text(obs[name]))
    absent = obs.get("dataAbsentReason")
    if isinstance(absent, dict):
        codings = items(absent, "coding")
        reason = next((str(c["code"]) for c in codings if c.get("code")), "")
        text = absent.get("text") or next((c["display"] for c in codings if c.get("display")), None)
        return NullValue(_NULL_FLAVORS.get(reason, "UNK"), str(text or _ABSENT_TEXT.get(reason, "Non rendu")))
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, dict):
        if "start" in value or "end" in value:  # a Period
            return f"{value.get('start') or ''} - {value.get('end') or ''}".strip()
        return str(value.get("data") or "")  # SampledData
    return str(value)


def _quantity_value(q: dict[str, Any], element: str, st: LabState) -> LabValue | None:
    pq = quantity(q, element, st)
    if pq is None:
        return None
    comparator = q.get("comparator")
    if comparator in (">", ">="):
        return IntervalValue(low=pq, high=None, low_inclusive=comparator == ">=")
    if comparator in ("<", "<="):
        return IntervalValue(low=None, high=pq, high_inclusive=comparator == "<=")
    return pq


def _coded_value(cc: dict[str, Any], path: str, st: LabState) -> CodedValue | None:
    code = first_code(cc)
    text = cc.get("text") or next((c["display"] for c in items(cc, "coding") if c.get("display")), None)
    if code is None and not text:
        st.report.add(
            Problem.MISSING_ELEMENT,
            expression=f"{path}.valueCodeableConcept",
            element=f"{path}.valueCodeableConcept.coding (with a known system) or .text",
        )
        return None
    return CodedValue(code, str(text) if text else None)


def interpretations(obs: dict[str, Any], path: str, st: LabState) -> tuple[Code, ...]:
    table = st.catalogue.interpretations
    out: list[Code] = []
    for i, concept in enumerate(items(obs, "interpretation")):
        codings = items(concept, "coding")
        chosen = next(
            (
                Code(str(c["code"]), INTERPRETATION_OID, table[c["code"]])
                for c in codings
                if system_oid(c.get("system")) == INTERPRETATION_OID and c.get("code") in table
            ),
            None,
        )
        if chosen is None:
            first = codings[0] if codings else {}
            st.report.add(
                Problem.UNKNOWN_CODE,
                expression=f"{path}.interpretation[{i}]",
                element=f"{path}.interpretation[{i}]",
                system=first.get("system") or "?",
                code=first.get("code") or "?",
                value_set="JDV_HL7_ObservationInterpretation-CISIS",
                accepted=", ".join(sorted(table)),
            )
            continue
        out.append(chosen)
    return tuple(out)


def reference_range(obs: dict[str, Any], path: str, st: LabState) -> ReferenceRange | None:
    ranges = items(obs, "referenceRange")
    if not ranges:
        return None
    if len(ranges) > 1:  # the CR-BIO schematron allows one referenceRange per result
        st.report.warn(
            Problem.INVALID_VALUE,
            expression=f"{path}.referenceRange[1]",
            element=f"{path}.referenceRange",
            reason="CR-BIO allows one reference range per result: only the first is sent",
        )
    r = ranges[0]
    low = quantity(r.get("low"), f"{path}.referenceRange[0].low", st)
    high = quantity(r.get("high"), f"{path}.referenceRange[0].high", st)
    if low is None and high is None and not r.get("text"):
        return None
    return ReferenceRange(low=low, high=high, text=r.get("text"))


__all__ = [
    "UCUM_URI",
    "coding_code",
    "decimal_text",
    "first_code",
    "interpretations",
    "quantity",
    "reference_range",
    "system_oid",
    "ucum_error",
    "value_of",
]
