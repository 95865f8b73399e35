"""Practitioner / PractitionerRole / Device / Organization -> model Author, Person, Organization.

Rules (spec digest §3.3, §3.5, §5.4, §7.1):
* a person author needs a national id: Practitioner (else PractitionerRole) identifier ``urn:oid:1.2.250.1.71.4.2.1``
  (IDNPS, taken as is) or ``https://rpps.esante.gouv.fr`` (``8`` + RPPS); else MISSING_AUTHOR_IDENTIFIER;
* author speciality (JDV_J01): PractitionerRole.specialty, then PractitionerRole.code, then
  Practitioner.qualification; a ``specialty`` coding outside J01 is UNKNOWN_CODE;
* an author's organization (CDA author and legalAuthenticator representedOrganization, XDS authorInstitution) follows
  ``InputPolicy.author_institution``: "site" (default) always the emitting site (``ctx.facility``: ``1`` + FINESS
  géographique), so DocumentEntry and SubmissionSet authorInstitution are identical (spec digest §3.2, PFI
  over-constraint); "bundle": PractitionerRole.organization when it carries a national structure id (IDNST
  ``urn:oid:1.2.250.1.71.4.2.2`` as is, FINESS -> ``1`` + FINESS, SIRET -> ``3`` + SIRET), else the site. The
  Organization is validated in both modes;
* a Device author: ``assignedAuthoringDevice`` with id ``3`` + site FINESS + ``/`` + the device identifier;
* an Organization or a Patient alone cannot be a CDA author here (PDSm: PractitionerRole, Practitioner, Device).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from facade.errors import Problem
from facade.fhir.parse import ParsedEntry
from facade.fhir.references import Resolved
from facade.mapping.contact import to_addresses, to_telecoms
from facade.mapping.context import MappingContext
from facade.model import oids
from facade.model.document import Author, Code, Device, Organization, Person
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
from facade.terminology.tables import ValueSetName
from facade.terminology.uri_mapper import uri_to_oid

SYSTEM_SIRENE = "https://sirene.fr"
AUTHOR_TYPES = ("Practitioner", "PractitionerRole", "Device")
PERSON_TYPES = ("Practitioner", "PractitionerRole")
_ACCEPTED_IDS = f"{SYSTEM_IDNATPS} (IDNPS) or {SYSTEM_RPPS} (RPPS)"
_G15 = "TRE_G15-ProfessionSante"
_R38 = "TRE_R38-SpecialiteOrdinale"
_G15_OID = oids.TRE_G15_PROFESSION_SANTE
_SAVOIR_FAIRE_OID = oids.TRE_R01_ENSEMBLE_SAVOIR_FAIRE  # FR Core sends its SM codes as TRE_R38 URIs
# JDV_J47_FunctionCode_CISIS (1.2.250.1.213.1.1.5.124, structuration minimale checks author/functionCode against it):
# (code system OID, code) -> display. XDS authorRole carries the display (spec digest §3.3).
_R259, _R85, _R258 = (
    oids.TRE_R259_HL7_PARTICIPATION_FUNCTION,
    oids.TRE_R85_ROLE_PRISE_CHARGE,
    oids.TRE_R258_RELATION_PRISE_CHARGE,
)
FUNCTION_CODES: dict[tuple[str, str], str] = {
    (_R259, "ADMPHYS"): "Responsable de l'admission",
    (_R259, "ATTPHYS"): "Référent - Responsable du patient dans la structure de soins",
    (_R259, "DISPHYS"): "Responsable de la sortie",
    (_R259, "PCP"): "Médecin traitant",
    (_R85, "330"): "Coordonnateur de parcours",
    (_R85, "353"): "Membre de l'équipe de soins",
    (_R258, "CORRE"): "Correspondant",
    (_R258, "PRELV"): "Préleveur",
    (_R258, "ES-REF"): "Etablissement de santé de référence",
    (_R258, "ES-PREF"): "Etablissement de santé de préférence",
}


def site_organization(mc: MappingContext) -> Organization:
    """The emitting site (FINESS géographique): custodian, submission-set authorInstitution, default org."""
    facility = mc.build.facility
    return Organization(id_nat=facility.struct_idnat, name=facility.site_name, sector=facility.sector)


def author_organization(found: Organization | None, expression: str, mc: MappingContext) -> Organization:
    """The organization an author is attributed to, from the bundle's (already validated) Organization ``found``:
    the emitting site unless ``author_institution`` is "bundle" and ``found`` has a national structure id. Under
    "site", an Organization of another structure gets one information issue at ``expression``."""
    site = site_organization(mc)
    if found is None:
        return site
    if mc.policy.author_institution == "bundle":
        return found
    if found.id_nat != site.id_nat and not any(
        i.problem is Problem.INFORMATION and i.expression == expression for i in mc.report.issues
    ):  # the same PractitionerRole may be author, authenticator and submission source: say it once
        mc.report.add(
            Problem.INFORMATION,
            expression=expression,
            text=f"the author's organization {found.name} ({found.id_nat}) is replaced by the emitting site "
            f"{site.name} ({site.id_nat}) in the CDA author, legalAuthenticator and XDS authorInstitution "
            "(author_institution=site: DocumentEntry and SubmissionSet authorInstitution are identical)",
        )
    return site


def to_author(
    reference: Any, container: ParsedEntry, expression: str, mc: MappingContext, time: datetime
) -> Author | None:
    target = mc.resolver.resolve(reference, container)
    if target is not None and target.resource_type in ("Organization", "Patient", "RelatedPerson"):
        mc.report.add(
            Problem.INVALID_VALUE,
            expression=f"{expression}.reference",
            element="DocumentReference.author",
            reason=f"a {target.resource_type} cannot be the CDA author: reference a PractitionerRole, "
            "Practitioner or Device",
        )
        return None
    target = target or mc.resolve(reference, container, expression, expected=AUTHOR_TYPES)
    if target is None:
        return None
    if target.resource_type == "Device":
        device = _device(target, mc)
        mc.mark(target, "participant")
        return Author(time=time, organization=site_organization(mc), device=device) if device else None
    person_org = to_person(target, mc)
    if person_org is None:
        return None
    person, organization = person_org
    role = target if target.resource_type == "PractitionerRole" else None
    return Author(time=time, organization=organization, person=person, function_code=_function_code(role))


def to_person(target: Resolved, mc: MappingContext, *, as_author: bool = True) -> tuple[Person, Organization] | None:
    """A Practitioner or PractitionerRole -> (Person, Organization); issues reported, None when unusable.
    ``as_author=False``: the caller keeps only the Person (e.g. the lab's biologist, whose Organization is the
    performing lab): the Organization is validated but the author_institution policy says nothing about it."""
    mc.mark(target, "participant")
    role: Resolved | None = None
    practitioner: Resolved | None = target
    if target.resource_type == "PractitionerRole":
        role = target
        practitioner = None
        ref = target.raw.get("practitioner")
        if ref is not None:
            practitioner = mc.resolve(ref, target.entry, f"{target.path}.practitioner", expected=("Practitioner",))
            if practitioner is None:
                return None
            mc.mark(practitioner, "participant")
    person = person_of(practitioner, role, mc, required=True)
    if person is None:
        return None
    organization = site_organization(mc)
    if role is not None and role.raw.get("organization") is not None:
        expression = f"{role.path}.organization"
        org = mc.resolve(role.raw["organization"], role.entry, expression, expected=("Organization",))
        if org is not None:
            found = to_organization(org, mc)
            organization = author_organization(found, expression, mc) if as_author else found or organization
    return person, organization


def person_of(
    practitioner: Resolved | None, role: Resolved | None, mc: MappingContext, *, required: bool
) -> Person | None:
    """The Person of a Practitioner (and its PractitionerRole): PS_IdNat, name, J01 speciality, telecoms,
    addresses. A malformed national id is always reported; a missing id or name only when ``required`` (an
    author, a biologist), else the person is quietly left out (e.g. the prescriber of a lab order)."""
    errors_before = len(mc.report.errors)
    id_nat = _ps_idnat(practitioner, mc) if practitioner else None
    if id_nat is None and role is not None:
        id_nat = _ps_idnat(role, mc)
    if id_nat is None and len(mc.report.errors) > errors_before:
        return None  # a malformed national id was reported
    where = practitioner or role
    if id_nat is None:
        if required and where is not None:
            mc.report.add(
                Problem.MISSING_AUTHOR_IDENTIFIER,
                expression=f"{where.path}.identifier",
                author=where.raw.get("id") or where.path,
                accepted=_ACCEPTED_IDS,
            )
        return None
    name = _human_name(practitioner.raw if practitioner else {})
    if name is None:
        if required and where is not None:
            mc.report.add(
                Problem.MISSING_ELEMENT,
                expression=f"{where.path}.name" if practitioner else f"{where.path}.practitioner",
                element="Practitioner.name (author family name)",
            )
        return None
    family, given, prefix = name
    source = practitioner.raw if practitioner else {}
    return Person(
        id_nat=id_nat,
        family=family,
        given=given,
        prefix=prefix,
        profession=_specialty(role, practitioner, mc),
        telecoms=to_telecoms(source.get("telecom") or (role.raw.get("telecom") if role else None)),
        addresses=to_addresses(source.get("address")),
    )


def _ps_idnat(target: Resolved, mc: MappingContext) -> str | None:
    identifiers = [(i, x) for i, x in enumerate(target.raw.get("identifier") or []) if isinstance(x, dict)]
    for system in (SYSTEM_IDNATPS, SYSTEM_RPPS):  # IDNPS first: it is already the PS_IdNat
        for i, ident in identifiers:
            if _system(ident) != system or not ident.get("value"):
                continue
            value = str(ident["value"])
            try:
                return check_ps_idnat(value) if system == SYSTEM_IDNATPS else ps_idnat_from_rpps(value)
            except IdentifierError as exc:
                _malformed(target, i, f"identifier {system}", exc, mc)
                return None
    return None


def _human_name(raw: dict[str, Any]) -> tuple[str, tuple[str, ...], str | None] | None:
    names = [n for n in raw.get("name") or [] if isinstance(n, dict)]
    name = next((n for n in names if n.get("use") in ("official", "usual")), names[0] if names else None)
    if name is None or not str(name.get("family") or "").strip():
        return None
    given = tuple(str(g).strip() for g in name.get("given") or [] if isinstance(g, str) and g.strip())
    prefixes = [p for p in name.get("prefix") or [] if isinstance(p, str) and p.strip()]
    return str(name["family"]).strip(), given, (prefixes[0] if prefixes else None)


def _specialty(role: Resolved | None, practitioner: Resolved | None, mc: MappingContext) -> Code | None:
    """J01 speciality: a J01 coding of PractitionerRole.specialty, else the FR Core/Annuaire split form (TRE_G15
    profession in PractitionerRole.code or Practitioner.qualification + savoir-faire speciality in
    PractitionerRole.specialty) combined, else a J01 coding of PractitionerRole.code, else the qualifications."""
    if role is not None:
        found, settled = _role_specialty(role, practitioner, mc)
        if settled:
            return found
    if practitioner is not None:
        return _specialty_from_qualifications(practitioner.raw, mc)
    return None


def _role_specialty(role: Resolved, practitioner: Resolved | None, mc: MappingContext) -> tuple[Code | None, bool]:
    """(J01 code, settled) from a PractitionerRole; not settled: the qualifications may still say it."""
    vs = ValueSetName.AUTHOR_SPECIALTY
    specialties = [c for c in role.raw.get("specialty") or [] if isinstance(c, dict)]
    found = _first_in(vs, specialties, mc)
    if found:
        return found, True
    qualifications = practitioner.raw.get("qualification") or [] if practitioner is not None else []
    profession = _coded(role.raw.get("code"), _G15_OID) or _coded(
        [q.get("code") for q in qualifications if isinstance(q, dict)], _G15_OID
    )
    speciality = _coded(specialties, _SAVOIR_FAIRE_OID)
    if profession is not None and speciality is not None:
        found = mc.terminology.lookup(vs, f"G15_{profession}/{speciality}")
        if found:
            return found, True
    if specialties:
        first = (specialties[0].get("coding") or [{}])[0]
        mc.unknown_code(vs, first, f"{role.path}.specialty[0].coding[0]", "PractitionerRole.specialty")
        return None, True
    found = _first_in(vs, [c for c in role.raw.get("code") or [] if isinstance(c, dict)], mc)
    if found is None and profession is not None:
        found = mc.terminology.lookup(vs, f"G15_{profession}")
    return found, found is not None


def _first_in(vs: ValueSetName, concepts: list[dict[str, Any]], mc: MappingContext) -> Code | None:
    """The first coding of these CodeableConcepts that is in ``vs``."""
    for concept in concepts:
        for coding in concept.get("coding") or []:
            found = mc.terminology.lookup(vs, coding.get("code", ""), coding.get("system"))
            if found:
                return found
    return None


def _coded(concepts: Any, system_oid: str) -> str | None:
    """The first code of a code system (any URI flavour, e.g. NOS TRE_G15) among CodeableConcepts."""
    for concept in concepts or []:
        for coding in concept.get("coding") or [] if isinstance(concept, dict) else []:
            if (
                isinstance(coding, dict)
                and coding.get("code")
                and uri_to_oid(str(coding.get("system") or "")) == system_oid
            ):
                return str(coding["code"])
    return None


def _function_code(role: Resolved | None) -> Code | None:
    """author/functionCode (XDS authorRole) from PractitionerRole.code when one of its codings is in JDV_J47."""
    if role is None:
        return None
    for concept in role.raw.get("code") or []:
        for coding in (concept or {}).get("coding") or [] if isinstance(concept, dict) else []:
            if not isinstance(coding, dict):
                continue
            oid = uri_to_oid(str(coding.get("system") or ""))
            display = FUNCTION_CODES.get((oid or "", str(coding.get("code") or "")))
            if oid is not None and display is not None:
                return Code(str(coding["code"]), oid, display)
    return None


def _specialty_from_qualifications(raw: dict[str, Any], mc: MappingContext) -> Code | None:
    """FR Core/Annuaire practitioners carry profession (TRE_G15) and speciality (TRE_R38) separately; J01 codes
    combine them as ``G15_<profession>/<speciality>`` (or ``G15_<profession>`` alone)."""
    profession = speciality = None
    for qualification in raw.get("qualification") or []:
        for coding in ((qualification or {}).get("code") or {}).get("coding") or []:
            system = str(coding.get("system") or "")
            if _G15 in system:
                profession = coding.get("code")
            elif _R38 in system:
                speciality = coding.get("code")
            else:
                found = mc.terminology.lookup(ValueSetName.AUTHOR_SPECIALTY, str(coding.get("code", "")), system)
                if found:
                    return found
    candidates = []
    if profession and speciality:
        candidates.append(f"G15_{profession}/{speciality}")
    if profession:
        candidates.append(f"G15_{profession}")
    for code in candidates:
        found = mc.terminology.lookup(ValueSetName.AUTHOR_SPECIALTY, code)
        if found:
            return found
    return None


def to_organization(target: Resolved, mc: MappingContext) -> Organization | None:
    """An Organization with a national structure id; None (caller falls back to the site) when it has none."""
    mc.mark(target, "participant")
    raw = target.raw
    id_nat: str | None = None
    identifiers = [(i, x) for i, x in enumerate(raw.get("identifier") or []) if isinstance(x, dict) and x.get("value")]
    for i, ident in sorted(identifiers, key=lambda ix: _org_id_rank(ix[1])):
        system, value = _system(ident), str(ident["value"]).strip()
        try:
            if system == SYSTEM_IDNATST:
                id_nat = check_struct_idnat(value)
            elif system == SYSTEM_FINESS:
                id_nat = struct_idnat_from_finess(value)
            elif system == SYSTEM_SIRENE and len(value) == 14 and value.isdigit():
                id_nat = "3" + value
        except IdentifierError as exc:
            _malformed(target, i, f"Organization.identifier {system}", exc, mc)
            return None
        if id_nat:
            break
    if id_nat is None:
        return None
    name = str(raw.get("name") or "").strip() or mc.build.facility.site_name
    return Organization(
        id_nat=id_nat,
        name=name,
        addresses=to_addresses(raw.get("address")),
        telecoms=to_telecoms(raw.get("telecom")),
    )


def _malformed(target: Resolved, index: int, element: str, exc: IdentifierError, mc: MappingContext) -> None:
    """A national identifier that breaks its rule (facade.model.identifiers): 422 at its value."""
    mc.report.add(
        Problem.INVALID_VALUE, expression=f"{target.path}.identifier[{index}].value", element=element, reason=exc.reason
    )


def _system(ident: dict[str, Any]) -> str:
    """An identifier's system, a trailing slash forgiven (``https://finess.esante.gouv.fr/``)."""
    return str(ident.get("system") or "").rstrip("/")


def _org_id_rank(ident: dict[str, Any]) -> int:
    system = _system(ident)
    if system == SYSTEM_IDNATST:
        return 0
    if system == SYSTEM_FINESS:
        codes = [c.get("code") for c in (ident.get("type") or {}).get("coding") or [] if isinstance(c, dict)]
        return 1 if "FINEG" in codes else 2  # the geographic FINESS identifies the site; FINEJ the legal entity
    return 3


def _device(target: Resolved, mc: MappingContext) -> Device | None:
    raw = target.raw
    ids = [x for x in raw.get("identifier") or [] if isinstance(x, dict) and x.get("value")]
    if not ids:
        mc.report.add(
            Problem.MISSING_AUTHOR_IDENTIFIER,
            expression=f"{target.path}.identifier",
            author=raw.get("id") or target.path,
            accepted="a Device.identifier (local id of the system)",
        )
        return None
    local = str(ids[0]["value"]).strip()
    # PS_IdNat of a system: "3" + FINESS + "/" + internal id (spec digest §3.3 XCN examples, §5.4)
    id_nat = local if "/" in local else f"3{mc.build.facility.finess_eg}/{local}"
    names = [n for n in raw.get("deviceName") or [] if isinstance(n, dict) and n.get("name")]
    model = next((n["name"] for n in names if n.get("type") == "model-name"), None)
    model = model or raw.get("modelNumber") or (names[0]["name"] if names else None) or local
    versions = [v for v in raw.get("version") or [] if isinstance(v, dict) and v.get("value")]
    manufacturer = raw.get("manufacturer")
    software = f"{manufacturer or model} {versions[0]['value']}" if versions else str(manufacturer or model)
    return Device(id_nat=id_nat, model_name=str(model), software_name=software)


__all__ = [
    "AUTHOR_TYPES",
    "PERSON_TYPES",
    "author_organization",
    "person_of",
    "site_organization",
    "to_author",
    "to_organization",
    "to_person",
]
