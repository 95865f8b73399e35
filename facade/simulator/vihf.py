"""VIHF checks of the simulator (spec §1): signature (through ``facade.soap.vihf_verify.verify_vihf``), signing
certificate, attributes. Every failure is a SOAP 1.2 Fault env:Sender, as the DMP answers (spec §8).

Subcodes: ``soap:DMPInvalidCertificate`` for the signing certificate (untrusted, expired, or not a signature
certificate: "Le certificat ayant signé le VIHF est invalide : Not a valid signature certificate", spec §8);
``soap:DMPInvalidVIHF`` for the rest (the simulator's name; the DMP's is not documented in the sources found).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree

from facade.simulator.config import SimulatorConfig, StructureRule
from facade.simulator.soap12 import DMP_INVALID_CERTIFICATE, DMP_INVALID_VIHF, SoapFault

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
HL7_NS = "urn:hl7-org:v3"

ATTR_VERSION = "VIHF_Version"
ATTR_STRUCTURE = "Identifiant_Structure"
ATTR_SECTOR = "Secteur_Activite"
ATTR_SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
ATTR_ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
ATTR_RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
ATTR_RESOURCE_URN = "Ressource_URN"
ATTR_PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
REQUIRED_LPS = ("LPS_Nom", "LPS_Version", "LPS_ID_HOMOLOGATION_DMP")

SECTOR_SYSTEM = "1.2.250.1.71.4.2.4"  # TRE_R02 SecteurActivite
PROFESSION_SYSTEM = "1.2.250.1.71.1.2.7"  # TRE_G15 ProfessionSante
SPECIALITY_SYSTEM = "1.2.250.1.71.4.2.5"  # TRE_R01 savoir-faire
NON_PS_SYSTEM = "1.2.250.1.213.1.1.4.6"  # TRE_A00 (AUTOMATE ...)
PURPOSE_SYSTEM = "1.2.250.1.213.1.1.4.248"
PROFESSIONS_NEEDING_SPECIALITY = {"10": "Médecins", "21": "Pharmaciens"}

NOT_A_SIGNATURE_CERTIFICATE = "Le certificat ayant signé le VIHF est invalide : Not a valid signature certificate"

# (assertion bytes, CA file, now) -> the signed saml2:Assertion element as verified (raises on any failure)
SignatureVerifier = Callable[[bytes, Path, datetime], etree._Element]


class VihfSignatureError(Exception):
    """Raised by a SignatureVerifier; ``certificate`` tells a certificate problem from a signature one."""

    def __init__(self, message: str, *, certificate: bool = False) -> None:
        super().__init__(message)
        self.certificate = certificate


@dataclass(frozen=True)
class Vihf:
    assertion_id: str
    issuer: str
    name_id: str
    issue_instant: datetime | None
    attributes: dict[str, list[str]]  # text values per attribute Name
    roles: list[tuple[str, str]]  # (code, codeSystem) of each Role value, in order
    purpose: tuple[str, str] | None
    signer: x509.Certificate

    def value(self, name: str) -> str | None:
        values = self.attributes.get(name)
        return values[0] if values else None


def find_assertion(security: etree._Element | None) -> etree._Element:
    if security is None:
        raise SoapFault("Sender", "wsse:Security absent : VIHF requis", DMP_INVALID_VIHF)
    assertions = security.findall(f"{{{SAML_NS}}}Assertion")
    if len(assertions) != 1:
        raise SoapFault(
            "Sender",
            f"wsse:Security doit contenir un saml2:Assertion (VIHF), {len(assertions)} trouvé(s)",
            DMP_INVALID_VIHF,
        )
    return assertions[0]


def signer_certificate(assertion: etree._Element) -> x509.Certificate:
    """The certificate of ds:Signature/KeyInfo, read before trusting anything (to report its usage first)."""
    signatures = assertion.findall(f"{{{DS_NS}}}Signature")
    if len(signatures) != 1:
        raise SoapFault("Sender", "Le VIHF doit être signé (une ds:Signature enveloppée)", DMP_INVALID_VIHF)
    certs = signatures[0].findall(f"{{{DS_NS}}}KeyInfo/{{{DS_NS}}}X509Data/{{{DS_NS}}}X509Certificate")
    if not certs:
        raise SoapFault(
            "Sender",
            "Le VIHF ne porte pas son certificat de signature (KeyInfo/X509Certificate)",
            DMP_INVALID_CERTIFICATE,
        )
    try:
        return x509.load_der_x509_certificate(base64.b64decode("".join((certs[0].text or "").split())))
    except (binascii.Error, ValueError) as exc:
        raise SoapFault(
            "Sender", f"Le certificat ayant signé le VIHF est illisible : {exc}", DMP_INVALID_CERTIFICATE
        ) from exc


def is_signature_certificate(cert: x509.Certificate) -> bool:
    """IGC-Santé signature certificates have nonRepudiation; authentication ones (digitalSignature +
    keyEncipherment, EKU clientAuth) must not sign a VIHF (spec §1.5)."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    if not usage.content_commitment:
        return False
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.CLIENT_AUTH not in eku and ExtendedKeyUsageOID.SERVER_AUTH not in eku


def organizational_unit(cert: x509.Certificate) -> str | None:
    values = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return str(values[0].value) if values else None


def read_vihf(assertion: etree._Element, signer: x509.Certificate) -> Vihf:
    def text(path: str) -> str:
        el = assertion.find(path)
        return (el.text or "").strip() if el is not None else ""

    attributes: dict[str, list[str]] = {}
    roles: list[tuple[str, str]] = []
    purpose: tuple[str, str] | None = None
    for attr in assertion.findall(f"{{{SAML_NS}}}AttributeStatement/{{{SAML_NS}}}Attribute"):
        name = attr.get("Name") or ""
        for value in attr.findall(f"{{{SAML_NS}}}AttributeValue"):
            coded = next((c for c in value if isinstance(c.tag, str) and c.tag.startswith(f"{{{HL7_NS}}}")), None)
            if coded is not None:
                pair = (coded.get("code") or "", coded.get("codeSystem") or "")
                if name == ATTR_ROLE:
                    roles.append(pair)
                elif name == ATTR_PURPOSE and purpose is None:
                    purpose = pair
                attributes.setdefault(name, []).append(pair[0])
            else:
                attributes.setdefault(name, []).append((value.text or "").strip())
    return Vihf(
        assertion_id=assertion.get("ID") or "",
        issuer=text(f"{{{SAML_NS}}}Issuer"),
        name_id=text(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID"),
        issue_instant=_instant(assertion.get("IssueInstant")),
        attributes=attributes,
        roles=roles,
        purpose=purpose,
        signer=signer,
    )


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _fault(reason: str) -> SoapFault:
    return SoapFault("Sender", reason, DMP_INVALID_VIHF)


def verify_and_read(
    security: etree._Element | None,
    *,
    ca_cert: Path,
    now: datetime,
    verifier: SignatureVerifier,
) -> Vihf:
    """Signature first (nothing unsigned is read), then the attributes of the element that was verified."""
    assertion = find_assertion(security)
    signer = signer_certificate(assertion)
    if not is_signature_certificate(signer):
        raise SoapFault("Sender", NOT_A_SIGNATURE_CERTIFICATE, DMP_INVALID_CERTIFICATE)
    try:
        signed = verifier(etree.tostring(assertion), ca_cert, now)
    except VihfSignatureError as exc:
        if exc.certificate:
            raise SoapFault(
                "Sender", f"Le certificat ayant signé le VIHF est invalide : {exc}", DMP_INVALID_CERTIFICATE
            ) from exc
        raise _fault(f"Signature du VIHF invalide : {exc}") from exc
    return read_vihf(signed, signer)


def check_attributes(
    vihf: Vihf, *, config: SimulatorConfig, client_cert: x509.Certificate | None, now: datetime
) -> None:
    """The attribute rules of spec §1.3/§1.4 (the patient coherence is checked with the metadata)."""
    _check_assertion(vihf, config, now)
    _check_values(vihf, config)
    _check_roles(vihf)
    _check_structure(vihf, config, client_cert)


def _check_assertion(vihf: Vihf, config: SimulatorConfig, now: datetime) -> None:
    if vihf.issue_instant is None:
        raise _fault("IssueInstant absent ou illisible")
    if vihf.issue_instant > now + config.clock_skew:
        raise _fault(f"IssueInstant {vihf.issue_instant.isoformat()} est dans le futur")
    if config.vihf_max_age is not None and now - vihf.issue_instant > config.vihf_max_age:
        raise _fault(f"VIHF expiré : émis le {vihf.issue_instant.isoformat()}")
    if not vihf.issuer:
        raise _fault("saml2:Issuer absent")
    if not vihf.name_id:
        raise _fault("saml2:Subject/NameID absent")


def _check_values(vihf: Vihf, config: SimulatorConfig) -> None:
    version = vihf.value(ATTR_VERSION)
    if version not in config.vihf_versions:
        raise _fault(f"VIHF_Version {version!r} non supportée ({', '.join(sorted(config.vihf_versions))})")
    mode_name = next((n for n in config.mode_attribute_names if n in vihf.attributes), None)
    if mode_name is None:
        raise _fault(f"Attribut {config.mode_attribute_names[0]} absent")
    mode = vihf.value(mode_name)
    if mode not in config.accepted_modes:
        raise _fault(f"Mode d'authentification {mode!r} non accepté ({', '.join(sorted(config.accepted_modes))})")
    if vihf.value(ATTR_RESOURCE_URN) != "urn:dmp":
        raise _fault("Ressource_URN doit valoir urn:dmp")
    if not vihf.value(ATTR_RESOURCE_ID):
        raise _fault("resource-id (INS du patient) absent")
    if not vihf.value(ATTR_SUBJECT_ID):
        raise _fault("subject-id absent")
    for name in REQUIRED_LPS:
        if not vihf.value(name):
            raise _fault(f"Attribut {name} absent")

    sector = vihf.value(ATTR_SECTOR) or ""
    code, _, system = sector.partition("^")
    if not (code.startswith("SA") and code[2:].isdigit() and system == SECTOR_SYSTEM):
        raise _fault(f"Secteur_Activite {sector!r} invalide (SAxx^{SECTOR_SYSTEM})")

    if vihf.purpose is None or vihf.purpose != ("normal", PURPOSE_SYSTEM):
        raise _fault(f"purposeofuse doit être normal / {PURPOSE_SYSTEM}")


def _check_roles(vihf: Vihf) -> None:
    if not vihf.roles:
        raise _fault("Aucun rôle dans le vihf (urn:oasis:names:tc:xacml:2.0:subject:role)")
    first_code, first_system = vihf.roles[0]
    if first_system == PROFESSION_SYSTEM:
        needs = PROFESSIONS_NEEDING_SPECIALITY.get(first_code)
        if needs and not any(s == SPECIALITY_SYSTEM and c for c, s in vihf.roles[1:]):
            raise _fault(f"Aucune spécialité dans le vihf. Spécialité obligatoire pour les {needs}")
    elif first_system == NON_PS_SYSTEM:
        if not first_code:
            raise _fault("Rôle non-PS sans code")
    elif not first_system:
        raise _fault("Rôle sans codeSystem")


def _check_structure(vihf: Vihf, config: SimulatorConfig, client_cert: x509.Certificate | None) -> None:
    structure = vihf.value(ATTR_STRUCTURE)
    if not structure or not structure.isalnum():
        raise _fault(f"Identifiant_Structure {structure!r} invalide")
    rule = config.structure_rule
    if rule in (StructureRule.BOTH, StructureRule.SIGNER):
        ou = organizational_unit(vihf.signer)
        if not config.structure_allowed(ou, structure):
            raise _fault(f"Identifiant_Structure {structure} ne correspond pas au certificat de signature (OU={ou})")
    if rule in (StructureRule.BOTH, StructureRule.TLS) and client_cert is not None:
        ou = organizational_unit(client_cert)
        if not config.structure_allowed(ou, structure):
            raise _fault(f"PS et Structure non liés : Identifiant_Structure {structure} ≠ certificat TLS (OU={ou})")


__all__ = [
    "NOT_A_SIGNATURE_CERTIFICATE",
    "SignatureVerifier",
    "Vihf",
    "VihfSignatureError",
    "check_attributes",
    "is_signature_certificate",
    "read_vihf",
    "verify_and_read",
]
