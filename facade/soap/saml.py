"""The VIHF: a SAML 2.0 assertion (VIHF 3.0) signed with the ORG SIGN credential (spec digest §1).

Separate what, who and how: `VihfClaims` is what the token says; `check_claims` checks it before anything is
signed (so the caller can answer an OperationOutcome); `VihfSigner` holds the key and signs through signxml
(enveloped, exclusive c14n, RSA-SHA256, X509Certificate in KeyInfo, the Signature right after Issuer via the
placeholder trick of stack-notes §3). `verify_vihf` is the receiving side (the DMP simulator, tests): signxml pinned to
our algorithms, then data read ONLY from the element the signature covers.

Choices on uncertain points (spec digest §1):
* the mode attribute is named `Authentification_Mode` by default (GIE kit éditeur, ANS 2024 mapping, DRIM); the
  2019 GIE samples write `Authentification_mode`: configurable (`attribute_mode_name`); `verify_vihf` reads both;
* `VIHF_Version` 3.0 (every DMP sample; the ANS table's "4.0" contradicts its own example);
* `AuthnContextClassRef` defaults to `...:ac:classes:unspecified` (ANS "Stratégie 1 (Automate)");
* no `Conditions` (optional, absent from every sample) and no InclusiveNamespaces PrefixList (signxml writes it
  wrongly in enveloped mode, stack-notes §3.1; exc-c14n without it is valid for signxml and libxmlsec1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509 import verification as xv
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.exceptions import InvalidCertificate, InvalidInput, SignXMLException
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from facade import xmldoc
from facade.credentials import Credential, signing_usage_problem
from facade.errors import Issue, Problem, SecurityError
from facade.model.identifiers import IdentifierError, check_struct_idnat, ins_cx_problem

__all__ = [
    "AUTOMATE",
    "AUTHN_UNSPECIFIED",
    "Role",
    "VerifiedVihf",
    "VihfClaims",
    "VihfSigner",
    "check_claims",
    "issuer_dn",
    "verify_vihf",
]

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XS_NS = "http://www.w3.org/2001/XMLSchema"
HL7_NS = "urn:hl7-org:v3"
X509_SUBJECT_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
AUTHN_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"

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

G15_PROFESSION = "1.2.250.1.71.1.2.7"  # TRE_G15 ProfessionSante
R01_SPECIALITY = "1.2.250.1.71.4.2.5"  # TRE_R01 EnsembleSavoirFaire
A00_NON_PS = "1.2.250.1.213.1.1.4.6"  # TRE_A00 ProducteurDocNonPS (AUTOMATE)
PURPOSE_SYSTEM = "1.2.250.1.213.1.1.4.248"
SECTOR_SYSTEM = "1.2.250.1.71.4.2.4"
AUTH_MODES = frozenset({"DIRECTE", "INDIRECTE", "INDIRECTE_RENFORCEE"})
PURPOSES = {"normal": "Accès normal"}  # the only purpose of use confirmed by the sources (spec digest §1.4)
PROFESSIONS_NEEDING_SPECIALITY = {"10": "Médecin", "21": "Pharmacien"}

_SECTOR = re.compile(r"SA[0-9]{2}\^" + re.escape(SECTOR_SYSTEM))
_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


@dataclass(frozen=True)
class Role:
    """One value of the role attribute (HL7 CE): profession (G15), speciality (R01), or AUTOMATE (A00)."""

    code: str
    code_system: str
    display: str | None = None
    code_system_name: str | None = None

    @classmethod
    def automate(cls) -> Role:
        return cls("AUTOMATE", A00_NON_PS, "Automate", "TRE_A00-ProducteurDocNonPS")


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
    if first.code_system == R01_SPECIALITY:
        issues.append(
            Issue(
                Problem.VIHF_ROLE,
                details={"value": label, "reason": "the first value must be the profession, not the speciality"},
            )
        )
    if first.code == "AUTOMATE" and first.code_system != A00_NON_PS:
        issues.append(Issue(Problem.VIHF_ROLE, details={"value": label, "reason": f"AUTOMATE is in {A00_NON_PS}"}))
    if first.code_system == A00_NON_PS and len(roles) > 1:
        issues.append(Issue(Problem.VIHF_ROLE, details={"value": label, "reason": "a non-PS role takes one value"}))
    if first.code_system == G15_PROFESSION and first.code in PROFESSIONS_NEEDING_SPECIALITY:
        speciality = roles[1] if len(roles) > 1 else None
        if speciality is None or speciality.code_system != R01_SPECIALITY:
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


# --- signing -----------------------------------------------------------------------------------------------------

_ALGORITHMS = {
    "sha256": (SignatureMethod.RSA_SHA256, DigestAlgorithm.SHA256),
    "sha1": (SignatureMethod.RSA_SHA1, DigestAlgorithm.SHA1),
}

# .NET names the kit rewrites "to comply with the CI-SIS volet transport synchrone §4.3.1.5.1.1" (spec digest §1.3)
_DN_NAMES = {
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SURNAME: "SN",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
    NameOID.EMAIL_ADDRESS: "E",
    NameOID.TITLE: "T",
}


def issuer_dn(cert: x509.Certificate) -> str:
    """The VIHF Issuer: RFC 2253 subject DN of the signing certificate (most specific RDN first), ST=/GN= names."""
    return cert.subject.rfc4514_string(_DN_NAMES)


class _Sha1CapableSigner(XMLSigner):
    """signxml refuses SHA-1 by default; the caller opts in explicitly (digest="sha1", DMP 2019 samples)."""

    def check_deprecated_methods(self) -> None:
        return None


class VihfSigner:
    """Builds and signs VIHF assertions with the ORG SIGN credential (checked by the caller at start-up)."""

    def __init__(
        self,
        credential: Credential,
        *,
        attribute_mode_name: str = "Authentification_Mode",
        authn_context_class: str = AUTHN_UNSPECIFIED,
        digest: str = "sha256",
        vihf_version: str = "3.0",
        purpose_code_system_name: str = "mode acces VIHF 2.0",
        include_chain: bool = False,
    ) -> None:
        if attribute_mode_name not in A_MODE_NAMES:
            raise SecurityError(Problem.CONFIGURATION, reason=f"VIHF mode attribute must be one of {A_MODE_NAMES}")
        if digest not in _ALGORITHMS:
            raise SecurityError(Problem.CONFIGURATION, reason=f"VIHF digest must be one of {sorted(_ALGORITHMS)}")
        self.credential = credential
        self.attribute_mode_name = attribute_mode_name
        self.authn_context_class = authn_context_class
        self.vihf_version = vihf_version
        self.purpose_code_system_name = purpose_code_system_name
        self.issuer = issuer_dn(credential.certificate)
        self._certs = [credential.certificate, *(credential.chain if include_chain else ())]
        signature_method, digest_method = _ALGORITHMS[digest]
        signer_class = _Sha1CapableSigner if digest == "sha1" else XMLSigner
        self._signer = signer_class(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=signature_method,
            digest_algorithm=digest_method,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,  # signxml's default is 1.1
        )

    def build(self, claims: VihfClaims, *, now: datetime, assertion_id: str) -> etree._Element:
        """The unsigned assertion, with the `ds:Signature` placeholder right after Issuer."""
        if not _NCNAME.fullmatch(assertion_id):
            raise SecurityError(Problem.SIGNING_FAILED, artefact="VIHF", reason=f"ID {assertion_id!r} is not an NCName")
        instant = _saml_instant(now)
        root = etree.Element(_q(SAML_NS, "Assertion"), nsmap={"saml2": SAML_NS, "xsi": XSI_NS})
        root.set("ID", assertion_id)
        root.set("IssueInstant", instant)
        root.set("Version", "2.0")
        issuer = etree.SubElement(root, _q(SAML_NS, "Issuer"), Format=X509_SUBJECT_FORMAT)
        issuer.text = self.issuer
        etree.SubElement(root, _q(DS_NS, "Signature"), Id="placeholder", nsmap={"ds": DS_NS})
        subject = etree.SubElement(root, _q(SAML_NS, "Subject"))
        etree.SubElement(subject, _q(SAML_NS, "NameID")).text = claims.name_id
        authn = etree.SubElement(
            root, _q(SAML_NS, "AuthnStatement"), AuthnInstant=_saml_instant(claims.authn_instant or now)
        )
        context = etree.SubElement(authn, _q(SAML_NS, "AuthnContext"))
        etree.SubElement(context, _q(SAML_NS, "AuthnContextClassRef")).text = self.authn_context_class

        statement = etree.SubElement(root, _q(SAML_NS, "AttributeStatement"))
        # order of the GIE samples (spec digest §1.4)
        _string_attribute(statement, A_STRUCTURE, claims.structure_id)
        _string_attribute(statement, A_SECTOR, claims.sector)
        _string_attribute(statement, A_SUBJECT_ID, claims.subject_id)
        _ce_attribute(statement, A_ROLE, "Role", claims.roles)
        _string_attribute(statement, A_VERSION, self.vihf_version)
        _string_attribute(statement, self.attribute_mode_name, claims.auth_mode)
        _string_attribute(statement, A_RESOURCE_ID, claims.patient_ins_cx)
        _string_attribute(statement, A_RESOURCE_URN, "urn:dmp")
        purpose = Role(claims.purpose, PURPOSE_SYSTEM, PURPOSES.get(claims.purpose), self.purpose_code_system_name)
        _ce_attribute(statement, A_PURPOSE, "PurposeOfUse", (purpose,))
        if claims.lps_id is not None:
            _string_attribute(statement, A_LPS_ID, claims.lps_id)
        _string_attribute(statement, A_LPS_NAME, claims.lps_name)
        _string_attribute(statement, A_LPS_VERSION, claims.lps_version)
        _string_attribute(statement, A_LPS_HOMOLOGATION, claims.lps_homologation)
        return root

    def sign(self, claims: VihfClaims, *, now: datetime, assertion_id: str) -> etree._Element:
        """A freshly signed saml2:Assertion. Raises SecurityError when the claims break a VIHF rule.

        Do not reformat the result (pretty-printing breaks the signature); embedding it elsewhere is fine.
        """
        errors = [i for i in check_claims(claims) if i.is_error]
        if errors:
            raise SecurityError(errors[0].problem, issues=errors)
        root = self.build(claims, now=now, assertion_id=assertion_id)
        try:
            signed: etree._Element = self._signer.sign(
                root, key=self.credential.key, cert=self._certs, reference_uri="#" + assertion_id
            )
        except (SignXMLException, ValueError, TypeError) as exc:
            raise SecurityError(Problem.SIGNING_FAILED, artefact="VIHF", reason=str(exc)) from exc
        return signed


def _q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def _saml_instant(when: datetime) -> str:
    if when.tzinfo is None:
        raise SecurityError(Problem.SIGNING_FAILED, artefact="VIHF", reason="naive datetime (timezone required)")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _attribute(statement: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(statement, _q(SAML_NS, "Attribute"), Name=name)


def _string_attribute(statement: etree._Element, name: str, value: str) -> None:
    attr = _attribute(statement, name)
    av = etree.SubElement(attr, _q(SAML_NS, "AttributeValue"), nsmap={"xs": XS_NS})
    av.set(_q(XSI_NS, "type"), "xs:string")
    av.text = value


def _ce_attribute(statement: etree._Element, name: str, element: str, values: Sequence[Role]) -> None:
    attr = _attribute(statement, name)
    for role in values:
        av = etree.SubElement(attr, _q(SAML_NS, "AttributeValue"))
        ce = etree.SubElement(av, _q(HL7_NS, element), nsmap={None: HL7_NS})
        ce.set("code", role.code)
        ce.set("codeSystem", role.code_system)
        if role.code_system_name:
            ce.set("codeSystemName", role.code_system_name)
        if role.display:
            ce.set("displayName", role.display)
        ce.set(_q(XSI_NS, "type"), "CE")


# --- verification ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedVihf:
    """What a verified VIHF says, read only from the signed element."""

    assertion_id: str
    issue_instant: datetime
    issuer: str
    name_id: str
    authn_context_class: str | None
    attributes: Mapping[str, tuple[str, ...]]  # simple values; CE values as their code
    roles: tuple[Role, ...]
    purpose_of_use: Role | None
    certificate: x509.Certificate
    signed_xml: etree._Element = field(repr=False, compare=False)

    def value(self, name: str) -> str | None:
        values = self.attributes.get(name)
        return values[0] if values else None

    @property
    def structure_id(self) -> str | None:
        return self.value(A_STRUCTURE)

    @property
    def auth_mode(self) -> str | None:
        return next((v for n in A_MODE_NAMES if (v := self.value(n)) is not None), None)

    @property
    def patient_id(self) -> str | None:
        return self.value(A_RESOURCE_ID)

    def to_claims(self) -> VihfClaims:
        """For `check_claims` on a received token (the simulator applies the DMP rules)."""
        return VihfClaims(
            structure_id=self.value(A_STRUCTURE) or "",
            sector=self.value(A_SECTOR) or "",
            subject_id=self.value(A_SUBJECT_ID) or "",
            name_id=self.name_id,
            roles=self.roles,
            patient_ins_cx=self.value(A_RESOURCE_ID) or "",
            lps_name=self.value(A_LPS_NAME) or "",
            lps_version=self.value(A_LPS_VERSION) or "",
            lps_homologation=self.value(A_LPS_HOMOLOGATION) or "",
            lps_id=self.value(A_LPS_ID),
            auth_mode=self.auth_mode or "",
            purpose=self.purpose_of_use.code if self.purpose_of_use else "",
        )


def verify_vihf(
    xml: bytes | etree._Element,
    *,
    ca_pem_file: Path | str,
    now: datetime,
    digests: frozenset[str] = frozenset({"sha256"}),
    max_age: timedelta | None = None,
) -> VerifiedVihf:
    """Verify a VIHF (the assertion alone, or a SOAP envelope holding exactly one) and return what it signs.

    Checks: signature (algorithms limited to `digests`, exclusive c14n, one enveloped reference to the assertion),
    certificate chain to `ca_pem_file` at `now`, the signer is a *signature* certificate (an AUTH certificate is
    refused like the DMP does: "Not a valid signature certificate"), Issuer = the signer's DN, and optionally the
    age of IssueInstant. Raises SecurityError (SIGNATURE_INVALID, SIGNER_NOT_SIGNING_CERTIFICATE, SIGNER_UNTRUSTED).
    """
    assertion = _find_assertion(xml)
    assertion_id = assertion.get("ID") or ""
    signature = assertion.find(_q(DS_NS, "Signature"))
    if signature is None:
        raise _invalid("the assertion is not signed (no ds:Signature child)")
    cert = _keyinfo_certificate(signature)
    subject = issuer_dn(cert)
    reason = signing_usage_problem(cert)
    if reason:
        raise SecurityError(Problem.SIGNER_NOT_SIGNING_CERTIFICATE, artefact="VIHF", subject=subject, reason=reason)
    bad = sorted(d for d in digests if d not in _ALGORITHMS)
    if bad:
        raise SecurityError(Problem.CONFIGURATION, reason=f"unknown VIHF digests {bad}")
    config = SignatureConfiguration(
        require_x509=True,
        location="./",  # the signature must be a direct child of the signed assertion
        signature_methods=frozenset(_ALGORITHMS[d][0] for d in digests),
        digest_algorithms=frozenset(_ALGORITHMS[d][1] for d in digests),
        expect_references=1,
        verification_time=now,
    )
    try:
        result = XMLVerifier().verify(
            etree.tostring(assertion),
            ca_pem_file=str(ca_pem_file),
            expect_config=config,
            ee_policy=_signature_ee_policy(),
            id_attribute="ID",
            parser=xmldoc.parser(),  # signxml re-parses these bytes: same hardened settings
        )
    except InvalidCertificate as exc:
        raise SecurityError(Problem.SIGNER_UNTRUSTED, artefact="VIHF", subject=subject, reason=str(exc)) from exc
    except (SignXMLException, InvalidInput, ValueError) as exc:
        raise _invalid(f"{type(exc).__name__}: {exc}") from exc
    signed = result.signed_xml  # type: ignore[union-attr]
    if signed is None or signed.tag != _q(SAML_NS, "Assertion") or signed.get("ID") != assertion_id:
        raise _invalid("the signature does not cover the assertion itself")
    if len(signed.xpath("//*[@ID=$id]", id=assertion_id)) != 1:
        raise _invalid("duplicate ID in the assertion")
    return _read_verified(signed, cert, subject, now, max_age)


def _signature_ee_policy() -> xv.ExtensionPolicy:
    # signxml's default end-entity policy wants digitalSignature; IGC-Santé signature certificates may carry
    # nonRepudiation alone. The usage rule itself is `signing_usage_problem` (checked before).
    def key_usage(_policy: Any, _cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
        if ku is None or not (ku.digital_signature or ku.content_commitment):
            raise ValueError("KeyUsage allows neither digitalSignature nor nonRepudiation")

    return xv.ExtensionPolicy.permit_all().require_present(x509.KeyUsage, xv.Criticality.AGNOSTIC, key_usage)


def _invalid(reason: str) -> SecurityError:
    return SecurityError(Problem.SIGNATURE_INVALID, artefact="VIHF", reason=reason)


def _parse_vihf(xml: bytes) -> etree._Element:
    """xmldoc errors as SecurityError: DOCTYPE/entity is XML_FORBIDDEN_CONSTRUCT, not well-formed SIGNATURE_INVALID."""
    try:
        return xmldoc.parse(xml)
    except xmldoc.UnsafeXmlError as exc:
        raise SecurityError(Problem.XML_FORBIDDEN_CONSTRUCT, reason=str(exc)) from exc
    except xmldoc.MalformedXmlError as exc:
        raise _invalid(f"not well-formed XML: {exc}") from exc


def _find_assertion(xml: bytes | etree._Element) -> etree._Element:
    root = _parse_vihf(xml) if isinstance(xml, bytes) else xml
    if root.tag == _q(SAML_NS, "Assertion"):
        return root
    found = root.findall(".//" + _q(SAML_NS, "Assertion"))
    if len(found) != 1:
        raise _invalid(f"expected exactly one saml2:Assertion, found {len(found)}")
    return found[0]


def _keyinfo_certificate(signature: etree._Element) -> x509.Certificate:
    texts = signature.findall(f"{_q(DS_NS, 'KeyInfo')}/{_q(DS_NS, 'X509Data')}/{_q(DS_NS, 'X509Certificate')}")
    if not texts or not (texts[0].text or "").strip():
        raise _invalid("no KeyInfo/X509Data/X509Certificate")
    try:
        return x509.load_der_x509_certificate(_b64(texts[0].text or ""))
    except ValueError as exc:
        raise _invalid(f"unreadable X509Certificate: {exc}") from exc


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode("".join(text.split()), validate=True)


def _read_verified(
    signed: etree._Element, cert: x509.Certificate, subject: str, now: datetime, max_age: timedelta | None
) -> VerifiedVihf:
    ns = {"saml2": SAML_NS, "hl7": HL7_NS}
    issuer = (signed.findtext("saml2:Issuer", namespaces=ns) or "").strip()
    if issuer != subject:
        raise _invalid(f"Issuer {issuer!r} is not the signing certificate's DN {subject!r}")
    if signed.get("Version") != "2.0":
        raise _invalid(f"SAML Version {signed.get('Version')!r}")
    try:
        issued = datetime.fromisoformat((signed.get("IssueInstant") or "").replace("Z", "+00:00"))
    except ValueError as exc:
        raise _invalid(f"IssueInstant {signed.get('IssueInstant')!r}") from exc
    if issued.tzinfo is None:
        raise _invalid("IssueInstant without timezone")
    if max_age is not None and not (now - max_age <= issued <= now + timedelta(minutes=5)):
        raise _invalid(f"IssueInstant {issued.isoformat()} is outside the accepted window ({max_age})")
    attributes: dict[str, tuple[str, ...]] = {}
    roles: tuple[Role, ...] = ()
    purpose: Role | None = None
    for attr in signed.iterfind("saml2:AttributeStatement/saml2:Attribute", namespaces=ns):
        name = attr.get("Name") or ""
        values: list[str] = []
        ces: list[Role] = []
        for av in attr.iterfind("saml2:AttributeValue", namespaces=ns):
            ce = next(iter(av), None)
            if ce is not None and isinstance(ce.tag, str):
                role = Role(
                    ce.get("code") or "", ce.get("codeSystem") or "", ce.get("displayName"), ce.get("codeSystemName")
                )
                ces.append(role)
                values.append(role.code)
            else:
                values.append(av.text or "")
        if name in attributes:
            raise _invalid(f"attribute {name} appears twice")
        attributes[name] = tuple(values)
        if name == A_ROLE:
            roles = tuple(ces)
        elif name == A_PURPOSE and ces:
            purpose = ces[0]
    return VerifiedVihf(
        assertion_id=signed.get("ID") or "",
        issue_instant=issued,
        issuer=issuer,
        name_id=(signed.findtext("saml2:Subject/saml2:NameID", namespaces=ns) or "").strip(),
        authn_context_class=signed.findtext(
            "saml2:AuthnStatement/saml2:AuthnContext/saml2:AuthnContextClassRef", namespaces=ns
        ),
        attributes=attributes,
        roles=roles,
        purpose_of_use=purpose,
        certificate=cert,
        signed_xml=signed,
    )
