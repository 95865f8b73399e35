"""The floor pipeline of stack-notes §8, rebuilt with the same libraries and no facade code.

bundle bytes -> signed ITI-41 MTOM body, in the order of §8:

1. ``orjson`` (``json`` when orjson is not installed) + fhir.resources R4B ``Bundle`` parse;
2. Jinja render (autoescape) of a CDA of the size of the facade's (the template is made once from a golden CR-BIO
   CDA: every attribute value and text node becomes an escaped ``{{ }}`` expression, so the render does the work
   of a real template: one escaped substitution per value);
3. safe lxml parse (no entities, no DTD, no network) + the ANS ``CDA_extended.xsd``;
4. SHA-1 and size of the CDA;
5. an ebRIM ``SubmitObjectsRequest`` fragment via Jinja (DocumentEntry, SubmissionSet, association, slots,
   classifications and external identifiers of an ITI-41 submission);
6. a signxml-signed SAML 2.0 assertion (RSA-2048, rsa-sha256, enveloped, exclusive C14N);
7. the SOAP 1.2 envelope with WS-Addressing and ``wsse:Security``;
8. the MTOM package (multipart/related, XOP include of the CDA part).

Everything that the §8 list keeps off the hot path (key loading, schema and template compilation) is done in
``Floor.__init__``. ``Floor.run(body)`` returns the HTTP body; nothing is cached between runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from pathlib import Path
from typing import Any

import jinja2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fhir.resources.R4B.bundle import Bundle
from lxml import etree
from signxml import SignatureConstructionMethod, XMLSigner

try:
    import orjson

    def _loads(data: bytes) -> Any:
        return orjson.loads(data)

except ImportError:  # not a facade dependency; json.loads costs ~0.05 ms more on a 20-entry bundle (§8)
    import json

    def _loads(data: bytes) -> Any:
        return json.loads(data)


ROOT = Path(__file__).resolve().parents[1]
GOLDEN_CDA = ROOT / "tests" / "golden" / "cr-bio" / "panels.xml"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
SOAP_NS = "http://www.w3.org/2003/05/soap-envelope"
WSA_NS = "http://www.w3.org/2005/08/addressing"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XDSB_NS = "urn:ihe:iti:xds-b:2007"
XOP_NS = "http://www.w3.org/2004/08/xop/include"

_ATTR = re.compile(r'="([^"]*)"')
_TEXT = re.compile(r">([^<]*[^<\s][^<]*)<")

EBRIM = """\
<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" \
xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"><rim:RegistryObjectList>
<rim:ExtrinsicObject id="Document01" mimeType="text/xml" objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
{% for name, value in slots %}<rim:Slot name="{{ name }}"><rim:ValueList><rim:Value>{{ value }}</rim:Value>\
</rim:ValueList></rim:Slot>
{% endfor %}<rim:Name><rim:LocalizedString value="{{ title }}"/></rim:Name>
{% for scheme, code, system, display in classes %}<rim:Classification classificationScheme="{{ scheme }}" \
classifiedObject="Document01" nodeRepresentation="{{ code }}" id="cl{{ loop.index }}">\
<rim:Slot name="codingScheme"><rim:ValueList><rim:Value>{{ system }}</rim:Value></rim:ValueList></rim:Slot>\
<rim:Name><rim:LocalizedString value="{{ display }}"/></rim:Name></rim:Classification>
{% endfor %}<rim:ExternalIdentifier identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427" \
value="{{ patient }}" id="ei1" registryObject="Document01"/>
<rim:ExternalIdentifier identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab" \
value="{{ unique_id }}" id="ei2" registryObject="Document01"/></rim:ExtrinsicObject>
<rim:RegistryPackage id="SubmissionSet01"><rim:Slot name="submissionTime"><rim:ValueList><rim:Value>{{ time }}\
</rim:Value></rim:ValueList></rim:Slot>
<rim:ExternalIdentifier identificationScheme="urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8" value="{{ set_id }}" \
id="ei3" registryObject="SubmissionSet01"/></rim:RegistryPackage>
<rim:Association associationType="urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember" \
sourceObject="SubmissionSet01" targetObject="Document01" id="as1"/>
</rim:RegistryObjectList></lcm:SubmitObjectsRequest>"""


def cda_template(golden: bytes) -> tuple[str, list[str], list[str]]:
    """A Jinja template with the golden's shape: (template, attribute values, text values)."""
    text = golden.decode("utf-8")
    attrs: list[str] = []
    texts: list[str] = []

    def attr(m: re.Match[str]) -> str:
        attrs.append(_unescape(m.group(1)))
        return f'="{{{{ a[{len(attrs) - 1}] }}}}"'

    def node(m: re.Match[str]) -> str:
        texts.append(_unescape(m.group(1)))
        return f">{{{{ t[{len(texts) - 1}] }}}}<"

    head, sep, body = text.partition("<ClinicalDocument ")
    start, _, rest = body.partition(">")  # namespace declarations stay literal
    templated = _TEXT.sub(node, _ATTR.sub(attr, rest))
    return head + sep + start + ">" + templated, attrs, texts


def _unescape(value: str) -> str:
    return value.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")


class _KitResolver(etree.Resolver):  # type: ignore[misc]
    def __init__(self, local: Path) -> None:
        super().__init__()
        self._local = local

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        if system_url.endswith("/xml.xsd"):
            return self.resolve_filename(str(self._local), context)
        return None


def _self_signed() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "floor signer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


class Floor:
    """Compiled once (schema, templates, key); ``run`` is the measured pipeline."""

    def __init__(self, kit: Path) -> None:
        env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
        source, self._attrs, self._texts = cda_template(GOLDEN_CDA.read_bytes())
        self._cda = env.from_string(source)
        self._ebrim = env.from_string(EBRIM)
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        parser.resolvers.add(_KitResolver(kit / "schemas/cda/schema/xml.xsd"))
        self._schema = etree.XMLSchema(etree.parse(str(kit / "schemas/cda/CDA_extended.xsd"), parser))
        self._key, self._cert = _self_signed()
        self.cda_bytes = len(self._cda.render(a=self._attrs, t=self._texts).encode())

    def run(self, body: bytes) -> bytes:
        bundle = Bundle.model_validate(_loads(body))  # 1
        patient = next(e.resource for e in bundle.entry or () if e.resource.get_resource_type() == "Patient")
        ins = patient.identifier[0].value if patient.identifier else "unknown"
        cda = self._cda.render(a=self._attrs, t=self._texts).encode("utf-8")  # 2
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        tree = etree.fromstring(cda, parser)  # 3
        if not self._schema.validate(tree):
            raise ValueError(f"floor CDA not XSD-valid: {self._schema.error_log.last_error}")
        sha1, size = hashlib.sha1(cda).hexdigest(), len(cda)  # 4
        now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
        ebrim = self._ebrim.render(  # 5
            slots=[
                ("creationTime", now),
                ("hash", sha1),
                ("size", size),
                ("languageCode", "fr-FR"),
                ("sourcePatientId", ins),
                ("serviceStartTime", now),
                ("repositoryUniqueId", "1.2.250.1.213.1.1.9"),
            ],
            classes=[
                (f"urn:uuid:{uuid.UUID(int=i)}", f"code{i}", "1.2.250.1.213.1.1.4", f"display {i}") for i in range(9)
            ],
            title="Compte rendu de biologie",
            patient=f"{ins}^^^&1.2.250.1.213.1.4.8&ISO",
            unique_id="1.2.3.4",
            set_id="1.2.3.5",
            time=now,
        )
        assertion = self._saml(ins)  # 6
        envelope = self._envelope(etree.fromstring(ebrim.encode("utf-8"), parser), assertion)  # 7
        return self._mtom(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"), cda)  # 8

    def _saml(self, ins: str) -> etree._Element:
        a = etree.Element(
            f"{{{SAML_NS}}}Assertion",
            nsmap={"saml2": SAML_NS},
            ID=f"_{uuid.uuid4()}",
            IssueInstant=dt.datetime.now(dt.UTC).isoformat(),
            Version="2.0",
        )
        etree.SubElement(a, f"{{{SAML_NS}}}Issuer").text = "urn:floor"
        subject = etree.SubElement(a, f"{{{SAML_NS}}}Subject")
        etree.SubElement(subject, f"{{{SAML_NS}}}NameID").text = "floor automate"
        statement = etree.SubElement(a, f"{{{SAML_NS}}}AttributeStatement")
        for name, value in (
            ("Identifiant_Structure", "11120459876"),
            ("Secteur_Activite", "SA01"),
            ("urn:oasis:names:tc:xspa:1.0:subject:subject-id", "automate"),
            ("urn:oasis:names:tc:xacml:2.0:resource:resource-id", ins),
            ("urn:oasis:names:tc:xspa:1.0:subject:purposeofuse", "normal"),
            ("VIHF_Version", "3.0"),
        ):
            attr = etree.SubElement(statement, f"{{{SAML_NS}}}Attribute", Name=name)
            etree.SubElement(attr, f"{{{SAML_NS}}}AttributeValue").text = value
        signer = XMLSigner(
            method=SignatureConstructionMethod.enveloped, c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"
        )
        signed: etree._Element = signer.sign(a, key=self._key, cert=self._cert)
        return signed

    @staticmethod
    def _envelope(ebrim: etree._Element, assertion: etree._Element) -> etree._Element:
        env = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS, "wsa": WSA_NS})
        header = etree.SubElement(env, f"{{{SOAP_NS}}}Header")
        etree.SubElement(header, f"{{{WSA_NS}}}Action").text = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
        etree.SubElement(header, f"{{{WSA_NS}}}MessageID").text = f"urn:uuid:{uuid.uuid4()}"
        etree.SubElement(header, f"{{{WSA_NS}}}To").text = "https://dmp.example/repository"
        etree.SubElement(header, f"{{{WSSE_NS}}}Security", nsmap={"wsse": WSSE_NS}).append(assertion)
        request = etree.SubElement(
            etree.SubElement(env, f"{{{SOAP_NS}}}Body"),
            f"{{{XDSB_NS}}}ProvideAndRegisterDocumentSetRequest",
            nsmap={"xdsb": XDSB_NS},
        )
        request.append(ebrim)
        document = etree.SubElement(request, f"{{{XDSB_NS}}}Document", id="Document01")
        etree.SubElement(document, f"{{{XOP_NS}}}Include", nsmap={"xop": XOP_NS}, href="cid:doc1@floor")
        return env

    @staticmethod
    def _mtom(root: bytes, cda: bytes) -> bytes:
        boundary = f"MIMEBoundary_{uuid.uuid4().hex}".encode()
        return b"".join(
            (
                b"--",
                boundary,
                b'\r\nContent-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
                b"Content-Transfer-Encoding: binary\r\nContent-ID: <root@floor>\r\n\r\n",
                root,
                b"\r\n--",
                boundary,
                b"\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n"
                b"Content-ID: <doc1@floor>\r\n\r\n",
                cda,
                b"\r\n--",
                boundary,
                b"--\r\n",
            )
        )


__all__ = ["Floor", "cda_template"]
