"""What a VIHF says and the DMP's rules on it (spec digest §1.3-1.4): `VihfClaims`, its `Role` values, and
`check_claims`, run before anything is signed (so the caller can answer an OperationOutcome) and by the DMP
simulator on a received token. Signing is `facade.soap.saml`, verification `facade.soap.vihf_verify`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from facade.errors import Issue, Problem
from facade.model import oids
from facade.model.identifiers import IdentifierError, check_struct_idnat, ins_cx_problem

# attribute names (spec digest §1.4)
A_STRUCTURE = "Identifiant_Structure"
A_SECTOR = "Secteur_Activite"
A_SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
A_ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
A_VERSION = "VIHF_Version"
A_MODE_NAMES = ("Authentification_Mode", "Authentification_mode")
A_RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
A_RESOURCE_URN = "Ressource_URN"
A_PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
A_LPS_ID = "LPS_ID"
A_LPS_NAME = "LPS_Nom"
A_LPS_VERSION = "LPS_Version"
A_LPS_HOMOLOGATION = "LPS_ID_HOMOLOGATION_DMP"

AUTH_MODES = frozenset({"DIRECTE", "INDIRECTE", "INDIRECTE_RENFORCEE"})
PURPOSES = {"normal": "Accès normal"}  # the only purpose of use confirmed by the sources (spec digest §1.4)
PROFESSIONS_NEEDING_SPECIALITY = {"10": "Médecin", "21": "Pharmacien"}

_SECTOR = re.compile(r"SA[0-9]{2}\^" + re.escape(oids.TRE_R02_SECTEUR_ACTIVITE))


@dataclass(frozen=True)
class Role:
    """One value of the role attribute (HL7 CE): profession (G15), speciality (R01), or AUTOMATE (A00)."""

    code: str
    code_system: str
    display: str | None = None
    code_system_name: str | None = None

    @classmethod
    def automate(cls) -> Role:
        return cls("AUTOMATE", oids.TRE_A00_PRODUCTEUR_DOC_NON_PS, "Automate", "TRE_A00-ProducteurDocNonPS")


AUTOMATE = Role.automate()


@dataclass(frozen=True)
class VihfClaims:
    """What the VIHF says (spec digest §1.3-1.4). `subject_id`: for an automate, "software, model, service"."""

    structure_id: str  # Struct_IdNat, also the OU of the ORG certificates
    sector: str  # "SA01^1.2.250.1.71.4.2.4"
    subject_id: str
    name_id: str  # Subject/NameID: the person responsible (or the user's PS_IdNat)
    roles: tuple[Role, ...]
    patient_ins_cx: str  # "<INS>^^^&<OID>&ISO^NH"
    lps_name: str
    lps_version: str
    lps_homologation: str
    lps_id: str | None = None
    auth_mode: str = "INDIRECTE"
    purpose: str = "normal"
    authn_instant: datetime | None = None  # when the user authenticated locally; default: the signing time


def check_claims(claims: VihfClaims) -> list[Issue]:
    """The rules the DMP applies to a VIHF, checked before signing. Empty list = OK."""
    issues: list[Issue] = []

    def add(problem: Problem, **details: Any) -> None:
        issues.append(Issue(problem, details=details))

    sid = claims.structure_id
    try:
        if check_struct_idnat(sid) != sid:  # the rule upper-cases and strips: the VIHF carries it exactly
            add(Problem.VIHF_STRUCTURE_ID, value=sid, reason="not in its canonical form (upper case, no spaces)")
    except IdentifierError as exc:
        add(Problem.VIHF_STRUCTURE_ID, value=sid, reason=exc.reason)
    if not _SECTOR.fullmatch(claims.sector):
        add(Problem.VIHF_SECTOR, value=claims.sector)
    ins_reason = ins_cx_problem(claims.patient_ins_cx)
    if ins_reason:
        add(Problem.VIHF_PATIENT_ID, value=claims.patient_ins_cx, reason=ins_reason)
    issues.extend(_role_issues(claims.roles))
    for attribute, value in (
        ("subject-id", claims.subject_id),
        ("Subject/NameID", claims.name_id),
        (A_LPS_NAME, claims.lps_name),
        (A_LPS_VERSION, claims.lps_version),
        (A_LPS_HOMOLOGATION, claims.lps_homologation),
    ):
        if not value or not value.strip():
            add(Problem.VIHF_SETTING, attribute=attribute, value=value, reason="required, empty")
    if claims.lps_id is not None and not claims.lps_id.strip():
        add(Problem.VIHF_SETTING, attribute=A_LPS_ID, value=claims.lps_id, reason="empty (omit it instead)")
    if claims.auth_mode not in AUTH_MODES:
        add(Problem.VIHF_SETTING, attribute="Authentification_Mode", value=claims.auth_mode, reason=_one_of(AUTH_MODES))
    if claims.purpose not in PURPOSES:
        add(Problem.VIHF_SETTING, attribute="purposeofuse", value=claims.purpose, reason=_one_of(PURPOSES))
    return issues


def _one_of(values: Mapping[str, Any] | frozenset[str]) -> str:
    return "expected one of " + ", ".join(sorted(values))


def _role_issues(roles: Sequence[Role]) -> list[Issue]:
    if not roles:
        return [Issue(Problem.VIHF_ROLE, details={"value": "", "reason": "at least one role value is required"})]
    first = roles[0]
    label = f"{first.code}^{first.code_system}"
    issues: list[Issue] = []
    if first.code_system == oids.TRE_R01_ENSEMBLE_SAVOIR_FAIRE:
        issues.append(
            Issue(
                Problem.VIHF_ROLE,
                details={"value": label, "reason": "the first value must be the profession, not the speciality"},
            )
        )
    if first.code == "AUTOMATE" and first.code_system != oids.TRE_A00_PRODUCTEUR_DOC_NON_PS:
        issues.append(
            Issue(
                Problem.VIHF_ROLE,
                details={"value": label, "reason": f"AUTOMATE is in {oids.TRE_A00_PRODUCTEUR_DOC_NON_PS}"},
            )
        )
    if first.code_system == oids.TRE_A00_PRODUCTEUR_DOC_NON_PS and len(roles) > 1:
        issues.append(Issue(Problem.VIHF_ROLE, details={"value": label, "reason": "a non-PS role takes one value"}))
    if first.code_system == oids.TRE_G15_PROFESSION_SANTE and first.code in PROFESSIONS_NEEDING_SPECIALITY:
        speciality = roles[1] if len(roles) > 1 else None
        if speciality is None or speciality.code_system != oids.TRE_R01_ENSEMBLE_SAVOIR_FAIRE:
            issues.append(
                Issue(
                    Problem.VIHF_SPECIALITY_MISSING,
                    details={"value": label, "profession": PROFESSIONS_NEEDING_SPECIALITY[first.code]},
                )
            )
        elif not re.fullmatch(r"SM[0-9]{2,3}", speciality.code):
            issues.append(
                Issue(
                    Problem.VIHF_ROLE,
                    details={
                        "value": f"{speciality.code}^{speciality.code_system}",
                        "reason": "a TRE_R01 speciality code looks like SMxx",
                    },
                )
            )
    for role in roles:
        if not role.code or not role.code_system:
            issues.append(
                Issue(
                    Problem.VIHF_ROLE,
                    details={"value": f"{role.code}^{role.code_system}", "reason": "code and codeSystem are required"},
                )
            )
    return issues
