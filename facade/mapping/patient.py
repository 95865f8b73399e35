"""FR Core Patient (INS) -> model.Patient: INS, identity reliability, INS traits, local ids (spec digest §5, §6.1).

Rules:
* the INS is the identifier whose system is an INS OID (``urn:oid:1.2.250.1.213.1.4.x``) or whose type is
  ``INS-*`` (FR Core ``fr-core-cs-v2-0203``); its OID must be in ``policy.accepted_ins_oids`` and its key correct;
* the INS may only be used for a *qualified* identity: extension ``fr-core-identity-reliability``, sub-extension
  ``identityStatus`` = ``QUAL`` (current FR Core code system). Legacy table 0445 ``VALI`` only when
  ``policy.accept_legacy_vali``; ``VALI`` of the current code system means "validated, not qualified": refused;
* the matricule's kind must match the OID (NIA-shaped under INS-NIR or NIR under INS-NIA: refused); its sex digit
  and birth year/month are checked against gender/birthDate (``policy.ins_trait_mismatch``: warning or error);
* INS traits: official name -> birth family name (BR) and first birth given name; the
  ``fr-core-patient-birth-list-given-name`` extension (else the official given names) -> the birth given names
  list; usual name -> CL names; gender; birthDate (+ ``patient-birthTime``); ``patient-birthPlace`` (COG code from
  ``fr-core-address-insee-code``, else ``district``; required: without it the CDA fails the INS-traits rule);
* local ids: identifiers of type ``PI`` or whose system is the configured IPP OID, with an OID system.
"""

from __future__ import annotations

from typing import Any, Literal

from facade.errors import Problem
from facade.fhir.references import Resolved
from facade.mapping.cda_header import check_ins_kind, check_ins_traits
from facade.mapping.contact import to_addresses, to_telecoms
from facade.mapping.context import MappingContext, extension, parse_fhir_datetime
from facade.model.document import Ins, InstanceId, Patient
from facade.model.identifiers import IdentifierError, NirKeyError, is_ins_oid, oid_from_urn, parse_nir

FR_CORE = "https://hl7.fr/ig/fhir/core"
EXT_IDENTITY_RELIABILITY = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
EXT_BIRTH_LIST_GIVEN_NAME = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
EXT_INSEE_CODE = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
EXT_BIRTH_TIME = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
CS_IDENTITY_STATUS = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status"
CS_LEGACY_0445 = frozenset(
    {
        f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0445",
        "http://interopsante.org/fhir/CodeSystem/fr-v2-0445",
        "https://interopsante.org/fhir/CodeSystem/fr-v2-0445",
    }
)
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

_GENDER: dict[str, Literal["M", "F", "UN"]] = {"male": "M", "female": "F", "other": "UN", "unknown": "UN"}


def to_patient(target: Resolved, mc: MappingContext) -> Patient | None:
    raw, path = target.raw, target.path
    errors_before = len(mc.report.errors)
    ins = _ins(raw, path, mc)
    _check_qualified(raw, path, mc)
    names = _names(raw, path, mc)
    gender = _GENDER.get(str(raw.get("gender")))
    if gender is None:
        mc.report.add(Problem.MISSING_ELEMENT, expression=f"{path}.gender", element="Patient.gender (INS trait)")
    birth_time = _birth_time(raw, path, mc)
    if ins is not None:
        check_ins_traits(parse_nir(ins.value), f"{path}.identifier", mc, gender=gender, birth=birth_time)
    cog, city = _birth_place(raw, path, mc)
    if ins is None or names is None or gender is None or birth_time is None or len(mc.report.errors) > errors_before:
        return None
    family, given_list, first_given, used_family, used_given = names
    return Patient(
        ins=ins,
        local_ids=_local_ids(raw, mc),
        birth_family_name=family,
        birth_given_names=given_list,
        first_birth_given_name=first_given,
        gender=gender,
        birth_time=birth_time,
        used_family_name=used_family,
        used_given_name=used_given,
        birthplace_cog=cog,
        birthplace_city=city,
        addresses=to_addresses(raw.get("address")),
        telecoms=to_telecoms(raw.get("telecom") or []),
    )


def is_ins(ident: dict[str, Any]) -> bool:
    """An INS identifier: its system is an INS OID, or its type is ``INS-*`` (FR Core fr-core-cs-v2-0203)."""
    if is_ins_oid(oid_from_urn(str(ident.get("system") or "")) or ""):
        return True
    codings = (ident.get("type") or {}).get("coding") or []
    return any(str(c.get("code", "")).startswith("INS-") for c in codings if isinstance(c, dict))


def ins_identifiers(raw: dict[str, Any]) -> set[tuple[str, str]]:
    """(INS OID, matricule without spaces, upper case) of every identifier of a Patient whose system is an INS
    OID: what tells whether two Patient resources are the same person."""
    out: set[tuple[str, str]] = set()
    for ident in raw.get("identifier") or []:
        if not isinstance(ident, dict):
            continue
        oid = oid_from_urn(str(ident.get("system") or "").rstrip("/"))
        if oid is not None and is_ins_oid(oid):
            out.add((oid, "".join(str(ident.get("value") or "").split()).upper()))
    return out


def _ins(raw: dict[str, Any], path: str, mc: MappingContext) -> Ins | None:
    candidates = [(i, x) for i, x in enumerate(raw.get("identifier") or []) if isinstance(x, dict) and is_ins(x)]
    if not candidates:
        mc.report.add(Problem.MISSING_ELEMENT, expression=f"{path}.identifier", element="Patient.identifier (INS)")
        return None
    # A qualified identity has one INS; keep the first accepted one, report the others only if none is usable.
    for i, ident in candidates:
        expr = f"{path}.identifier[{i}]"
        system = str(ident.get("system") or "")
        oid = oid_from_urn(system)
        if oid is None or oid not in mc.policy.accepted_ins_oids:
            mc.report.add(
                Problem.INS_OID_NOT_ALLOWED,
                expression=f"{expr}.system",
                system=system or "(none)",
                accepted=", ".join(f"urn:oid:{o}" for o in sorted(mc.policy.accepted_ins_oids)),
            )
            continue
        value = str(ident.get("value") or "")
        try:
            nir = parse_nir(value)
        except NirKeyError as exc:
            mc.report.add(
                Problem.INS_KEY_MISMATCH, expression=f"{expr}.value", ins=value, key=exc.key, expected=exc.expected
            )
            continue
        except IdentifierError as exc:
            mc.report.add(Problem.INS_MALFORMED, expression=f"{expr}.value", ins=value, reason=exc.reason)
            continue
        if not check_ins_kind(oid, nir, f"{expr}.value", mc):
            continue
        return Ins(nir.value, oid)
    return None


def identity_status(raw: dict[str, Any], path: str) -> tuple[str | None, str | None, str]:
    """(code, system, FHIRPath) of identityStatus; code None when absent."""
    found = extension(raw, EXT_IDENTITY_RELIABILITY)
    if found is None:
        return None, None, f"{path}.extension"
    i, ext = found
    for j, sub in enumerate(ext.get("extension") or []):
        if isinstance(sub, dict) and sub.get("url") == "identityStatus":
            coding = sub.get("valueCoding") or {}
            return coding.get("code"), coding.get("system"), f"{path}.extension[{i}].extension[{j}].valueCoding.code"
    return None, None, f"{path}.extension[{i}]"


def _check_qualified(raw: dict[str, Any], path: str, mc: MappingContext) -> None:
    code, system, expr = identity_status(raw, path)
    if code == "QUAL" and system in (None, CS_IDENTITY_STATUS):
        return
    if code == "VALI" and system in CS_LEGACY_0445 and mc.policy.accept_legacy_vali:
        mc.report.inform(
            Problem.INFORMATION,
            expression=expr,
            text="legacy identityStatus VALI (HL7 table 0445) accepted as qualified by configuration",
        )
        return
    status = "absent" if code is None else f"{system or '(no system)'}|{code}"
    mc.report.add(Problem.IDENTITY_NOT_QUALIFIED, expression=expr, status=status)


def _names(
    raw: dict[str, Any], path: str, mc: MappingContext
) -> tuple[str, tuple[str, ...], str, str | None, str | None] | None:
    """(birth family name, birth given names, first birth given name, used family name, used given name)."""
    names = [(i, n) for i, n in enumerate(raw.get("name") or []) if isinstance(n, dict)]
    birth = _birth_names(names, path, mc)
    if birth is None:
        return None
    usual = next((n for _, n in names if n.get("use") == "usual"), None)
    return (*birth, *_used_names(usual))


def _birth_names(
    names: list[tuple[int, dict[str, Any]]], path: str, mc: MappingContext
) -> tuple[str, tuple[str, ...], str] | None:
    """The INS traits of the official (else maiden) name: birth family name, birth given names list (the
    fr-core-patient-birth-list-given-name extension, else the given names) and the first birth given name."""
    official = next(((i, n) for i, n in names if n.get("use") == "official"), None)
    official = official or next(((i, n) for i, n in names if n.get("use") == "maiden"), None)
    if official is None or not str(official[1].get("family") or "").strip():
        mc.report.add(
            Problem.MISSING_ELEMENT,
            expression=f"{path}.name" if official is None else f"{path}.name[{official[0]}].family",
            element="Patient.name (use official: birth family name, INS trait)",
        )
        return None
    i, name = official
    given = [g.strip() for g in name.get("given") or [] if isinstance(g, str) and g.strip()]
    birth_list = extension(name, EXT_BIRTH_LIST_GIVEN_NAME)
    listed = str(birth_list[1].get("valueString") or "").split() if birth_list else []
    given_list = tuple(listed or given)
    if not given_list:
        mc.report.add(
            Problem.MISSING_ELEMENT,
            expression=f"{path}.name[{i}].given",
            element="Patient.name.given (first birth given name, INS trait)",
        )
        return None
    return str(name["family"]).strip(), given_list, given[0] if given else given_list[0]


def _used_names(usual: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(used family name, first used given name) of the usual name, when there is one."""
    if usual is None:
        return None, None
    used_family = str(usual.get("family") or "").strip() or None
    used_given_names = [g for g in usual.get("given") or [] if isinstance(g, str) and g.strip()]
    return used_family, used_given_names[0].strip() if used_given_names else None


def _birth_time(raw: dict[str, Any], path: str, mc: MappingContext) -> str | None:
    value = raw.get("birthDate")
    if not isinstance(value, str):
        mc.report.add(Problem.MISSING_ELEMENT, expression=f"{path}.birthDate", element="Patient.birthDate (INS trait)")
        return None
    ts = value.replace("-", "")
    ext = extension(raw.get("_birthDate") or {}, EXT_BIRTH_TIME)
    if ext is not None:
        when = parse_fhir_datetime(ext[1].get("valueDateTime"))
        if when is not None and when.strftime("%Y%m%d") == ts:
            return when.strftime("%Y%m%d%H%M%S")
        mc.report.warn(
            Problem.INVALID_VALUE,
            expression=f"{path}._birthDate.extension[{ext[0]}]",
            element="patient-birthTime",
            reason="ignored: needs a time with offset on the same day as birthDate",
        )
    return ts


def _birth_place(raw: dict[str, Any], path: str, mc: MappingContext) -> tuple[str | None, str | None]:
    """Birthplace COG code: an INS trait, required by FR Core fr-core-patient-ins and checked by the
    structuration-minimale schematron (recordTarget/.../birthplace/place/addr/county): missing is an error."""
    found = extension(raw, EXT_BIRTH_PLACE)
    if found is None:
        mc.report.add(
            Problem.MISSING_ELEMENT,
            expression=f"{path}.extension('{EXT_BIRTH_PLACE}')",
            element="patient-birthPlace with its INSEE COG code (INS trait)",
        )
        return None, None
    i, ext = found
    address = ext.get("valueAddress") or {}
    insee = extension(address, EXT_INSEE_CODE)
    cog = (insee[1].get("valueCoding") or {}).get("code") if insee else address.get("district")
    city = address.get("city")
    if not cog or not str(cog).strip():
        mc.report.add(
            Problem.MISSING_ELEMENT,
            expression=f"{path}.extension[{i}].valueAddress",
            element="patient-birthPlace INSEE COG code (fr-core-address-insee-code, INS trait)",
        )
        return None, None
    return str(cog).strip(), (str(city) if city else None)


def _local_ids(raw: dict[str, Any], mc: MappingContext) -> tuple[InstanceId, ...]:
    out: list[InstanceId] = []
    ipp_oid = mc.build.facility.ipp_oid
    for ident in raw.get("identifier") or []:
        if not isinstance(ident, dict) or is_ins(ident) or not ident.get("value"):
            continue
        oid = oid_from_urn(str(ident.get("system") or ""))
        codings = (ident.get("type") or {}).get("coding") or []
        is_pi = any(c.get("code") == "PI" for c in codings if isinstance(c, dict))
        if oid is not None and (is_pi or oid == ipp_oid):
            out.append(InstanceId(oid, str(ident["value"])))
    return tuple(out)


__all__ = ["identity_status", "ins_identifiers", "is_ins", "to_patient"]
