"""Observations (results, panels, isolates, components) and their Specimens -> ``facade.model.lab`` results.

* an Observation with members (``hasMember``, ``component``) is a battery (panel) or, when its value is a SNOMED CT
  organism, an isolate; a panel's own value becomes its first member;
* a result code unknown to the chapter table is a warning: the result is rendered with its original display in the
  category (or fallback) chapter, never dropped;
* every ``subject`` must designate the document's patient (same INS): results of another patient are never sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from facade.errors import Problem
from facade.fhir.references import Resolved
from facade.mapping.lab.checks import check_period, check_subject, oid_identifier
from facade.mapping.lab.participants import lab_organization
from facade.mapping.lab.state import LabState, aware, items, period_start
from facade.mapping.lab.values import coding_code, first_code, interpretations, reference_range, value_of
from facade.model import oids
from facade.model.document import Code
from facade.model.lab import (
    LOINC_OID,
    CodedValue,
    LabBattery,
    LabIsolate,
    LabObservation,
    LabResult,
    PerformingLab,
    ResultStatus,
    Specimen,
)
from facade.terminology.catalogue import ChapterEntry

LOINC_URI = "http://loinc.org"
SNOMED_OID = oids.SNOMED_CT
MAX_DEPTH = 8  # hasMember nesting (panel > isolate > antibiogram is 3)
_OBS_STATUS: dict[str, ResultStatus] = {
    "final": "completed",
    "amended": "completed",
    "corrected": "completed",
    "preliminary": "completed",  # the report-level status (lab:statusCode active) says the report is partial
    "cancelled": "aborted",
}


def specimen(target: Resolved, st: LabState) -> Specimen | None:
    if target.path in st.specimens:
        return st.specimens[target.path]
    if target.resource_type != "Specimen":
        return None
    st.use(target)
    raw, path = target.raw, target.path
    check_subject(target, st)
    type_concept = raw.get("type")
    type_code = first_code(type_concept) if isinstance(type_concept, dict) else None
    type_text = (type_concept.get("text") if isinstance(type_concept, dict) else None) or (
        type_code.display if type_code else None
    )
    ident = raw.get("accessionIdentifier") or next(iter(items(raw, "identifier")), None)
    collection = raw.get("collection") if isinstance(raw.get("collection"), dict) else None
    collected = None
    if collection is not None:
        check_period(collection.get("collectedPeriod"), f"{path}.collection.collectedPeriod", st)
        collected = aware(collection.get("collectedDateTime")) or period_start(collection.get("collectedPeriod"))
    spec = Specimen(
        ref=st.ref("spec"),
        type=type_code,
        type_text=type_text,
        id=oid_identifier(ident),
        collected=collected,
        received=aware(raw.get("receivedTime")),
    )
    st.specimens[target.path] = spec
    return spec


def specimens_referenced(target: Resolved, st: LabState) -> list[Specimen]:
    """Specimens an Observation (and its members) reference, already mapped by ``observation``."""
    out: list[Specimen] = []
    seen: set[str] = set()
    todo = [target]
    while todo:
        current = todo.pop()
        if current.path in seen or current.resource_type != "Observation":
            continue
        seen.add(current.path)
        spec = st.lookup(current.raw.get("specimen"), current)
        if spec is not None and spec.path in st.specimens and st.specimens[spec.path] not in out:
            out.append(st.specimens[spec.path])
        todo += [m for m in (st.lookup(r, current) for r in items(current.raw, "hasMember")) if m is not None]
    return out


def code_of(obs: dict[str, Any], path: str, st: LabState) -> tuple[Code, str, ChapterEntry, bool]:
    """(CDA code, narrative label, chapter entry, known) of an Observation; warns when unknown to the table."""
    concept: dict[str, Any] = obs["code"] if isinstance(obs.get("code"), dict) else {}
    codings = items(concept, "coding")
    text = concept.get("text")
    loinc = next((c for c in codings if str(c.get("system") or "").rstrip("/") == LOINC_URI and c.get("code")), None)
    entry = st.catalogue.chapter_for(str(loinc["code"])) if loinc is not None else None
    code = _loinc_code(loinc, text, entry) if loinc is not None else _other_code(codings, text)
    label = str(text or code.display)
    if entry is not None:
        return code, label, entry, True
    entry = st.category_chapter or st.catalogue.fallback_chapter
    raw = loinc or (codings[0] if codings else {})
    st.report.warn(
        Problem.UNKNOWN_LAB_CODE,
        expression=f"{path}.code",
        element=f"{path}.code",
        system=raw.get("system") or "?",
        code=raw.get("code") or "?",
        display=label,
        chapter=f"{entry.chapter.code} {entry.chapter.display}",
    )
    return code, label, entry, False


def _loinc_code(loinc: dict[str, Any], text: Any, entry: ChapterEntry | None) -> Code:
    display = loinc.get("display") or text or (entry.display if entry else None) or loinc["code"]
    return Code(str(loinc["code"]), LOINC_OID, str(display), "LOINC")


def _other_code(codings: list[dict[str, Any]], text: Any) -> Code:
    """A result coded in another known system, else an uncoded result (its text, or "Résultat")."""
    other = next((c for c in (coding_code(c) for c in codings) if c is not None), None)
    display = text or (other.display if other else None) or "Résultat"
    return other if other is not None else Code("", "", str(display))


def observation(
    target: Resolved, st: LabState, depth: int = 0, stack: tuple[str, ...] = ()
) -> tuple[LabResult, ChapterEntry] | None:
    """One Observation (and, recursively, its members) -> (result, chapter entry); None once reported."""
    path, obs = target.path, target.raw
    if target.resource_type != "Observation":
        st.report.add(Problem.INVALID_VALUE, expression=path, element=path, reason="expected an Observation")
        return None
    if path in stack or depth > MAX_DEPTH:
        st.report.add(
            Problem.INVALID_VALUE,
            expression=f"{path}.hasMember",
            element=f"{path}.hasMember",
            reason="hasMember forms a cycle or nests too deep",
        )
        return None
    st.use(target)
    check_subject(target, st)
    check_period(obs.get("effectivePeriod"), f"{path}.effectivePeriod", st)
    status = _status(obs, path, st)
    code, label, entry, known = code_of(obs, path, st)
    effective = (
        aware(obs.get("effectiveDateTime"))
        or aware(obs.get("effectiveInstant"))
        or period_start(obs.get("effectivePeriod"))
    )
    notes = tuple(str(n["text"]) for n in items(obs, "note") if n.get("text"))
    if obs.get("specimen") is not None:
        spec = st.target(obs["specimen"], target, f"{path}.specimen", "Specimen")
        if spec is not None:
            specimen(spec, st)
    value = value_of(obs, path, st)
    members = _members(target, st, depth, (*stack, path), effective, status)
    if members:
        return _group(obs, code, label, value, status, effective, notes, members, known, st), entry
    ref = st.ref("res")
    performer = _performer(target, effective, st)
    return (
        LabObservation(
            ref=ref,
            code=code,
            label=label,
            value=value,
            status=status,
            effective=effective,
            interpretations=interpretations(obs, path, st),
            reference_range=reference_range(obs, path, st),
            method=first_code(obs.get("method")),
            notes=notes,
            performer=performer,
            known_code=known,
        ),
        entry,
    )


def _status(obs: dict[str, Any], path: str, st: LabState) -> ResultStatus:
    status = _OBS_STATUS.get(str(obs.get("status") or ""))
    if status is None:
        st.report.add(
            Problem.INVALID_VALUE,
            expression=f"{path}.status",
            element=f"{path}.status",
            reason=f"'{obs.get('status')}' cannot be sent in a lab report; use final, amended, corrected, preliminary "
            "or cancelled",
        )
        return "completed"
    return status


def _members(
    target: Resolved,
    st: LabState,
    depth: int,
    stack: tuple[str, ...],
    effective: datetime | None,
    status: ResultStatus,
) -> list[LabResult]:
    """hasMember Observations, then components, in order."""
    members: list[LabResult] = []
    for j, ref in enumerate(items(target.raw, "hasMember")):
        member = st.lookup(ref, target)
        if member is None:
            st.report.add(
                Problem.UNRESOLVED_REFERENCE,
                expression=f"{target.path}.hasMember[{j}]",
                reference=ref.get("reference") or "?",
            )
            continue
        sub = observation(member, st, depth + 1, stack)
        if sub is not None:
            members.append(sub[0])
    for j, comp in enumerate(items(target.raw, "component")):
        members.append(_component(comp, f"{target.path}.component[{j}]", effective, status, st))
    return members


def _group(
    obs: dict[str, Any],
    code: Code,
    label: str,
    value: Any,
    status: ResultStatus,
    effective: datetime | None,
    notes: tuple[str, ...],
    members: list[LabResult],
    known: bool,
    st: LabState,
) -> LabResult:
    """An Observation with members: an isolate (its value is a SNOMED CT organism) or a battery."""
    ref = st.ref("res")
    if isinstance(value, CodedValue) and value.code is not None and value.code.system == SNOMED_OID:
        return LabIsolate(
            ref=ref,
            organism=value.code,
            label=value.text or value.code.display,
            members=tuple(members),
            effective=effective,
        )
    if value is not None:  # a panel that also has its own value: keep it as the first member
        own = LabObservation(
            ref=st.ref("res"), code=code, label=label, value=value, status=status, effective=effective, known_code=known
        )
        members.insert(0, own)
    return LabBattery(
        ref=ref,
        code=code if code.code and code.system == LOINC_OID else None,
        label=label,
        members=tuple(members),
        status="aborted" if status == "aborted" else "completed",
        effective=effective,
        notes=notes,
    )


def _performer(target: Resolved, effective: datetime | None, st: LabState) -> PerformingLab | None:
    """Observation.performer: an Organization other than the report's lab is this result's performing lab; the
    lab's staff (Practitioner, PractitionerRole) are used but not rendered (the CR-BIO names the biologist)."""
    performer = None
    for k, p in enumerate(items(target.raw, "performer")):
        found = st.performer(p, target, f"{target.path}.performer[{k}]")
        if found is not None and found.resource_type == "Organization":
            org = lab_organization(found, st)[0]
            if org is not None and (st.lab is None or org.id_nat != st.lab.id_nat):
                performer = PerformingLab(org, aware(target.raw.get("issued")) or effective)
    return performer


def _component(
    comp: dict[str, Any], path: str, effective: datetime | None, status: ResultStatus, st: LabState
) -> LabObservation:
    code, label, _, known = code_of(comp, path, st)
    return LabObservation(
        ref=st.ref("res"),
        code=code,
        label=label,
        value=value_of(comp, path, st),
        status=status,
        effective=effective,
        interpretations=interpretations(comp, path, st),
        reference_range=reference_range(comp, path, st),
        known_code=known,
    )


__all__ = ["code_of", "observation", "specimen", "specimens_referenced"]
