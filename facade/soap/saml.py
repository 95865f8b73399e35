"""The VIHF: a SAML 2.0 assertion (VIHF 3.0) signed with the ORG SIGN credential (spec digest §1).

Separate what, who and how: `VihfClaims` (``facade.soap.vihf_claims``) is what the token says; `check_claims`
checks it before anything is signed (so the caller can answer an OperationOutcome); `VihfSigner` (here) holds the
key and signs (enveloped, exclusive c14n, RSA-SHA256, X509Certificate in KeyInfo, the Signature right after Issuer
via the placeholder trick of stack-notes §3): an RSA key through ``facade.soap.enveloped`` (signxml's output without
its re-parses), another key type through signxml. `verify_vihf` (``facade.soap.vihf_verify``) is the
receiving side (the DMP simulator, tests): signxml pinned to our algorithms, then data read ONLY from the element
the signature covers.

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
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.exceptions import SignXMLException
from signxml.signer import XMLSigner

from facade.credentials import Credential
from facade.errors import Problem, SecurityError
from facade.model import oids
from facade.soap.enveloped import SHA1, SHA256, EnvelopedSigner
from facade.soap.vihf_claims import (
    A_LPS_HOMOLOGATION,
    A_LPS_ID,
    A_LPS_NAME,
    A_LPS_VERSION,
    A_MODE_NAMES,
    A_PURPOSE,
    A_RESOURCE_ID,
    A_RESOURCE_URN,
    A_ROLE,
    A_SECTOR,
    A_STRUCTURE,
    A_SUBJECT_ID,
    A_VERSION,
    PURPOSES,
    Role,
    VihfClaims,
    check_claims,
)

__all__ = ["AUTHN_UNSPECIFIED", "VihfSigner", "issuer_dn"]

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XS_NS = "http://www.w3.org/2001/XMLSchema"
HL7_NS = "urn:hl7-org:v3"
X509_SUBJECT_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
AUTHN_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"

_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")

# --- signing -----------------------------------------------------------------------------------------------------

ALGORITHMS = {
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
        if digest not in ALGORITHMS:
            raise SecurityError(Problem.CONFIGURATION, reason=f"VIHF digest must be one of {sorted(ALGORITHMS)}")
        self.credential = credential
        self.attribute_mode_name = attribute_mode_name
        self.authn_context_class = authn_context_class
        self.vihf_version = vihf_version
        self.purpose_code_system_name = purpose_code_system_name
        self.issuer = issuer_dn(credential.certificate)
        self._certs = [credential.certificate, *(credential.chain if include_chain else ())]
        signature_method, digest_method = ALGORITHMS[digest]
        key = credential.key
        # RSA (every ORG SIGN certificate): the same signature as signxml's, on the tree as built (no re-parse)
        self._enveloped = (
            EnvelopedSigner(key, self._certs, SHA1 if digest == "sha1" else SHA256)
            if isinstance(key, rsa.RSAPrivateKey)
            else None
        )
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
        root = etree.Element(qname(SAML_NS, "Assertion"), nsmap={"saml2": SAML_NS, "xsi": XSI_NS})
        root.set("ID", assertion_id)
        root.set("IssueInstant", instant)
        root.set("Version", "2.0")
        issuer = etree.SubElement(root, qname(SAML_NS, "Issuer"), Format=X509_SUBJECT_FORMAT)
        issuer.text = self.issuer
        etree.SubElement(root, qname(DS_NS, "Signature"), Id="placeholder", nsmap={"ds": DS_NS})
        subject = etree.SubElement(root, qname(SAML_NS, "Subject"))
        etree.SubElement(subject, qname(SAML_NS, "NameID")).text = claims.name_id
        authn = etree.SubElement(
            root, qname(SAML_NS, "AuthnStatement"), AuthnInstant=_saml_instant(claims.authn_instant or now)
        )
        context = etree.SubElement(authn, qname(SAML_NS, "AuthnContext"))
        etree.SubElement(context, qname(SAML_NS, "AuthnContextClassRef")).text = self.authn_context_class

        statement = etree.SubElement(root, qname(SAML_NS, "AttributeStatement"))
        # order of the GIE samples (spec digest §1.4)
        _string_attribute(statement, A_STRUCTURE, claims.structure_id)
        _string_attribute(statement, A_SECTOR, claims.sector)
        _string_attribute(statement, A_SUBJECT_ID, claims.subject_id)
        _ce_attribute(statement, A_ROLE, "Role", claims.roles)
        _string_attribute(statement, A_VERSION, self.vihf_version)
        _string_attribute(statement, self.attribute_mode_name, claims.auth_mode)
        _string_attribute(statement, A_RESOURCE_ID, claims.patient_ins_cx)
        _string_attribute(statement, A_RESOURCE_URN, "urn:dmp")
        purpose = Role(
            claims.purpose, oids.VIHF_MODE_ACCES, PURPOSES.get(claims.purpose), self.purpose_code_system_name
        )
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
        if self._enveloped is not None:
            placeholder = root[1]  # build() puts it right after Issuer
            try:
                self._enveloped.sign(root, placeholder, "#" + assertion_id)
            except (ValueError, TypeError) as exc:
                raise SecurityError(Problem.SIGNING_FAILED, artefact="VIHF", reason=str(exc)) from exc
            return root
        try:
            signed: etree._Element = self._signer.sign(
                root, key=self.credential.key, cert=self._certs, reference_uri="#" + assertion_id
            )
        except (SignXMLException, ValueError, TypeError) as exc:
            raise SecurityError(Problem.SIGNING_FAILED, artefact="VIHF", reason=str(exc)) from exc
        return signed


def qname(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def _saml_instant(when: datetime) -> str:
    if when.tzinfo is None:
        raise SecurityError(Problem.SIGNING_FAILED, artefact="VIHF", reason="naive datetime (timezone required)")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _attribute(statement: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(statement, qname(SAML_NS, "Attribute"), Name=name)


def _string_attribute(statement: etree._Element, name: str, value: str) -> None:
    attr = _attribute(statement, name)
    av = etree.SubElement(attr, qname(SAML_NS, "AttributeValue"), nsmap={"xs": XS_NS})
    av.set(qname(XSI_NS, "type"), "xs:string")
    av.text = value


def _ce_attribute(statement: etree._Element, name: str, element: str, values: Sequence[Role]) -> None:
    attr = _attribute(statement, name)
    for role in values:
        av = etree.SubElement(attr, qname(SAML_NS, "AttributeValue"))
        ce = etree.SubElement(av, qname(HL7_NS, element), nsmap={None: HL7_NS})
        ce.set("code", role.code)
        ce.set("codeSystem", role.code_system)
        if role.code_system_name:
            ce.set("codeSystemName", role.code_system_name)
        if role.display:
            ce.set("displayName", role.display)
        ce.set(qname(XSI_NS, "type"), "CE")
