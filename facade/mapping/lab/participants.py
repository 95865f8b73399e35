"""Who made the lab report: the performing laboratory (and its COFRAC accreditation), the responsible biologist,
and the order (``DiagnosticReport.basedOn`` ServiceRequest: its ids and prescriber).

People and organizations go through the level-1 transformers (``authors.to_person`` / ``person_of`` /
``to_organization``): the same PS_IdNat, J01 speciality, Struct_IdNat (FINESS géographique before juridique),
telecom and address rules as any author.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facade.errors import Problem
from facade.fhir.references import Resolved
from facade.mapping.authors import person_of, to_organization, to_person
from facade.mapping.lab.checks import check_subject, oid_identifier
from facade.mapping.lab.state import LabState, aware, items
from facade.model.document import InstanceId, Organization, Person
from facade.model.lab import OrderingProvider
from facade.model.oids import COFRAC_ACCREDITATION


@dataclass(frozen=True)
class Participants:
    lab: Organization | None  # None: the report names no usable lab (the caller's facility lab is used)
    accreditation: InstanceId | None
    biologist: Person | None


def lab_organization(target: Resolved, st: LabState) -> tuple[Organization | None, InstanceId | None]:
    """A laboratory Organization -> (Organization with Struct_IdNat, COFRAC accreditation id). A lab without a
    national structure id or a name is not used (malformed ids are reported by ``to_organization``)."""
    accreditation = next(
        (
            InstanceId(COFRAC_ACCREDITATION, str(i["value"]).strip())
            for i in items(target.raw, "identifier")
            if i.get("system") == f"urn:oid:{COFRAC_ACCREDITATION}" and i.get("value")
        ),
        None,
    )
    org = to_organization(target, st.mc)
    if org is None or not str(target.raw.get("name") or "").strip():
        return None, accreditation
    return org, accreditation


def participants(dr: Resolved | None, st: LabState) -> Participants:
    """The performing lab and the responsible biologist: DiagnosticReport.resultsInterpreter then .performer
    (Observation.performer without a report). The first Organization (or PractitionerRole.organization) is the
    lab; the first person the biologist."""
    lab: Organization | None = None
    accreditation: InstanceId | None = None
    people: list[tuple[Resolved, str]] = []  # (Practitioner or PractitionerRole, expression of the reference)
    for ref, container, expr in _performer_refs(dr, st):
        found = st.performer(ref, container, expr)
        if found is None:
            continue
        kind = found.resource_type
        if kind == "Organization" and lab is None:
            lab, accreditation = lab_organization(found, st)
        elif kind == "Practitioner":
            people.append((found, expr))
        elif kind == "PractitionerRole":
            practitioner = st.lookup(found.raw.get("practitioner"), found)
            if practitioner is not None:
                st.use(practitioner)
                people.append((found, expr))
            org = st.lookup(found.raw.get("organization"), found)
            if org is not None and lab is None:
                st.use(org)
                lab, accreditation = lab_organization(org, st)
    return Participants(lab, accreditation, _biologist(dr, people, st))


def _performer_refs(dr: Resolved | None, st: LabState) -> list[tuple[Any, Resolved, str]]:
    if dr is not None:
        return [
            *((r, dr, f"{dr.path}.resultsInterpreter[{i}]") for i, r in enumerate(items(dr.raw, "resultsInterpreter"))),
            *((r, dr, f"{dr.path}.performer[{i}]") for i, r in enumerate(items(dr.raw, "performer"))),
        ]
    return [
        (r, obs, f"{obs.path}.performer[{i}]")
        for obs in st.mc.resolver.of_type("Observation")
        for i, r in enumerate(items(obs.raw, "performer"))
    ]


def _biologist(dr: Resolved | None, people: list[tuple[Resolved, str]], st: LabState) -> Person | None:
    """The first person named is the responsible biologist, mapped as an author is (PS_IdNat, J01 speciality)."""
    if people:
        found = to_person(people[0][0], st.mc, as_author=False)
        return found[0] if found is not None else None
    st.report.add(
        Problem.MISSING_ELEMENT,
        expression=f"{dr.path}.resultsInterpreter" if dr else "Bundle",
        element="the responsible biologist (DiagnosticReport.resultsInterpreter or performer: Practitioner / "
        "PractitionerRole; Observation.performer without a DiagnosticReport)",
    )
    return None


def order(dr: Resolved | None, st: LabState) -> tuple[list[InstanceId], OrderingProvider | None]:
    """``basedOn`` ServiceRequests: their ``urn:oid`` identifiers (and requisition) are the order ids
    (inFulfillmentOf); the first one's requester is the ordering provider."""
    order_ids: list[InstanceId] = []
    ordering: OrderingProvider | None = None
    for i, ref in enumerate(items(dr.raw, "basedOn") if dr is not None else []):
        assert dr is not None
        sr = st.target(ref, dr, f"{dr.path}.basedOn[{i}]", "ServiceRequest")
        if sr is None:
            continue
        st.use(sr)
        check_subject(sr, st)
        requisition = sr.raw.get("requisition")
        for ident in [*items(sr.raw, "identifier"), *([requisition] if isinstance(requisition, dict) else [])]:
            iid = oid_identifier(ident)
            if iid is not None and iid not in order_ids:
                order_ids.append(iid)
        if ordering is None:
            ordering = _ordering_provider(sr, st)
    return order_ids, ordering


def _ordering_provider(sr: Resolved, st: LabState) -> OrderingProvider | None:
    requester = st.lookup(sr.raw.get("requester"), sr)
    if requester is None:
        return None
    st.use(requester)
    role: Resolved | None = None
    practitioner: Resolved | None = requester
    if requester.resource_type == "PractitionerRole":
        role, practitioner = requester, st.lookup(requester.raw.get("practitioner"), requester)
        if practitioner is not None:
            st.use(practitioner)
    if practitioner is None or practitioner.resource_type != "Practitioner":
        return None
    person = person_of(practitioner, role, st.mc, required=False)  # a prescriber without PS_IdNat is left out
    return OrderingProvider(person=person, time=aware(sr.raw.get("authoredOn"))) if person is not None else None


__all__ = ["Participants", "lab_organization", "order", "participants"]
