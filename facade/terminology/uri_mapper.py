"""FHIR code-system URI <-> OID (XDS codingScheme / CDA codeSystem).

FHIR inputs name code systems by canonical URI (``http://loinc.org``, NOS
``https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire``, ``urn:oid:...``);
CDA and XDS need the OID. NOS tables are recognised by their TRE identifier whatever the URI flavour (MOS
``/NOS/TRE_xxx``, SMT ``/CodeSystem/tre-xxx-...``), so a new ANS URL scheme does not break the mapping.
OIDs: NOS TRE headers in the conformance kit (terminologies/nos-svs-2-41) and the PDSm bindings (spec digest §3.3);
the ones the facade writes are named in ``facade.model.oids``.
"""

from __future__ import annotations

import re

from facade.model import oids

# NOS tables: TRE id -> (OID, canonical MOS name). "URN"/"ASTM" are the pseudo-OIDs IHE/ANS use for those tables.
_NOS: dict[str, tuple[str, str]] = {
    "A00": (oids.TRE_A00_PRODUCTEUR_DOC_NON_PS, "TRE_A00-ProducteurDocNonPS"),
    "A01": (oids.TRE_A01_CADRE_EXERCICE, "TRE_A01-CadreExercice"),
    "A02": (oids.TRE_A02_PROFESSION_SAVFAIRE_CISIS, "TRE_A02-ProfessionSavFaire-CISIS"),
    "A03": (oids.TRE_A03_CLASSE_DOCUMENT, "TRE_A03-ClasseDocument"),
    "A04": (oids.LOINC, "TRE_A04-Loinc"),
    "A05": ("1.2.250.1.213.1.1.4.12", "TRE_A05-TypeDocComplementaire"),
    "A06": (oids.TRE_A06_FORMAT_CODE_COMPLEMENTAIRE, "TRE_A06-FormatCodeComplementaire"),
    "A07": (oids.TRE_A07_STATUT_VISIBILITE_DOCUMENT, "TRE_A07-StatutVisibiliteDocument"),
    "A08": (oids.HL7_CONFIDENTIALITY, "TRE_A08-HL7Confidentiality"),
    "A09": ("1.2.840.10008.2.6.1", "TRE_A09-DICOMuidRegistry"),
    "A10": ("URN", "TRE_A10-NomenclatureURN"),
    "A11": (oids.TRE_A11_IHE_FORMAT_CODE, "TRE_A11-IheFormatCode"),
    "A12": ("ASTM", "TRE_A12-NomenclatureASTM"),
    "A13": ("2.16.840.1.113883.5.90", "TRE_A13-HL7ParticipationType"),
    "G15": (oids.TRE_G15_PROFESSION_SANTE, "TRE_G15-ProfessionSante"),
    "R02": (oids.TRE_R02_SECTEUR_ACTIVITE, "TRE_R02-SecteurActivite"),
    "R11": ("1.2.250.1.213.1.6.1.11", "TRE_R11-CiviliteExercice"),
    # FR Core's URI for the savoir-faire codes (SM26 ...): the OID is TRE_R01's (see facade.model.oids). R01 comes
    # after R38 so that oid_to_uri keeps answering the FR Core URI.
    "R38": (oids.TRE_R01_ENSEMBLE_SAVOIR_FAIRE, "TRE_R38-SpecialiteOrdinale"),
    "R01": (oids.TRE_R01_ENSEMBLE_SAVOIR_FAIRE, "TRE_R01-EnsembleSavoirFaire"),
    "R81": ("1.2.250.1.213.1.6.1.69", "TRE_R81-Civilite"),
    "R85": (oids.TRE_R85_ROLE_PRISE_CHARGE, "TRE_R85-RolePriseCharge"),
    "R94": ("1.2.250.1.213.1.6.1.4", "TRE_R94-ProfessionSocial"),
    "R95": ("1.2.250.1.213.1.6.1.109", "TRE_R95-UsagerTitre"),
    "R96": ("1.2.250.1.213.1.6.1.110", "TRE_R96-AutreFonctionSanitaire"),
    "R209": (oids.TRE_R209_TYPE_ACTIVITE, "TRE_R209-TypeActivite"),  # PDSm designationType binding; GIE TD2.1 sample
    "R216": ("2.16.840.1.113883.5.111", "TRE_R216-HL7RoleCode"),
    "R217": ("1.2.250.1.213.1.1.4.327", "TRE_R217-ProtectionJuridique"),
    "R258": (oids.TRE_R258_RELATION_PRISE_CHARGE, "TRE_R258-RelationPriseCharge"),
    "R259": (oids.TRE_R259_HL7_PARTICIPATION_FUNCTION, "TRE_R259-HL7ParticipationFunction"),
    "R303": ("2.16.840.1.113883.5.1", "TRE_R303-HL7v3AdministrativeGender"),
    "R304": ("2.16.840.1.113883.5.4", "TRE_R304-HL7v3ActCode"),
    "R305": ("1.2.250.1.213.1.1.4.2.291", "TRE_R305-TypeRencontre"),
}

# International code systems: canonical FHIR URI -> OID (first URI of an OID is the one oid_to_uri returns).
_STANDARD: dict[str, str] = {
    "http://loinc.org": oids.LOINC,
    "http://snomed.info/sct": oids.SNOMED_CT,
    "http://hl7.org/fhir/sid/icd-10": "2.16.840.1.113883.6.3",
    "http://unitsofmeasure.org": oids.UCUM,
    "http://terminology.hl7.org/CodeSystem/v3-Confidentiality": oids.HL7_CONFIDENTIALITY,
    "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender": "2.16.840.1.113883.5.1",
    "http://terminology.hl7.org/CodeSystem/v3-ActCode": "2.16.840.1.113883.5.4",
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType": "2.16.840.1.113883.5.90",
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationFunction": oids.TRE_R259_HL7_PARTICIPATION_FUNCTION,
    "http://terminology.hl7.org/CodeSystem/v3-RoleCode": "2.16.840.1.113883.5.111",
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation": oids.HL7_OBSERVATION_INTERPRETATION,
    "http://dicom.nema.org/resources/ontology/DCM": "1.2.840.10008.2.16.4",
    # older FHIR R3-era URIs still sent by some clients
    "http://hl7.org/fhir/v3/Confidentiality": oids.HL7_CONFIDENTIALITY,
    "http://hl7.org/fhir/v3/AdministrativeGender": "2.16.840.1.113883.5.1",
}

_PSEUDO_OIDS = frozenset({"URN", "ASTM"})
_OID_RE = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_TRE_RE = re.compile(r"(?i)(?:^|/)tre[_-]([a-z][0-9]+)(?:[-_/]|$)")
_NOS_BASE = "https://mos.esante.gouv.fr/NOS"


def nos_uri(tre_name: str) -> str:
    """MOS canonical CodeSystem URI of a NOS table: ``TRE_A05-TypeDocComplementaire`` ->
    ``https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire``."""
    return f"{_NOS_BASE}/{tre_name}/FHIR/{tre_name.replace('_', '-')}"


def _build_reverse() -> dict[str, str]:
    reverse: dict[str, str] = {}
    for uri, oid in _STANDARD.items():
        reverse.setdefault(oid, uri)  # international URI preferred over the NOS mirror (LOINC, HL7 v3)
    for oid, name in _NOS.values():
        reverse.setdefault(oid, nos_uri(name))
    return reverse


_OID_TO_URI = _build_reverse()


def is_oid(value: str) -> bool:
    return bool(_OID_RE.match(value))


def uri_to_oid(system: str) -> str | None:
    """The OID for a FHIR system (OID, ``urn:oid:``, canonical URI, NOS URI, or the pseudo-OIDs URN/ASTM);
    None when unknown."""
    s = system.strip()
    if not s:
        return None
    if s in _PSEUDO_OIDS or is_oid(s):
        return s
    if s.lower().startswith("urn:oid:"):
        rest = s[8:]
        return rest if is_oid(rest) else None
    if s in _STANDARD:
        return _STANDARD[s]
    if s.rstrip("/") in _STANDARD:
        return _STANDARD[s.rstrip("/")]
    if "esante.gouv.fr" in s.lower():
        match = _TRE_RE.search(s)
        if match:
            entry = _NOS.get(match.group(1).upper())
            if entry:
                return entry[0]
    return None


def oid_to_uri(oid: str) -> str:
    """The FHIR system URI for an OID: the canonical URI when we know one, else ``urn:oid:<OID>``."""
    if oid in _OID_TO_URI:
        return _OID_TO_URI[oid]
    if oid.lower().startswith("urn:oid:") or "://" in oid:
        return oid
    return f"urn:oid:{oid}"


__all__ = ["is_oid", "nos_uri", "oid_to_uri", "uri_to_oid"]
