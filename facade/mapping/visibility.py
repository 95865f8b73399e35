"""Visibility and consent rules at submission (spec digest pdsm4dmp-lifecycle §5; issue 10).

Checked while mapping, before anything is built, each with its own Problem code and fix hint:
* a TRE_A07 code outside JDV_J58 (``MASQUE_PSOCIAL``, ``MASQUE_PT``) is not a DMP code: visibility-code-not-for-dmp
  (instead of the generic unknown-code);
* ``MASQUE_PS`` with ``INVISIBLE_PATIENT``: visibility-masked-and-invisible (DMP compatibility rule EX_2.1-1050),
  unless ``InputPolicy.allow_masked_and_invisible`` states that the DMP parameter allowing it is set;
* ``INVISIBLE_REPRESENTANTS_LEGAUX`` for an adult (18 or more at the document date; age from the patient's birth
  time, i.e. the FHIR Patient or the recordTarget of a ready-made CDA): visibility-adult-legal-representatives;
* the explicit choice ([REC] of §5): at least the HL7 confidentiality code (N/R/V) in ``securityLabel``
  (``InputPolicy.require_confidentiality_label``; always for a minor, whose legal representatives see the document
  unless it says otherwise): visibility-choice-missing. No TRE_A07 code then means "visible to all";
* a Consent with ``provision.type = deny`` (the patient's opposition to feeding, managed locally by the LPS):
  patient-opposition (403), raised before any other check, so nothing is mapped, built or sent; the submission
  service's refusal audit records it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from facade.errors import Problem, RequestError
from facade.fhir.parse import JsonObject, ParsedEntry, ParsedRequest
from facade.mapping.context import MappingContext
from facade.model import oids
from facade.model.document import Code
from facade.terminology.uri_mapper import uri_to_oid

DMP_VISIBILITY_CODES = frozenset({"MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"})  # J58
# TRE_A07 codes outside J58 (NOS CodeSystem TRE_A07, spec digest lifecycle §5): meaningful elsewhere, never to the DMP.
# Any other code of the system is simply unknown (unknown-code).
NOT_FOR_DMP = frozenset({"MASQUE_PSOCIAL", "MASQUE_PT"})
HL7_LEVELS = frozenset({"N", "R", "V"})
MAJORITY_AGE = 18  # French civil majority (Code civil art. 414)
_NOT_IN_FORCE = frozenset({"rejected", "inactive", "entered-in-error"})  # a withdrawn or void Consent
_ELEMENT = "DocumentReference.securityLabel"


def refuse_if_opposed(parsed: ParsedRequest) -> None:
    """Raise patient-opposition (403) when the request carries a Consent, as an entry or contained, whose base
    provision is ``deny`` and that is not withdrawn (status rejected / inactive / entered-in-error). How FHIR
    conveys the opposition is not specified ([UNCERTAIN]): any such Consent refuses, whatever its scope."""
    for path, resource, name in _resources(parsed):
        if resource.get("resourceType") != "Consent" or resource.get("status") in _NOT_IN_FORCE:
            continue
        provision = resource.get("provision")
        if isinstance(provision, dict) and provision.get("type") == "deny":
            raise RequestError(Problem.PATIENT_OPPOSITION, expression=f"{path}.provision.type", consent=name)


def outside_dmp(coding: Any) -> bool:
    """A TRE_A07 code outside J58 (``MASQUE_PSOCIAL``, ``MASQUE_PT``): ``check_visibility`` reports it,
    so the securityLabel reading skips it rather than calling it an unknown code."""
    if not isinstance(coding, dict):
        return False
    system, code = coding.get("system"), coding.get("code")
    return (
        isinstance(system, str)
        and isinstance(code, str)
        and uri_to_oid(system) == oids.TRE_A07_STATUT_VISIBILITE_DOCUMENT
        and code in NOT_FOR_DMP
    )


def check_visibility(
    doc: ParsedEntry,
    masks: tuple[Code, ...],
    birth_time: str | None,
    document_date: datetime | None,
    mc: MappingContext,
    *,
    header_level: bool = False,
) -> None:
    """The §5 rules over one DocumentReference. ``masks``: its DMP visibility codes as read (J58 members);
    ``birth_time``: the patient's (HL7 TS), None when unknown (the age rules are then not applied);
    ``document_date``: the document's date (the request time when it is missing); ``header_level``: a ready-made
    CDA, whose confidentialityCode is the explicit decision (the DocumentReference needs no HL7 code of its own)."""
    labels = list(_codings(doc))
    for expression, coding in labels:
        if outside_dmp(coding):
            mc.report.add(
                Problem.VISIBILITY_CODE_NOT_FOR_DMP, expression=expression, element=_ELEMENT, code=coding["code"]
            )
    codes = {m.code for m in masks if m.system == oids.TRE_A07_STATUT_VISIBILITE_DOCUMENT}
    if {"MASQUE_PS", "INVISIBLE_PATIENT"} <= codes and not mc.policy.allow_masked_and_invisible:
        mc.report.add(Problem.VISIBILITY_MASKED_AND_INVISIBLE, expression=f"{doc.path}.securityLabel", element=_ELEMENT)
    when = (document_date or mc.build.now).date()
    age = age_at(birth_time, when)
    if "INVISIBLE_REPRESENTANTS_LEGAUX" in codes and age is not None and age >= MAJORITY_AGE:
        found = (e for e, c in labels if isinstance(c, dict) and c.get("code") == "INVISIBLE_REPRESENTANTS_LEGAUX")
        expression = next(found, f"{doc.path}.securityLabel")
        mc.report.add(
            Problem.VISIBILITY_ADULT_LEGAL_REPRESENTATIVES,
            expression=expression,
            element=_ELEMENT,
            age=age,
            date=when.isoformat(),
        )
    minor = age is not None and age < MAJORITY_AGE
    explicit = header_level or any(_is_level(c) for _, c in labels)
    if (mc.policy.require_confidentiality_label or minor) and not explicit:
        why = (
            f"; the patient is a minor ({age}): add INVISIBLE_REPRESENTANTS_LEGAUX (TRE_A07) when the legal "
            "representatives must not see it"
            if minor
            else ""
        )
        mc.report.add(
            Problem.VISIBILITY_CHOICE_MISSING, expression=f"{doc.path}.securityLabel", element=_ELEMENT, why=why
        )


def age_at(birth_time: str | None, when: date) -> int | None:
    """Full years at ``when`` of someone born at ``birth_time`` (HL7 TS ``YYYYMMDD...``); None when the birth date
    is not known to the day (a partial date cannot decide majority)."""
    if not birth_time or len(birth_time) < 8 or not birth_time[:8].isdigit():
        return None
    try:
        born = date(int(birth_time[:4]), int(birth_time[4:6]), int(birth_time[6:8]))
    except ValueError:
        return None
    return when.year - born.year - ((when.month, when.day) < (born.month, born.day))


def _codings(doc: ParsedEntry) -> Iterator[tuple[str, Any]]:
    labels = doc.raw.get("securityLabel")
    for i, label in enumerate(labels if isinstance(labels, list) else []):
        codings = label.get("coding") if isinstance(label, dict) else None
        for j, coding in enumerate(codings if isinstance(codings, list) else []):
            yield f"{doc.path}.securityLabel[{i}].coding[{j}]", coding


def _is_level(coding: Any) -> bool:
    """An HL7 confidentiality code (v3-Confidentiality, TRE_A08 or its OID; without a system, as the J58 look-up
    reads it, since N/R/V are unambiguous there): the explicit decision."""
    if not isinstance(coding, dict) or coding.get("code") not in HL7_LEVELS:
        return False
    system = coding.get("system")
    return system is None or (isinstance(system, str) and uri_to_oid(system) == oids.HL7_CONFIDENTIALITY)


def _resources(parsed: ParsedRequest) -> Iterator[tuple[str, JsonObject, str]]:
    """Every resource of the request with its FHIRPath and a name for messages (fullUrl / Type/id, never content)."""
    for entry in parsed.entries:
        yield entry.path, entry.raw, entry.full_url or (f"{entry.resource_type}/{entry.id}" if entry.id else entry.path)
        contained = entry.raw.get("contained")
        for i, resource in enumerate(contained if isinstance(contained, list) else []):
            if isinstance(resource, dict):
                local = resource.get("id")
                yield f"{entry.path}.contained[{i}]", resource, f"#{local}" if isinstance(local, str) else entry.path


__all__ = [
    "DMP_VISIBILITY_CODES",
    "MAJORITY_AGE",
    "NOT_FOR_DMP",
    "age_at",
    "check_visibility",
    "outside_dmp",
    "refuse_if_opposed",
]
