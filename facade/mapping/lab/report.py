"""FHIR lab results (a DiagnosticReport and its Observations, or bare Observations of one patient) -> the CR-BIO
body and lab header facts (``LabMapping``).

``to_lab_report`` reads the request through the caller's ``MappingContext`` (the one reference resolver and
ValidationReport of the whole request) and is a list of named steps: the report's own checks, who made it, its
results, specimens, chapters, order, dates and PDF copy. Every problem is collected with a FHIRPath expression.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from dataclasses import dataclass
from datetime import datetime

from facade.errors import Issue, Problem
from facade.fhir.references import Resolved
from facade.mapping.context import MappingContext
from facade.mapping.lab.checks import check_period, check_subject, oid_identifier
from facade.mapping.lab.narrative import report_lines
from facade.mapping.lab.observations import observation, specimen, specimens_referenced
from facade.mapping.lab.participants import order, participants
from facade.mapping.lab.pdf import text_pdf
from facade.mapping.lab.state import LabState, UnitValidator, aware, items, period_start
from facade.mapping.lab.values import ucum_error
from facade.model.document import Code, InstanceId, Organization, Patient, Person
from facade.model.lab import (
    LabChapter,
    LabReport,
    LabResult,
    LabSubChapter,
    OrganizerStatus,
    ResponsibleBiologist,
    Specimen,
)
from facade.terminology.catalogue import V2_0074_SYSTEMS, Catalogue, ChapterEntry

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
_PDF_TITLE = "Compte rendu d'examens biologiques"


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


Grouped = dict[str, tuple[Code, dict[str, tuple[Code, list[LabResult], list[Specimen]]]]]


def find_lab_report(mc: MappingContext) -> int | None:
    """Index of the (first) DiagnosticReport entry, None when the request has none."""
    return next((r.entry.index for r in mc.resolver.of_type("DiagnosticReport")), None)


def to_lab_report(
    mc: MappingContext,
    *,
    catalogue: Catalogue,
    facility_lab: Organization,
    report_index: int | None = None,
    pdf_copy: bytes | None = None,
    check_unit: UnitValidator | None = None,
    patient: Patient | None = None,
) -> LabMapping | None:
    """Map the DiagnosticReport at ``report_index`` (default: the first one) or, without one, the bare
    Observations to a ``LabMapping``. Problems go to ``mc.report``; returns None when nothing usable was found
    (the caller raises the report). ``facility_lab`` is the performing lab when the report names none (the
    hospital's own lab). ``pdf_copy``: the sender's PDF rendering (DocumentReference attachment) if any.
    ``patient``: the document's patient; every ``subject`` (DiagnosticReport, Observations, Specimens, orders)
    must designate it (same INS), else SUBJECT_MISMATCH. ``LabMapping.used`` lists the entries the document is
    built from, so the caller can refuse results that no report reaches."""
    if report_index is None:
        report_index = find_lab_report(mc)
    dr = _report(mc, report_index)
    st = LabState(mc, catalogue, check_unit or ucum_error, _category_chapter(dr, catalogue), patient=patient)
    if dr is not None:
        _check_report(dr, st)
    who = participants(dr, st)
    st.lab = lab = who.lab or facility_lab
    status, top = _top_results(dr, st)
    report_specimens = _report_specimens(dr, st)
    chapters = _chapters(_group(top, st), report_specimens)
    order_ids, ordering = order(dr, st)
    service_event_id = _service_event_id(dr)
    start, issued = _dates(dr, top, chapters)
    supplied = pdf_copy if pdf_copy is not None else _presented_pdf(dr, st)
    if who.biologist is None or not chapters:
        return None
    report = LabReport(
        chapters=tuple(chapters),
        pdf_copy=b"",
        responsible=ResponsibleBiologist(person=who.biologist, organization=lab, accreditation=who.accreditation),
        status=status,
        pdf_supplied=supplied is not None,
        ordering_provider=ordering,
        service_event_id=service_event_id,
        notes=(str(dr.raw["conclusion"]),) if dr is not None and dr.raw.get("conclusion") else (),
        performed=issued,
    )
    if supplied is None:
        supplied = text_pdf(_PDF_TITLE, report_lines(report, lab))
        mc.report.extend([Issue(Problem.LAB_PDF_GENERATED, expression=f"{dr.path}.presentedForm" if dr else None)])
    return LabMapping(
        report=dataclasses.replace(report, pdf_copy=supplied),
        lab=lab,
        biologist=who.biologist,
        order_ids=tuple(order_ids),
        start=start,
        issued=issued,
        report_fullurl=dr.entry.full_url if dr is not None else None,
        report_index=report_index if dr is not None else None,
        used=frozenset(st.used),
    )


def _report(mc: MappingContext, index: int | None) -> Resolved | None:
    if index is None:
        return None
    entry = mc.resolver.entries[index]
    return Resolved(entry.raw, entry.path, entry)


def _category_chapter(dr: Resolved | None, catalogue: Catalogue) -> ChapterEntry | None:
    """The chapter of DiagnosticReport.category (HL7 v2 table 0074): where results unknown to the table go."""
    for concept in items(dr.raw, "category") if dr is not None else []:
        for coding in items(concept, "coding"):
            if coding.get("system") in V2_0074_SYSTEMS and coding.get("code"):
                found = catalogue.chapter_for_category(str(coding["code"]))
                if found is not None:
                    return found
    return None


def _check_report(dr: Resolved, st: LabState) -> None:
    """The report's own subject and dates: a report issued before its results' time is refused."""
    st.use(dr)
    check_subject(dr, st)
    check_period(dr.raw.get("effectivePeriod"), f"{dr.path}.effectivePeriod", st)
    issued = aware(dr.raw.get("issued"))
    start = aware(dr.raw.get("effectiveDateTime")) or period_start(dr.raw.get("effectivePeriod"))
    if issued is not None and start is not None and issued < start:
        st.report.add(
            Problem.INVALID_VALUE,
            expression=f"{dr.path}.issued",
            element=f"{dr.path}.issued",
            reason=f"the report is issued ({issued.isoformat()}) before its effective time ({start.isoformat()})",
        )


def _top_results(dr: Resolved | None, st: LabState) -> tuple[OrganizerStatus, list[Resolved]]:
    """(report status, top-level results): DiagnosticReport.result, else the Observations no other one lists
    as a member (they must concern one patient)."""
    if dr is None:
        return "completed", _bare_observations(st)
    status = _REPORT_STATUS.get(str(dr.raw.get("status") or ""))
    if status is None:
        st.report.add(
            Problem.INVALID_VALUE,
            expression=f"{dr.path}.status",
            element=f"{dr.path}.status",
            reason=f"'{dr.raw.get('status')}' cannot be sent to the DMP",
        )
        status = "completed"
    top: list[Resolved] = []
    results = items(dr.raw, "result")
    for i, ref in enumerate(results):
        found = st.lookup(ref, dr)
        if found is None:
            st.report.add(
                Problem.UNRESOLVED_REFERENCE, expression=f"{dr.path}.result[{i}]", reference=ref.get("reference") or "?"
            )
        else:
            top.append(found)
    if not results:
        st.report.add(Problem.MISSING_ELEMENT, expression=f"{dr.path}.result", element=f"{dr.path}.result")
    return status, top


def _bare_observations(st: LabState) -> list[Resolved]:
    observations = st.mc.resolver.of_type("Observation")
    members = {
        m.path
        for obs in observations
        for m in (st.lookup(r, obs) for r in items(obs.raw, "hasMember"))
        if m is not None
    }
    top = [obs for obs in observations if obs.path not in members]
    if not top:
        st.report.add(Problem.MISSING_RESOURCE, expression="Bundle.entry", resource="DiagnosticReport or Observation")
    subjects = {(obs.raw.get("subject") or {}).get("reference") for obs in observations}
    if len(subjects) > 1:
        st.report.add(
            Problem.INVALID_VALUE,
            expression="Bundle.entry",
            element="Observation.subject",
            reason="the Observations concern more than one patient",
        )
    return top


def _report_specimens(dr: Resolved | None, st: LabState) -> list[Specimen]:
    out: list[Specimen] = []
    for i, ref in enumerate(items(dr.raw, "specimen") if dr is not None else []):
        assert dr is not None
        target = st.target(ref, dr, f"{dr.path}.specimen[{i}]", "Specimen")
        spec = specimen(target, st) if target is not None else None
        if spec is not None:
            out.append(spec)
    return out


def _group(top: list[Resolved], st: LabState) -> Grouped:
    """Map every top-level result and group them by chapter / sub-chapter, in order of first appearance."""
    grouped: Grouped = {}
    for target in top:
        mapped = observation(target, st)
        if mapped is None:
            continue
        result, entry = mapped
        chapter = entry.chapter
        sub = entry.sub_chapter or chapter
        _, subs = grouped.setdefault(chapter.code, (chapter, {}))
        _, results, specimens = subs.setdefault(sub.code, (sub, [], []))
        results.append(result)
        for s in specimens_referenced(target, st):
            if s not in specimens:
                specimens.append(s)
    return grouped


def _chapters(grouped: Grouped, report_specimens: list[Specimen]) -> list[LabChapter]:
    return [
        LabChapter(
            code=chapter,
            title=chapter.display,
            sub_chapters=tuple(
                LabSubChapter(
                    code=sub, title=sub.display, results=tuple(results), specimens=tuple(specimens or report_specimens)
                )
                for sub, results, specimens in subs.values()
            ),
        )
        for chapter, subs in grouped.values()
    ]


def _service_event_id(dr: Resolved | None) -> InstanceId | None:
    """The lab's own request number (the first ``urn:oid`` identifier of the report) -> serviceEvent/id."""
    ids = (oid_identifier(i) for i in items(dr.raw, "identifier")) if dr is not None else iter(())
    return next((i for i in ids if i is not None), None)


def _dates(
    dr: Resolved | None, top: list[Resolved], chapters: list[LabChapter]
) -> tuple[datetime | None, datetime | None]:
    """(start, issued): the report's effective time, else the first specimen collection; the report's issued,
    else the latest result's."""
    effective = (aware(dr.raw.get("effectiveDateTime")) or period_start(dr.raw.get("effectivePeriod"))) if dr else None
    issued = aware(dr.raw.get("issued")) if dr is not None else None
    if issued is None:
        times = [aware(t.raw.get("issued")) for t in top]
        issued = max((t for t in times if t is not None), default=None)
    starts = [s.collected for ch in chapters for sc in ch.sub_chapters for s in sc.specimens if s.collected]
    return effective or min(starts, default=None), issued


def _presented_pdf(dr: Resolved | None, st: LabState) -> bytes | None:
    """The lab's own PDF rendering (DiagnosticReport.presentedForm application/pdf); garbage is refused."""
    supplied = None
    for i, form in enumerate(items(dr.raw, "presentedForm") if dr is not None else []):
        if form.get("contentType") != "application/pdf" or form.get("data") is None:
            continue
        assert dr is not None
        expression = f"{dr.path}.presentedForm[{i}].data"
        data = _decode(str(form["data"]))
        if data is None or not data.startswith(b"%PDF-"):
            if not any(x.expression == expression for x in st.report.errors):
                st.report.add(
                    Problem.INVALID_VALUE,
                    expression=expression,
                    element=expression,
                    reason="not a PDF document (bad base64, or another format than application/pdf)",
                )
            continue
        supplied = supplied if supplied is not None else data
    return supplied


def _decode(b64: str) -> bytes | None:
    try:
        return base64.b64decode("".join(b64.split()))
    except (binascii.Error, ValueError):
        return None


__all__ = ["LabMapping", "find_lab_report", "to_lab_report"]
