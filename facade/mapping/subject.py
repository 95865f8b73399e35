"""Who the submission is about: every ``subject`` (DocumentReferences, List, lab results) and the recordTarget of a
ready-made CDA designate one patient (spec digest pdsm4dmp-lifecycle §2).

Forms: a reference to a Patient of the request (entry, contained), or the conditional
``Patient?identifier=<INS system>|<INS>`` of every PDSm-for-DMP example. The facade has no Patient store: a
conditional subject needs a ready-made CDA whose recordTarget carries the INS traits (they are read from it and
checked with the INS rules); with a CDA the facade must build (PDF, text) it is PATIENT_TRAITS_NEEDED, saying where
the traits go. A Patient resource beside a ready-made CDA must agree with its recordTarget, trait by trait.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lxml import etree

from facade.errors import Problem, ValidationReport
from facade.fhir.parse import ParsedEntry
from facade.fhir.references import Resolved, conditional_identifier
from facade.mapping.cda_header import check_ins_kind, patient_differences, record_target_patient
from facade.mapping.content import read_content
from facade.mapping.context import MappingContext
from facade.mapping.patient import ins_identifiers, to_patient
from facade.model.document import Patient
from facade.model.identifiers import IdentifierError, NirKeyError, is_ins_oid, oid_from_urn, parse_nir


def submission_patient(
    subjects: list[tuple[ParsedEntry, str]], documents: tuple[ParsedEntry, ...], kind: str, mc: MappingContext
) -> tuple[Patient | None, Resolved | None]:
    """The one patient of a submission, from every ``subject`` (DocumentReferences, List, lab results) and the
    recordTarget of a ready-made CDA. A subject is a reference to a Patient of the request, or the conditional
    ``Patient?identifier=<INS system>|<INS>`` (PDSm-for-DMP): that one needs a ready-made CDA whose recordTarget
    carries the traits, since the facade has no Patient store. A Patient resource beside a ready-made CDA must
    agree with its recordTarget, trait by trait."""
    cda = _ready_made_cda(documents, mc)
    if cda is None and not _designates_patient(subjects, mc):
        mc.report.add(
            Problem.MISSING_RESOURCE,
            expression="Bundle.entry" if kind == "iti65" else "DocumentReference.contained",
            resource="Patient",
        )
        return None, None
    chosen: Resolved | None = None
    conditional: tuple[str, str, str] | None = None  # (INS OID, INS, FHIRPath of the reference)
    for container, expr in subjects:
        ref = container.raw.get("subject")
        if ref is None:
            mc.report.add(Problem.MISSING_ELEMENT, expression=expr, element=f"{container.resource_type}.subject")
            continue
        errors_before = len(mc.report.errors)
        cond = _conditional_ins(ref, container, f"{expr}.reference", mc)
        if cond is not None or len(mc.report.errors) > errors_before:  # a conditional INS, valid or reported
            conditional = conditional or cond
            continue
        target = mc.resolve(ref, container, expr, expected=("Patient",))
        if target is None:
            continue
        if chosen is None:
            chosen = target
        elif target.raw is not chosen.raw and ins_identifiers(target.raw) != ins_identifiers(chosen.raw):
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=f"{expr}.reference",
                element=expr,
                reason="every document of a submission is about the same patient",
            )
    patient: Patient | None = None
    if chosen is not None:
        patient = to_patient(chosen, mc)
        # beside a Patient resource, the traits the recordTarget lacks are the schematron's business
        scratch = dataclasses.replace(mc, report=ValidationReport(), roles={})
        cda_patient = record_target_patient(cda[0], cda[1], scratch) if cda is not None else None
        if patient is not None and cda_patient is not None and cda is not None:
            _compare_with_record_target(chosen.path, patient, cda_patient, cda[1], mc)
    elif cda is not None:
        patient = record_target_patient(cda[0], cda[1], mc)
    elif conditional is not None:
        _traits_needed(conditional[2], kind, mc)
        return None, None
    if conditional is not None and patient is not None and (patient.ins.oid, patient.ins.value) != conditional[:2]:
        mc.report.add(
            Problem.CDA_HEADER_MISMATCH if chosen is None else Problem.INVALID_VALUE,
            expression=conditional[2],
            element="subject (Patient?identifier=<INS system>|<INS>)",
            fhir_value=f"urn:oid:{conditional[0]}|{conditional[1]}",
            cda_value=f"recordTarget/patientRole/id={patient.ins.oid}|{patient.ins.value}",
            reason=f"urn:oid:{conditional[0]}|{conditional[1]} is not the patient's INS {patient.ins.value}",
        )
    return patient, chosen


def _designates_patient(subjects: list[tuple[ParsedEntry, str]], mc: MappingContext) -> bool:
    """The request has a Patient (an entry, or contained in a subject's container) or a conditional subject."""
    if mc.resolver.of_type("Patient"):
        return True
    for container, _ in subjects:
        if any(
            isinstance(c, dict) and c.get("resourceType") == "Patient" for c in container.raw.get("contained") or []
        ):
            return True
        ref = container.raw.get("subject")
        text = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(text, str) and conditional_identifier(text) is not None:
            return True
    return False


def _conditional_ins(ref: Any, container: ParsedEntry, expr: str, mc: MappingContext) -> tuple[str, str, str] | None:
    """(INS OID, matricule, expression) of a ``Patient?identifier=urn:oid:<INS OID>|<INS>`` that designates no
    resource of the request (one that does is an ordinary reference); None for any other reference."""
    text = ref.get("reference") if isinstance(ref, dict) else None
    cond = conditional_identifier(text) if isinstance(text, str) else None
    if cond is None or cond[0] != "Patient" or mc.resolver.resolve(ref, container) is not None:
        return None
    oid = oid_from_urn(cond[1])
    if oid is None or not is_ins_oid(oid) or oid not in mc.policy.accepted_ins_oids:
        mc.report.add(
            Problem.INS_OID_NOT_ALLOWED,
            expression=expr,
            system=cond[1] or "(none)",
            accepted=", ".join(f"urn:oid:{o}" for o in sorted(mc.policy.accepted_ins_oids)),
        )
        return None
    try:
        nir = parse_nir(cond[2])
    except NirKeyError as exc:
        mc.report.add(Problem.INS_KEY_MISMATCH, expression=expr, ins=cond[2], key=exc.key, expected=exc.expected)
        return None
    except IdentifierError as exc:
        mc.report.add(Problem.INS_MALFORMED, expression=expr, ins=cond[2], reason=exc.reason)
        return None
    return (oid, nir.value, expr) if check_ins_kind(oid, nir, expr, mc) else None


def _ready_made_cda(documents: tuple[ParsedEntry, ...], mc: MappingContext) -> tuple[etree._Element, str] | None:
    """The first ready-made CDA's ClinicalDocument and the attachment's FHIRPath. The content is read with a
    scratch report: its own problems are reported once, when the document itself is mapped."""
    scratch = dataclasses.replace(mc, report=ValidationReport(), roles={})
    for doc in documents:
        content = read_content(doc, scratch)
        if content is not None and content.cda is not None and content.cda.root is not None:
            return content.cda.root, f"{doc.path}.content[0].attachment"
    return None


def _compare_with_record_target(path: str, fhir: Patient, cda: Patient, attachment: str, mc: MappingContext) -> None:
    for element, xpath, fhir_value, cda_value in patient_differences(fhir, cda):
        mc.report.add(
            Problem.CDA_HEADER_MISMATCH,
            expression=path,
            element=f"Patient.{element}",
            fhir_value=fhir_value,
            cda_value=f"{xpath}={cda_value} ({attachment})",
        )


def _traits_needed(expr: str, kind: str, mc: MappingContext) -> None:
    where = (
        "the subject is a conditional Patient?identifier=... reference and the facade has no Patient store: "
        "add the FR Core INS Patient (INS identifier, official name, gender, birthDate, birthPlace, "
        + (
            "identityReliability QUAL) as a Bundle entry and reference it from subject"
            if kind == "iti65"
            else "identityReliability QUAL) in DocumentReference.contained and reference it as #id"
        )
        + ", or send a ready-made CDA whose recordTarget carries the traits"
    )
    mc.report.add(Problem.PATIENT_TRAITS_NEEDED, expression=expr, where=where)


__all__ = ["submission_patient"]
