"""French national identifiers: INS (NIR/NIA + key), PS_IdNat, Struct_IdNat, OIDs (spec digest §5).

Pure functions, no FHIR: ``facade.mapping`` turns the exceptions raised here into ``Problem`` issues.

NIR shape (13 characters + 2-digit key): sex/kind (1 digit), year (2), month (2), department (2: digits, or
``2A``/``2B`` for Corsica), commune (3), order (3). Overseas departments (``97x``) and births abroad (``99`` +
country) are plain digits. The month is not range-checked: the INS reference uses unusual month codes
(20, 30-42, 50+...) for unknown or fictitious months; the key is what protects against typing errors.
The first digit: 1/2 (NIR), 3/4 and 7/8 (temporary numbers, NIA): anything else is malformed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from facade.model import oids
from facade.model.document import (
    OID_INS_NIA,
    OID_INS_NIR,
    OID_INS_NIR_DEMO,
    OID_INS_NIR_TEST,
    OID_PS_IDNAT,
    OID_STRUCT_IDNAT,
)

# Production INS OIDs; test (.10) and demo (.11) are accepted only when configured (InputPolicy).
INS_OIDS_PRODUCTION: frozenset[str] = frozenset({OID_INS_NIR, OID_INS_NIA})
INS_OIDS_TEST: frozenset[str] = INS_OIDS_PRODUCTION | {OID_INS_NIR_TEST, OID_INS_NIR_DEMO}
INS_OIDS_ALL: frozenset[str] = INS_OIDS_TEST
INS_OID_PREFIX = oids.INS_ARC  # the INS arc: NIR .8, NIA .9, test .10, demo .11


def is_ins_oid(oid: str) -> bool:
    """An OID of the INS arc (production, test or demo: which are accepted is the InputPolicy's call)."""
    return oid.startswith(INS_OID_PREFIX)


# FHIR identifier systems (FR Core, spec digest §7.1)
SYSTEM_RPPS = "https://rpps.esante.gouv.fr"
SYSTEM_FINESS = "https://finess.esante.gouv.fr"
SYSTEM_IDNATPS = "urn:oid:" + OID_PS_IDNAT
SYSTEM_IDNATST = "urn:oid:" + OID_STRUCT_IDNAT

_CORSICA = {"2A": "19", "2B": "18"}
_NIR_BODY = re.compile(r"^[1-478](\d{4})(\d{2}|2A|2B)(\d{6})$")
_OID = re.compile(r"^[0-2](\.(0|[1-9]\d*))+$")
_RPPS = re.compile(r"^\d{11}$")
_ADELI = re.compile(r"^\d{9}$")
# department (2 digits, 2A/2B Corsica; the ANS test structures use "0B") + 7 digits, e.g. 690000880, 0B0127189
_FINESS = re.compile(r"^[0-9][0-9AB]\d{7}$")
_INPUT_NOISE = re.compile(r"[\s.]")
_INS_CX = re.compile(r"(?P<ins>[0-9A-B]{15})\^\^\^&(?P<oid>[0-9.]+)&ISO\^NH")


class IdentifierError(ValueError):
    """A national identifier is malformed. ``reason`` is a short human text."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"{value!r}: {reason}")


class NirKeyError(IdentifierError):
    """The 13-character body is well formed but the key does not match."""

    def __init__(self, value: str, key: str, expected: str) -> None:
        self.key = key
        self.expected = expected
        super().__init__(value, f"key {key}, expected {expected}")


@dataclass(frozen=True)
class Nir:
    """A NIR/NIA matricule: 13-character body (may contain 2A/2B) and its 2-digit key."""

    body: str
    key: str

    @property
    def value(self) -> str:
        """The 15-character matricule carried in CDA ``id/@extension`` and the XDS CX."""
        return self.body + self.key


def _numeric_body(body: str) -> int:
    # Corsica: 2A -> 19, 2B -> 18 in the department position before the modulo (spec digest §5.2)
    dept = body[5:7]
    return int(body[:5] + _CORSICA.get(dept, dept) + body[7:])


def nir_key(body: str) -> str:
    """The 2-digit key of a 13-character body: ``97 - (body mod 97)``, zero padded (01..97)."""
    if not _NIR_BODY.match(body):
        raise IdentifierError(body, "not a 13-character NIR body")
    return f"{97 - (_numeric_body(body) % 97):02d}"


def normalize_nir(raw: str) -> str:
    """Drop spaces and dots (tolerated on input), upper-case 2a/2b."""
    return _INPUT_NOISE.sub("", raw).upper()


def parse_nir(raw: str) -> Nir:
    """Parse and check a 15-character matricule. Raises IdentifierError or NirKeyError."""
    value = normalize_nir(raw)
    if len(value) != 15:
        raise IdentifierError(raw, f"{len(value)} characters instead of 15")
    body, key = value[:13], value[13:]
    if not _NIR_BODY.match(body):
        raise IdentifierError(
            raw, "expected sex/kind digit 1-4/7-8, 4 digits, a department (2 digits, 2A, 2B), 6 digits"
        )
    if not key.isdigit():
        raise IdentifierError(raw, "the key (last 2 characters) must be digits")
    expected = nir_key(body)
    if key != expected:
        raise NirKeyError(raw, key, expected)
    return Nir(body, key)


_NIA_KIND = frozenset("3478")  # temporary numbers (NIA); 1/2 are NIR proper


def ins_kind_problem(oid: str, nir: Nir) -> str | None:
    """Why a matricule does not belong under ``oid``: a NIA-shaped value (kind digit 3/4/7/8) under the INS-NIR OID,
    or a NIR (1/2) under the INS-NIA OID. Test/demo OIDs (.10/.11) are not checked (test data uses both kinds)."""
    nia = nir.body[0] in _NIA_KIND
    if oid == OID_INS_NIR and nia:
        return f"{nir.value} is a temporary number (NIA, kind digit {nir.body[0]}): use the INS-NIA OID {OID_INS_NIA}"
    if oid == OID_INS_NIA and not nia:
        return f"{nir.value} is a NIR (kind digit {nir.body[0]}): use the INS-NIR OID {OID_INS_NIR}"
    return None


def nir_trait_mismatches(nir: Nir, gender: str | None, birth_date: str | None) -> list[str]:
    """The traits the matricule contradicts: its sex digit (odd male, even female) against ``gender`` (M/F; other
    values are not checked) and its year/month against ``birth_date`` (``YYYYMMDD``...). Months outside 01-12 are
    the INS reference's codes for an unknown month: not checked."""
    out: list[str] = []
    sex = "M" if int(nir.body[0]) % 2 else "F"
    if gender in ("M", "F") and gender != sex:
        out.append(f"sex digit {nir.body[0]} ({sex}) but gender {gender}")
    if birth_date and len(birth_date) >= 6 and birth_date[:6].isdigit():
        if nir.body[1:3] != birth_date[2:4]:
            out.append(f"birth year {nir.body[1:3]} but birthDate {birth_date[:4]}")
        month = nir.body[3:5]
        if "01" <= month <= "12" and month != birth_date[4:6]:
            out.append(f"birth month {month} but birthDate month {birth_date[4:6]}")
    return out


def format_nir(nir: Nir, *, grouped: bool = False) -> str:
    """``279035121518989``, or grouped as printed on the carte Vitale: ``2 79 03 51 215 189 89``."""
    if not grouped:
        return nir.value
    b = nir.body
    return " ".join((b[0], b[1:3], b[3:5], b[5:7], b[7:10], b[10:13], nir.key))


# --- OIDs ---


def is_oid(value: str) -> bool:
    """OID syntax (no leading zeros in arcs, at least two arcs) and the 64-char XDS uniqueId limit."""
    return len(value) <= 64 and bool(_OID.match(value))


def oid_from_urn(value: str) -> str | None:
    """``urn:oid:1.2.3`` (case-insensitive prefix) -> ``1.2.3``; a bare OID is returned as is; else None."""
    candidate = value[8:] if value.lower().startswith("urn:oid:") else value
    return candidate if is_oid(candidate) else None


# --- PS and structure national identifiers (spec digest §5.4) ---


def ps_idnat_from_rpps(rpps: str) -> str:
    """PS_IdNat of a professional from the 11-digit RPPS: ``8`` + RPPS."""
    rpps = rpps.strip()
    if not _RPPS.match(rpps):
        raise IdentifierError(rpps, "an RPPS number has 11 digits")
    return "8" + rpps


def ps_idnat_from_adeli(adeli: str) -> str:
    """PS_IdNat of a professional from the 9-digit ADELI: ``0`` + ADELI."""
    adeli = adeli.strip()
    if not _ADELI.match(adeli):
        raise IdentifierError(adeli, "an ADELI number has 9 digits")
    return "0" + adeli


def check_ps_idnat(value: str) -> str:
    """Accept a PS_IdNat as given (IDNPS): ``8``+RPPS, ``0``+ADELI, ``3``+FINESS+``/``+internal id ..."""
    value = value.strip()
    if value.startswith("8") and not _RPPS.match(value[1:]):
        raise IdentifierError(value, "an IDNPS starting with 8 is 8 + an 11-digit RPPS")
    if value.startswith("0") and not _ADELI.match(value[1:]):
        raise IdentifierError(value, "an IDNPS starting with 0 is 0 + a 9-digit ADELI")
    if not value or value[0] not in "0123456789" or len(value) < 2:
        raise IdentifierError(value, "not a PS national identifier")
    return value


def is_finess(value: str) -> bool:
    return bool(_FINESS.match(value.strip().upper()))


def struct_idnat_from_finess(finess: str) -> str:
    """Struct_IdNat of a structure from its 9-character FINESS: ``1`` + FINESS."""
    finess = finess.strip().upper()
    if not _FINESS.match(finess):
        raise IdentifierError(finess, "a FINESS number has 9 characters (department + 7 digits)")
    return "1" + finess


# Struct_IdNat: prefix + identifier (spec digest §5.4, PDSM4DMP StructIdNat). The one rule, strict: the DMP checks
# the VIHF Identifiant_Structure against it, so mapping refuses at the FHIR element what signing would refuse later.
STRUCT_IDNAT_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "0": (re.compile(r"0[0-9A-Z]{9}"), "'0' + ADELI (9 characters)"),
    "1": (re.compile(r"1[0-9][0-9AB][0-9]{7}"), "'1' + FINESS (9 characters)"),
    "2": (re.compile(r"2[0-9]{9}"), "'2' + SIREN (9 digits)"),
    "3": (re.compile(r"3[0-9]{14}"), "'3' + SIRET (14 digits)"),
    "4": (re.compile(r"4[0-9]{11}[0-9]{1,4}"), "'4' + RPPS (11 digits) + rang"),
}


def check_struct_idnat(value: str) -> str:
    """A Struct_IdNat (IDNST) as given, checked against its prefix's rule: ``0``+ADELI, ``1``+FINESS,
    ``2``+SIREN, ``3``+SIRET, ``4``+RPPS+rang. Raises IdentifierError with the rule it breaks."""
    value = value.strip().upper()
    rule = STRUCT_IDNAT_RULES.get(value[:1])
    if rule is None:
        expected = ", ".join(desc for _, desc in STRUCT_IDNAT_RULES.values())
        raise IdentifierError(value, f"unknown prefix; expected one of {expected}")
    if not rule[0].fullmatch(value):
        raise IdentifierError(value, f"expected {rule[1]}")
    return value


def ins_cx_problem(cx: str, accepted_oids: frozenset[str] = INS_OIDS_ALL) -> str | None:
    """Why an INS in HL7 CX form (``<15-character INS>^^^&<INS OID>&ISO^NH``, the VIHF patient id) is wrong;
    None when it is right (an INS OID, a well-formed matricule and its key)."""
    m = _INS_CX.fullmatch(cx)
    if m is None:
        return "expected <15-character INS>^^^&<INS OID>&ISO^NH"
    if m["oid"] not in accepted_oids:
        return f"assigning authority {m['oid']} is not an INS OID ({', '.join(sorted(accepted_oids))})"
    try:
        parse_nir(m["ins"])
    except NirKeyError as exc:
        return f"NIR key {exc.key} is wrong (expected {exc.expected})"
    except IdentifierError as exc:
        return exc.reason
    return None


__all__ = [
    "INS_OIDS_ALL",
    "INS_OID_PREFIX",
    "INS_OIDS_PRODUCTION",
    "INS_OIDS_TEST",
    "STRUCT_IDNAT_RULES",
    "SYSTEM_FINESS",
    "SYSTEM_IDNATPS",
    "SYSTEM_IDNATST",
    "SYSTEM_RPPS",
    "IdentifierError",
    "Nir",
    "NirKeyError",
    "check_ps_idnat",
    "check_struct_idnat",
    "format_nir",
    "ins_cx_problem",
    "ins_kind_problem",
    "is_finess",
    "is_ins_oid",
    "is_oid",
    "nir_key",
    "nir_trait_mismatches",
    "normalize_nir",
    "oid_from_urn",
    "parse_nir",
    "ps_idnat_from_adeli",
    "ps_idnat_from_rpps",
    "struct_idnat_from_finess",
]
