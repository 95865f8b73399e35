"""The header of a ready-made CI-SIS CDA: its patient (recordTarget) read as a ``model.Patient``.

A DPI that produces its own CDA designates the patient in FHIR by ``Patient?identifier=<INS system>|<INS>`` only
(every PDSm-for-DMP example): the identity traits then come from the CDA ``recordTarget`` (spec digest
pdsm4dmp-lifecycle §2), checked with the same INS rules as a FHIR Patient (accepted OID, key, NIR/NIA kind, traits
against the matricule). Pure functions over a parsed ``ClinicalDocument`` element; problems go to the report.
"""

from __future__ import annotations

from lxml import etree

from facade.errors import Problem
from facade.mapping.context import MappingContext
from facade.model.document import Ins, InstanceId, Patient
from facade.model.identifiers import (
    IdentifierError,
    Nir,
    NirKeyError,
    ins_kind_problem,
    is_ins_oid,
    nir_trait_mismatches,
    parse_nir,
)

HL7 = "urn:hl7-org:v3"
NS = {"hl7": HL7}
RECORD_TARGET = "recordTarget/patientRole"
_PATIENT = "hl7:recordTarget/hl7:patientRole"
_GENDER = {"M": "M", "F": "F", "U": "UN", "UN": "UN"}


def first(root: etree._Element, xpath: str) -> etree._Element | None:
    found = root.xpath(xpath, namespaces=NS)
    if isinstance(found, list) and found and isinstance(found[0], etree._Element):
        return found[0]
    return None


def attr(root: etree._Element, xpath: str, name: str) -> str | None:
    el = first(root, xpath)
    value = el.get(name) if el is not None else None
    return str(value).strip() if value is not None and str(value).strip() else None


def text(root: etree._Element, xpath: str) -> str | None:
    el = first(root, xpath)
    value = "".join(el.itertext()).strip() if el is not None else ""
    return " ".join(value.split()) or None


def record_target_ins(root: etree._Element) -> list[tuple[str, str]]:
    """(root, extension) of every recordTarget/patientRole/id under the INS arc."""
    out: list[tuple[str, str]] = []
    for el in root.xpath(f"{_PATIENT}/hl7:id", namespaces=NS):
        if isinstance(el, etree._Element) and is_ins_oid(str(el.get("root") or "")):
            out.append((str(el.get("root")), str(el.get("extension") or "")))
    return out


def check_ins(
    oid: str, value: str, expression: str, mc: MappingContext, *, gender: str | None, birth: str | None
) -> Nir | None:
    """The INS rules shared by a FHIR Patient and a CDA recordTarget: accepted OID, 15 characters and key, kind
    (NIR/NIA) matching the OID, and the matricule's sex digit / birth year and month against the traits."""
    if oid not in mc.policy.accepted_ins_oids:
        accepted = ", ".join(f"urn:oid:{o}" for o in sorted(mc.policy.accepted_ins_oids))
        mc.report.add(Problem.INS_OID_NOT_ALLOWED, expression=expression, system=f"urn:oid:{oid}", accepted=accepted)
        return None
    try:
        nir = parse_nir(value)
    except NirKeyError as exc:
        mc.report.add(Problem.INS_KEY_MISMATCH, expression=expression, ins=value, key=exc.key, expected=exc.expected)
        return None
    except IdentifierError as exc:
        mc.report.add(Problem.INS_MALFORMED, expression=expression, ins=value, reason=exc.reason)
        return None
    if not check_ins_kind(oid, nir, expression, mc):
        return None
    check_ins_traits(nir, expression, mc, gender=gender, birth=birth)
    return nir


def check_ins_kind(oid: str, nir: Nir, expression: str, mc: MappingContext) -> bool:
    """A NIA-shaped value under the INS-NIR OID, or a NIR under the INS-NIA OID, is refused."""
    kind = ins_kind_problem(oid, nir)
    if kind is not None:
        mc.report.add(Problem.INS_KIND_MISMATCH, expression=expression, ins=nir.value, reason=kind)
    return kind is None


def check_ins_traits(nir: Nir, expression: str, mc: MappingContext, *, gender: str | None, birth: str | None) -> None:
    """The matricule's sex digit and birth year/month against the traits: a warning, or an error when
    ``policy.ins_trait_mismatch`` says so (the spec digest does not say which; the INSi answer is the authority)."""
    mismatches = nir_trait_mismatches(nir, gender, birth)
    if mismatches:
        report = mc.report.add if mc.policy.ins_trait_mismatch == "error" else mc.report.warn
        report(Problem.INS_TRAITS_MISMATCH, expression=expression, ins=nir.value, reason="; ".join(mismatches))


def record_target_patient(root: etree._Element, expression: str, mc: MappingContext) -> Patient | None:
    """The recordTarget as a Patient (INS traits of STRUCMIN §3.5.5.12); ``expression``: FHIRPath of the
    attachment (the XPath inside the CDA is in each message). None once an error is reported."""
    where = f"{expression} (CDA {RECORD_TARGET})"
    ins_ids = record_target_ins(root)
    gender = _GENDER.get(attr(root, f"{_PATIENT}/hl7:patient/hl7:administrativeGenderCode", "code") or "")
    birth = attr(root, f"{_PATIENT}/hl7:patient/hl7:birthTime", "value")
    family = text(root, f"{_PATIENT}/hl7:patient/hl7:name/hl7:family[@qualifier='BR']") or text(
        root, f"{_PATIENT}/hl7:patient/hl7:name/hl7:family"
    )
    given = text(root, f"{_PATIENT}/hl7:patient/hl7:name/hl7:given[not(@qualifier)]")
    first_given = text(root, f"{_PATIENT}/hl7:patient/hl7:name/hl7:given[@qualifier='BR']")
    missing = [
        name
        for name, value in (
            ("id[@root=INS OID]", ins_ids),
            ("patient/name/family[@qualifier='BR']", family),
            ("patient/name/given[@qualifier='BR'] or given", first_given or given),
            ("patient/administrativeGenderCode/@code", gender),
            ("patient/birthTime/@value", birth),
        )
        if not value
    ]
    if missing:
        mc.report.add(
            Problem.MISSING_ELEMENT,
            expression=where,
            element=f"CDA {RECORD_TARGET}/" + f", {RECORD_TARGET}/".join(missing) + " (INS traits)",
        )
        return None
    assert family is not None and gender is not None and birth is not None
    oid, value = ins_ids[0]
    nir = check_ins(oid, value, where, mc, gender=gender, birth=birth)
    if nir is None:
        return None
    givens = tuple((given or first_given or "").split())
    local_ids = tuple(
        InstanceId(str(el.get("root")), str(el.get("extension") or ""))
        for el in root.xpath(f"{_PATIENT}/hl7:id", namespaces=NS)
        if isinstance(el, etree._Element) and el.get("root") and not is_ins_oid(str(el.get("root")))
    )
    return Patient(
        ins=Ins(nir.value, oid),
        local_ids=tuple(i for i in local_ids if i.extension),
        birth_family_name=family,
        birth_given_names=givens,
        first_birth_given_name=first_given or givens[0],
        gender=gender,  # type: ignore[arg-type]  # one of M/F/UN (the _GENDER table)
        birth_time=birth,
        used_family_name=text(root, f"{_PATIENT}/hl7:patient/hl7:name/hl7:family[@qualifier='CL']"),
        used_given_name=text(root, f"{_PATIENT}/hl7:patient/hl7:name/hl7:given[@qualifier='CL']"),
        birthplace_cog=text(root, f"{_PATIENT}/hl7:patient/hl7:birthplace/hl7:place/hl7:addr/hl7:county"),
    )


def patient_differences(fhir: Patient, cda: Patient) -> list[tuple[str, str, str, str]]:
    """(FHIRPath suffix in the Patient, XPath in the CDA, FHIR value, CDA value) of every INS trait that differs."""
    out: list[tuple[str, str, str, str]] = []
    pairs = (
        ("identifier (INS)", "id[@root=INS OID]/@extension", fhir.ins.value, cda.ins.value),
        ("name.family (birth)", "patient/name/family[@qualifier='BR']", fhir.birth_family_name, cda.birth_family_name),
        (
            "name.given (first birth given name)",
            "patient/name/given[@qualifier='BR']",
            fhir.first_birth_given_name,
            cda.first_birth_given_name,
        ),
        ("gender", "patient/administrativeGenderCode/@code", fhir.gender, cda.gender),
        ("birthDate", "patient/birthTime/@value", fhir.birth_time[:8], cda.birth_time[:8]),
    )
    for element, xpath, a, b in pairs:
        if _norm(a) != _norm(b):
            out.append((element, f"{RECORD_TARGET}/{xpath}", a, b))
    if fhir.birthplace_cog and cda.birthplace_cog and fhir.birthplace_cog != cda.birthplace_cog:
        out.append(
            (
                "birthPlace (COG)",
                f"{RECORD_TARGET}/patient/birthplace/place/addr/county",
                fhir.birthplace_cog,
                cda.birthplace_cog,
            )
        )
    return out


def _norm(value: str) -> str:
    return " ".join(value.upper().split())


__all__ = [
    "HL7",
    "NS",
    "attr",
    "check_ins",
    "check_ins_kind",
    "check_ins_traits",
    "first",
    "patient_differences",
    "record_target_ins",
    "record_target_patient",
    "text",
]
