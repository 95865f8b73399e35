"""Checks every lab resource goes through: its subject is the document's patient, its periods are ordered; and
the ``urn:oid`` identifiers lab data carries (order, specimen and request numbers)."""

from __future__ import annotations

from typing import Any

from facade.errors import Problem
from facade.fhir.references import Resolved
from facade.mapping.lab.state import LabState, aware
from facade.mapping.patient import ins_identifiers
from facade.model.document import InstanceId


def check_subject(res: Resolved, st: LabState) -> None:
    """``subject`` must designate the document's patient (same INS): results of another patient are never sent
    in this patient's DMP. An absent subject is accepted: the report (or document) designates the patient."""
    patient = st.patient
    ref = res.raw.get("subject")
    if patient is None or ref is None:
        return
    target = st.lookup(ref, res)
    if target is None or target.resource_type != "Patient":
        what = "nothing in the bundle" if target is None else f"a {target.resource_type}"
    elif target.path in st.same_patient:  # every result names the same Patient: compared once
        return
    else:
        found = ins_identifiers(target.raw)
        if (patient.ins.oid, patient.ins.value) in found:
            st.same_patient.add(target.path)
            return
        what = f"INS {', '.join(sorted(v for _, v in found)) or 'none'}"
    shown = (ref.get("reference") if isinstance(ref, dict) else None) or "?"
    expression = f"{res.path}.subject"
    st.report.add(
        Problem.SUBJECT_MISMATCH,
        expression=expression,
        element=expression,
        reference=f"{shown} ({what})",
        ins=patient.ins.value,
    )


def check_period(period: Any, expression: str, st: LabState) -> None:
    """A Period whose end is before its start is refused (the CDA effectiveTime would be meaningless)."""
    if not isinstance(period, dict):
        return
    start, end = aware(period.get("start")), aware(period.get("end"))
    if start is not None and end is not None and end < start:
        st.report.add(
            Problem.INVALID_VALUE,
            expression=f"{expression}.end",
            element=expression,
            reason=f"ends ({end.isoformat()}) before it starts ({start.isoformat()})",
        )


def oid_identifier(ident: Any) -> InstanceId | None:
    """An Identifier whose system is ``urn:oid:`` -> InstanceId (root = the OID)."""
    if not isinstance(ident, dict) or not ident.get("value"):
        return None
    system = str(ident.get("system") or "")
    return InstanceId(system[8:], str(ident["value"])) if system.startswith("urn:oid:") else None


__all__ = ["check_period", "check_subject", "oid_identifier"]
