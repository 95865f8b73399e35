from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from lxml import etree

from facade.credentials import Credential, load_pem
from facade.errors import Problem, SecurityError
from facade.model import oids
from facade.pki import TestPki, make_expired_certificate, make_foreign_ca_client
from facade.soap.saml import VihfSigner, issuer_dn
from facade.soap.vihf_claims import Role, check_claims
from facade.soap.vihf_verify import verify_vihf

from .conftest import STRUCTURE_ID, TEST_INS_CX, automate_claims

NOW = datetime.now(UTC).replace(microsecond=123456)
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"saml2": SAML, "ds": DS, "hl7": "urn:hl7-org:v3"}
MEDECIN = Role("10", oids.TRE_G15_PROFESSION_SANTE, "Médecin", "G15")
SM26 = Role("SM26", oids.TRE_R01_ENSEMBLE_SAVOIR_FAIRE, "Qualifié en Médecine Générale (SM)", "R01")
PHARMACIEN = Role("21", oids.TRE_G15_PROFESSION_SANTE, "Pharmacien", "G15")


def _sign(credential: Credential, **claims: object) -> bytes:
    return etree.tostring(VihfSigner(credential).sign(automate_claims(**claims), now=NOW, assertion_id="_vihf-1"))


def _codes(claims_changes: dict[str, object]) -> list[Problem]:
    return [i.problem for i in check_claims(automate_claims(**claims_changes))]


# --- rules before signing ---


def test_valid_claims_have_no_issue() -> None:
    assert check_claims(automate_claims()) == []
    assert check_claims(automate_claims(roles=(MEDECIN, SM26))) == []
    assert check_claims(automate_claims(structure_id="3" + "1" * 14, lps_id=None)) == []
    assert check_claims(automate_claims(structure_id="499900063480001")) == []  # cabinet: 4 + RPPS + rang (GIE)
    assert check_claims(automate_claims(patient_ins_cx="207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH")) == []
    corsica = "1" + "85" + "03" + "2A" + "004" + "005"  # 2A counts as 19 in the key
    key = 97 - int(corsica.replace("2A", "19")) % 97
    assert check_claims(automate_claims(patient_ins_cx=f"{corsica}{key:02d}^^^&1.2.250.1.213.1.4.8&ISO^NH")) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"structure_id": "9123"}, [Problem.VIHF_STRUCTURE_ID]),
        ({"structure_id": "1012345"}, [Problem.VIHF_STRUCTURE_ID]),  # FINESS is 9 characters
        ({"structure_id": "3123"}, [Problem.VIHF_STRUCTURE_ID]),
        ({"structure_id": ""}, [Problem.VIHF_STRUCTURE_ID]),
        ({"sector": "SA01"}, [Problem.VIHF_SECTOR]),
        ({"sector": "ETABLISSEMENT^1.2.250.1.71.4.2.4"}, [Problem.VIHF_SECTOR]),
        ({"patient_ins_cx": "279035121518989"}, [Problem.VIHF_PATIENT_ID]),
        ({"patient_ins_cx": "279035121518988^^^&1.2.250.1.213.1.4.10&ISO^NH"}, [Problem.VIHF_PATIENT_ID]),  # key
        ({"patient_ins_cx": "279035121518989^^^&1.2.250.1.213.1.4.2&ISO^NH"}, [Problem.VIHF_PATIENT_ID]),  # INS-C
        ({"patient_ins_cx": "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^PI"}, [Problem.VIHF_PATIENT_ID]),
        ({"roles": (MEDECIN,)}, [Problem.VIHF_SPECIALITY_MISSING]),
        ({"roles": (PHARMACIEN,)}, [Problem.VIHF_SPECIALITY_MISSING]),
        ({"roles": (MEDECIN, Role("10", oids.TRE_G15_PROFESSION_SANTE))}, [Problem.VIHF_SPECIALITY_MISSING]),
        ({"roles": (MEDECIN, Role("G15_10/SM26", oids.TRE_R01_ENSEMBLE_SAVOIR_FAIRE))}, [Problem.VIHF_ROLE]),
        ({"roles": (Role("AUTOMATE", oids.TRE_G15_PROFESSION_SANTE),)}, [Problem.VIHF_ROLE]),
        ({"roles": (SM26,)}, [Problem.VIHF_ROLE]),
        ({"roles": ()}, [Problem.VIHF_ROLE]),
        ({"lps_homologation": ""}, [Problem.VIHF_SETTING]),
        ({"lps_name": " ", "lps_version": ""}, [Problem.VIHF_SETTING, Problem.VIHF_SETTING]),
        ({"lps_id": ""}, [Problem.VIHF_SETTING]),
        ({"subject_id": ""}, [Problem.VIHF_SETTING]),
        ({"auth_mode": "indirecte"}, [Problem.VIHF_SETTING]),
        ({"purpose": "bris_de_glace"}, [Problem.VIHF_SETTING]),
    ],
)
def test_claim_rules(changes: dict[str, object], expected: list[Problem]) -> None:
    assert _codes(changes) == expected


def test_request_side_problems_are_422_and_configuration_ones_500() -> None:
    issues = check_claims(automate_claims(roles=(MEDECIN,), structure_id="X"))
    statuses = {i.problem: i.problem.spec.http_status for i in issues}
    assert statuses == {Problem.VIHF_SPECIALITY_MISSING: 422, Problem.VIHF_STRUCTURE_ID: 500}
    missing = next(i for i in issues if i.problem is Problem.VIHF_SPECIALITY_MISSING)
    assert "Médecin" in missing.message and "1.2.250.1.71.4.2.5" in missing.message


def test_sign_refuses_bad_claims(sign_credential: Credential) -> None:
    with pytest.raises(SecurityError) as err:
        VihfSigner(sign_credential).sign(automate_claims(roles=(MEDECIN,)), now=NOW, assertion_id="_x")
    assert [i.problem for i in err.value.issues] == [Problem.VIHF_SPECIALITY_MISSING]
    with pytest.raises(SecurityError):
        VihfSigner(sign_credential).sign(automate_claims(), now=NOW, assertion_id="1-not-an-ncname")


# --- the assertion ---


def test_assertion_shape(sign_credential: Credential) -> None:
    root = etree.fromstring(_sign(sign_credential))
    assert root.tag == f"{{{SAML}}}Assertion"
    assert root.get("ID") == "_vihf-1" and root.get("Version") == "2.0"
    assert root.get("IssueInstant") == NOW.strftime("%Y-%m-%dT%H:%M:%S.123Z")
    assert [etree.QName(c).localname for c in root] == [
        "Issuer", "Signature", "Subject", "AuthnStatement", "AttributeStatement"
    ]  # fmt: skip
    issuer = root.find("saml2:Issuer", NS)
    assert issuer is not None
    assert issuer.get("Format") == "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
    assert issuer.text == f"CN=DMP FACADE SIGN {STRUCTURE_ID},OU={STRUCTURE_ID},O=CH DE DEMONSTRATION,C=FR"
    assert root.findtext("saml2:Subject/saml2:NameID", namespaces=NS) == "10B0127189/FACADE"
    assert (
        root.findtext("saml2:AuthnStatement/saml2:AuthnContext/saml2:AuthnContextClassRef", namespaces=NS)
        == "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
    )
    names = [a.get("Name") for a in root.iterfind("saml2:AttributeStatement/saml2:Attribute", NS)]
    assert names == [
        "Identifiant_Structure",
        "Secteur_Activite",
        "urn:oasis:names:tc:xspa:1.0:subject:subject-id",
        "urn:oasis:names:tc:xacml:2.0:subject:role",
        "VIHF_Version",
        "Authentification_Mode",
        "urn:oasis:names:tc:xacml:2.0:resource:resource-id",
        "Ressource_URN",
        "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
        "LPS_ID",
        "LPS_Nom",
        "LPS_Version",
        "LPS_ID_HOMOLOGATION_DMP",
    ]
    role = root.find(".//hl7:Role", NS)
    assert (
        role is not None
        and role.get("code") == "AUTOMATE"
        and role.get("codeSystem") == oids.TRE_A00_PRODUCTEUR_DOC_NON_PS
    )
    assert role.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "CE"
    resource = root.find("saml2:AttributeStatement/saml2:Attribute[7]/saml2:AttributeValue", NS)
    assert resource is not None and resource.text == TEST_INS_CX
    assert b"279035121518989^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH" in etree.tostring(root)


def test_signature_algorithms_and_keyinfo(sign_credential: Credential) -> None:
    sig = etree.fromstring(_sign(sign_credential)).find("ds:Signature", NS)
    assert sig is not None
    alg = {etree.QName(e).localname: e.get("Algorithm") for e in sig.iter() if e.get("Algorithm")}
    assert alg["CanonicalizationMethod"] == "http://www.w3.org/2001/10/xml-exc-c14n#"
    assert alg["SignatureMethod"] == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    assert alg["DigestMethod"] == "http://www.w3.org/2001/04/xmlenc#sha256"
    transforms = [t.get("Algorithm") for t in sig.iterfind(".//ds:Transform", NS)]
    assert transforms == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    ]
    assert sig.find("ds:SignedInfo/ds:Reference", NS).get("URI") == "#_vihf-1"  # type: ignore[union-attr]
    certs = sig.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    assert len(certs) == 1
    der = x509.load_der_x509_certificate(__import__("base64").b64decode("".join((certs[0].text or "").split())))
    assert der == sign_credential.certificate


def test_mode_attribute_name_is_configurable(sign_credential: Credential, pki: TestPki) -> None:
    signer = VihfSigner(sign_credential, attribute_mode_name="Authentification_mode")
    xml = etree.tostring(signer.sign(automate_claims(), now=NOW, assertion_id="_m"))
    assert b'Name="Authentification_mode"' in xml
    assert verify_vihf(xml, ca_pem_file=pki.ca_cert, now=NOW).auth_mode == "INDIRECTE"
    with pytest.raises(SecurityError):
        VihfSigner(sign_credential, attribute_mode_name="AuthMode")


def test_issuer_dn_uses_st_and_gn() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Rhône (69)"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CENTRE DE SANTE RPPS12718"),
            x509.NameAttribute(NameOID.GIVEN_NAME, "MAX"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Certificat Wizard DMP 2019-R2"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert issuer_dn(cert) == "CN=Certificat Wizard DMP 2019-R2,GN=MAX,O=CENTRE DE SANTE RPPS12718,ST=Rhône (69),C=FR"


def test_assertion_is_valid_against_the_kit_saml_xsd(
    sign_credential: Credential, kit_path: Path, tmp_path: Path
) -> None:
    # SAML XSD + the HL7 datatypes (xsi:type="CE" on Role / PurposeOfUse), as the kit's README says
    saml_xsd = (kit_path / "schemas/saml/saml-schema-assertion-2.0.xsd").as_uri()
    hl7_xsd = (kit_path / "schemas/cda/CDA_extended.xsd").as_uri()
    wrapper = tmp_path / "vihf-wrapper.xsd"
    wrapper.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:facade:test">'
        f'<xs:import namespace="{SAML}" schemaLocation="{saml_xsd}"/>'
        f'<xs:import namespace="urn:hl7-org:v3" schemaLocation="{hl7_xsd}"/>'
        "</xs:schema>"
    )
    schema = etree.XMLSchema(etree.parse(str(wrapper)))
    doc = etree.fromstring(_sign(sign_credential, roles=(MEDECIN, SM26)))
    assert schema.validate(doc), schema.error_log
    # the check is real: a misplaced Signature (signxml's default, last child) is refused
    moved = copy.deepcopy(doc)
    moved.append(moved.find("ds:Signature", NS))  # type: ignore[arg-type]
    assert not schema.validate(moved)


# --- verification ---


def test_verify_returns_the_signed_data(sign_credential: Credential, pki: TestPki) -> None:
    v = verify_vihf(_sign(sign_credential, roles=(MEDECIN, SM26)), ca_pem_file=pki.ca_cert, now=NOW)
    assert v.assertion_id == "_vihf-1"
    assert v.issuer == issuer_dn(sign_credential.certificate)
    assert v.structure_id == STRUCTURE_ID and v.patient_id == TEST_INS_CX and v.auth_mode == "INDIRECTE"
    assert v.roles == (MEDECIN, SM26)
    assert v.purpose_of_use is not None and v.purpose_of_use.code == "normal"
    assert v.attributes["Ressource_URN"] == ("urn:dmp",) and v.value("VIHF_Version") == "3.0"
    assert v.certificate == sign_credential.certificate
    assert check_claims(v.to_claims()) == []
    assert v.issue_instant == NOW.replace(microsecond=123000)


def test_verify_inside_a_soap_envelope(sign_credential: Credential, pki: TestPki) -> None:
    assertion = etree.fromstring(_sign(sign_credential))
    env = etree.Element(
        "{http://www.w3.org/2003/05/soap-envelope}Envelope", nsmap={"s": "http://www.w3.org/2003/05/soap-envelope"}
    )
    header = etree.SubElement(env, "{http://www.w3.org/2003/05/soap-envelope}Header")
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    security = etree.SubElement(header, f"{{{wsse}}}Security", nsmap={"wsse": wsse})
    security.append(assertion)
    etree.SubElement(env, "{http://www.w3.org/2003/05/soap-envelope}Body")
    xml = etree.tostring(env, encoding="UTF-8")
    assert verify_vihf(xml, ca_pem_file=pki.ca_cert, now=NOW).structure_id == STRUCTURE_ID
    # a second (unsigned) assertion next to it is refused rather than guessed
    security.append(etree.fromstring(etree.tostring(assertion)))
    security[-1].set("ID", "_other")
    with pytest.raises(SecurityError) as err:
        verify_vihf(etree.tostring(env), ca_pem_file=pki.ca_cert, now=NOW)
    assert err.value.problem is Problem.SIGNATURE_INVALID


def test_tampered_attribute_is_detected(sign_credential: Credential, pki: TestPki) -> None:
    xml = _sign(sign_credential)
    tampered = xml.replace(b"279035121518989^^^", b"180035121518925^^^")
    assert tampered != xml
    with pytest.raises(SecurityError) as err:
        verify_vihf(tampered, ca_pem_file=pki.ca_cert, now=NOW)
    assert err.value.problem is Problem.SIGNATURE_INVALID
    assert not _xmlsec_verifies(tampered, pki)


def test_signed_with_the_auth_certificate_is_not_a_signing_certificate(
    auth_credential: Credential, pki: TestPki
) -> None:
    xml = _sign(auth_credential)  # a misconfigured facade: the signature itself is cryptographically fine
    assert _xmlsec_verifies(xml, pki)
    with pytest.raises(SecurityError) as err:
        verify_vihf(xml, ca_pem_file=pki.ca_cert, now=NOW)
    assert err.value.problem is Problem.SIGNER_NOT_SIGNING_CERTIFICATE
    assert "not a valid signature certificate" in str(err.value)


def test_untrusted_or_expired_signer(pki: TestPki, tmp_path: Path) -> None:
    foreign = load_pem(*make_foreign_ca_client(tmp_path))
    # the foreign client has clientAuth: use the sign usage rule first -> refused as not-signing
    with pytest.raises(SecurityError) as err:
        verify_vihf(_sign(foreign), ca_pem_file=pki.ca_cert, now=NOW)
    assert err.value.problem is Problem.SIGNER_NOT_SIGNING_CERTIFICATE
    expired = load_pem(*make_expired_certificate(pki, tmp_path, profile="sign", now=NOW))
    with pytest.raises(SecurityError) as err:
        verify_vihf(_sign(expired), ca_pem_file=pki.ca_cert, now=NOW)
    assert err.value.problem is Problem.SIGNER_UNTRUSTED


def test_sign_certificate_from_another_ca_is_untrusted(sign_credential: Credential, tmp_path: Path) -> None:
    from facade.pki import init_test_pki

    other = init_test_pki(tmp_path / "other", structure_id=STRUCTURE_ID)
    with pytest.raises(SecurityError) as err:
        verify_vihf(_sign(sign_credential), ca_pem_file=other.ca_cert, now=NOW)
    assert err.value.problem is Problem.SIGNER_UNTRUSTED


def test_sha1_only_when_allowed(sign_credential: Credential, pki: TestPki) -> None:
    xml = etree.tostring(VihfSigner(sign_credential, digest="sha1").sign(automate_claims(), now=NOW, assertion_id="_s"))
    assert b"xmldsig#rsa-sha1" in xml
    with pytest.raises(SecurityError) as err:
        verify_vihf(xml, ca_pem_file=pki.ca_cert, now=NOW)
    assert err.value.problem is Problem.SIGNATURE_INVALID
    assert verify_vihf(xml, ca_pem_file=pki.ca_cert, now=NOW, digests=frozenset({"sha1"})).assertion_id == "_s"
    assert _xmlsec_verifies(xml, pki)


def test_issue_instant_window(sign_credential: Credential, pki: TestPki) -> None:
    xml = _sign(sign_credential)
    verify_vihf(xml, ca_pem_file=pki.ca_cert, now=NOW + timedelta(minutes=4), max_age=timedelta(minutes=5))
    with pytest.raises(SecurityError):
        verify_vihf(xml, ca_pem_file=pki.ca_cert, now=NOW + timedelta(minutes=6), max_age=timedelta(minutes=5))


def test_reformatting_breaks_the_signature(sign_credential: Credential, pki: TestPki) -> None:
    pretty = etree.tostring(etree.fromstring(_sign(sign_credential)), pretty_print=True)
    with pytest.raises(SecurityError):
        verify_vihf(pretty, ca_pem_file=pki.ca_cert, now=NOW)


def test_doctype_is_refused(sign_credential: Credential, pki: TestPki) -> None:
    xml = b'<!DOCTYPE x [<!ENTITY e "boom">]>' + _sign(sign_credential)
    with pytest.raises(SecurityError) as err:
        verify_vihf(xml, ca_pem_file=pki.ca_cert, now=NOW)
    assert err.value.problem is Problem.XML_FORBIDDEN_CONSTRUCT


def test_unsigned_assertion_is_refused(sign_credential: Credential, pki: TestPki) -> None:
    unsigned = VihfSigner(sign_credential).build(automate_claims(), now=NOW, assertion_id="_u")
    unsigned.remove(unsigned.find("ds:Signature", NS))  # type: ignore[arg-type]
    with pytest.raises(SecurityError) as err:
        verify_vihf(etree.tostring(unsigned), ca_pem_file=pki.ca_cert, now=NOW)
    assert err.value.problem is Problem.SIGNATURE_INVALID


# --- independent verifier: libxmlsec1 through python-xmlsec ---


def _xmlsec_verifies(xml: bytes, pki: TestPki) -> bool:
    """libxmlsec1 checks the signature and the KeyInfo certificate's chain to the test CA."""
    root = etree.fromstring(xml)
    xmlsec.tree.add_ids(root, ["ID"])
    sig = xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature)
    manager = xmlsec.KeysManager()
    manager.load_cert(str(pki.ca_cert), xmlsec.constants.KeyDataFormatCertPem, xmlsec.constants.KeyDataTypeTrusted)
    ctx = xmlsec.SignatureContext(manager)
    try:
        ctx.verify(sig)
    except xmlsec.Error:
        return False
    return True


def test_libxmlsec1_verifies_the_vihf(sign_credential: Credential, pki: TestPki, tmp_path: Path) -> None:
    assert _xmlsec_verifies(_sign(sign_credential, roles=(MEDECIN, SM26)), pki)
    # and it is a real check: a VIHF signed under another CA is refused by libxmlsec1 too
    from facade.pki import init_test_pki

    other = init_test_pki(tmp_path / "other", structure_id=STRUCTURE_ID)
    assert not _xmlsec_verifies(_sign(sign_credential), other)
