"""The receiving side of the VIHF (the DMP simulator, tests): `verify_vihf` checks the signature with signxml
pinned to our algorithms, then reads data ONLY from the element the signature covers (`VerifiedVihf`)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509 import verification as xv
from lxml import etree
from signxml.exceptions import InvalidCertificate, InvalidInput, SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from facade import xmldoc
from facade.credentials import signing_usage_problem
from facade.errors import Problem, SecurityError
from facade.soap import vihf_claims as vc
from facade.soap.saml import ALGORITHMS, DS_NS, HL7_NS, SAML_NS, issuer_dn, qname
from facade.soap.vihf_claims import Role, VihfClaims


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
        return self.value(vc.A_STRUCTURE)

    @property
    def auth_mode(self) -> str | None:
        return next((v for n in vc.A_MODE_NAMES if (v := self.value(n)) is not None), None)

    @property
    def patient_id(self) -> str | None:
        return self.value(vc.A_RESOURCE_ID)

    def to_claims(self) -> VihfClaims:
        """For `check_claims` on a received token (the simulator applies the DMP rules)."""
        return VihfClaims(
            structure_id=self.value(vc.A_STRUCTURE) or "",
            sector=self.value(vc.A_SECTOR) or "",
            subject_id=self.value(vc.A_SUBJECT_ID) or "",
            name_id=self.name_id,
            roles=self.roles,
            patient_ins_cx=self.value(vc.A_RESOURCE_ID) or "",
            lps_name=self.value(vc.A_LPS_NAME) or "",
            lps_version=self.value(vc.A_LPS_VERSION) or "",
            lps_homologation=self.value(vc.A_LPS_HOMOLOGATION) or "",
            lps_id=self.value(vc.A_LPS_ID),
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
    signature = assertion.find(qname(DS_NS, "Signature"))
    if signature is None:
        raise _invalid("the assertion is not signed (no ds:Signature child)")
    cert = _keyinfo_certificate(signature)
    subject = issuer_dn(cert)
    reason = signing_usage_problem(cert)
    if reason:
        raise SecurityError(Problem.SIGNER_NOT_SIGNING_CERTIFICATE, artefact="VIHF", subject=subject, reason=reason)
    bad = sorted(d for d in digests if d not in ALGORITHMS)
    if bad:
        raise SecurityError(Problem.CONFIGURATION, reason=f"unknown VIHF digests {bad}")
    config = SignatureConfiguration(
        require_x509=True,
        location="./",  # the signature must be a direct child of the signed assertion
        signature_methods=frozenset(ALGORITHMS[d][0] for d in digests),
        digest_algorithms=frozenset(ALGORITHMS[d][1] for d in digests),
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
    if signed is None or signed.tag != qname(SAML_NS, "Assertion") or signed.get("ID") != assertion_id:
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
    if root.tag == qname(SAML_NS, "Assertion"):
        return root
    found = root.findall(".//" + qname(SAML_NS, "Assertion"))
    if len(found) != 1:
        raise _invalid(f"expected exactly one saml2:Assertion, found {len(found)}")
    return found[0]


def _keyinfo_certificate(signature: etree._Element) -> x509.Certificate:
    texts = signature.findall(f"{qname(DS_NS, 'KeyInfo')}/{qname(DS_NS, 'X509Data')}/{qname(DS_NS, 'X509Certificate')}")
    if not texts or not (texts[0].text or "").strip():
        raise _invalid("no KeyInfo/X509Data/X509Certificate")
    try:
        return x509.load_der_x509_certificate(_b64(texts[0].text or ""))
    except ValueError as exc:
        raise _invalid(f"unreadable X509Certificate: {exc}") from exc


def _b64(text: str) -> bytes:
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
        if name == vc.A_ROLE:
            roles = tuple(ces)
        elif name == vc.A_PURPOSE and ces:
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
